"""`karma-build`: a thin click layer. Each command lives in ``karma_plugin.commands``."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from karma_plugin import __version__
from karma_plugin.commands import (
    binarize,
    compare,
    kinship,
    pool,
    pull,
    push,
    report,
    responses_task,
    scores,
    tasks_path,
)
from karma_plugin.commands._options import drop_warnings, flush_warnings
from karma_plugin.errors import Interrupted, KarmaError

# In the order of the flow: Stage 0 (responses-task -> lm_eval -> pool), Stage 1 (lm_eval ->
# scores), kinship -> binarize -> report -> push/pull, then trained models -> compare.
COMMANDS = (
    responses_task,
    pool,
    scores,
    kinship,
    binarize,
    report,
    push,
    pull,
    compare,
    tasks_path,
)


def _verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta["karma.verbose"] = True


def _verbose_option() -> click.Option:
    """``-v/--verbose``, accepted before the command name and after it."""
    return click.Option(
        ["-v", "--verbose"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_verbose,
        help="Show details (tracebacks) on errors.",
    )


class _Group(click.Group):
    """Turns our errors into one line on stderr and docs/design.md's exit codes."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(_verbose_option())
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except (KarmaError, Interrupted) as exc:
            # An error run says one thing: the warnings gathered on the way are dropped.
            drop_warnings(ctx)
            if ctx.find_root().meta.get("karma.verbose"):
                traceback.print_exc(file=sys.stderr)
            click.echo(f"karma-build: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # The system refused mid-run (a full disk, a folder gone): its words, one line.
            drop_warnings(ctx)
            if ctx.find_root().meta.get("karma.verbose"):
                traceback.print_exc(file=sys.stderr)
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"karma-build: error: {exc.strerror or exc}{where}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            # Ctrl-C: staging folders went on the way out (staging.staged); one line.
            drop_warnings(ctx)
            click.echo("karma-build: error: stopped by SIGINT", err=True)
            ctx.exit(130)
        flush_warnings(ctx)
        return result

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's own usage errors in the same one line as ours (click prints a usage block
        and a hint over several lines), with the help command to run named in it."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "karma-build"
            message = " ".join(exc.format_message().split()).rstrip(".")
            click.echo(f"karma-build: error: {message} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"karma-build: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("karma-build: error: stopped", err=True)
            sys.exit(1)
        # Without standalone mode click returns ctx.exit()'s code, or the command's value (None).
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    cls=_Group,
    params=[_verbose_option()],
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="karma-build")
def main() -> None:
    """Build KARMA preference data from origin-model benchmark scores (no annotators)."""


for _module in COMMANDS:
    main.add_command(_module.command)
