"""`karma-build`: a thin click layer. Each command lives in ``karma_plugin.commands``."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

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
from karma_plugin.errors import Interrupted, KarmaError, redact

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


_OUT_OF_MEMORY = (
    "out of memory (MemoryError): the run needed more memory than this machine (or its "
    "limit, ulimit -v) allows; try a smaller score table or pool, fewer --strategy configs, "
    "or a machine with more memory"
)


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _echo_error(message: str) -> None:
    """The one error line: credentials redacted, nothing but UTF-8 on the way out."""
    line = redact(" ".join(message.splitlines()))
    click.echo(f"karma-build: error: {line.encode('utf-8', 'backslashreplace').decode()}", err=True)


def _fail(ctx: click.Context, message: str, code: int) -> NoReturn:
    """Drop the gathered warnings (an error run says one thing), show the traceback with
    --verbose, print the one line, exit with ``code``."""
    drop_warnings(ctx)
    if ctx.find_root().meta.get("karma.verbose"):
        sys.stderr.write(redact(traceback.format_exc()))
    _echo_error(message)
    ctx.exit(code)


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
            _fail(ctx, str(exc), exc.exit_code)
        except OSError as exc:
            # The system refused mid-run (a full disk, a folder gone): its words, one line.
            where = f": {exc.filename}" if exc.filename else ""
            _fail(ctx, f"{exc.strerror or exc}{where}", 1)
        except MemoryError:
            _fail(ctx, _OUT_OF_MEMORY, 1)
        except UnicodeEncodeError as exc:
            if exc.encoding.replace("-", "").lower() != "utf8" or "surrogates" not in exc.reason:
                raise
            # Text read from a name that is not UTF-8 (a file in a pool folder, say) cannot
            # go into a UTF-8 file or onto the terminal.
            _fail(ctx, "a file or folder name is not valid UTF-8 text; rename it", 2)
        except KeyboardInterrupt:
            # Ctrl-C: staging folders went on the way out (staging.staged); one line.
            _fail(ctx, "stopped by SIGINT", 130)
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
        given = sys.argv[1:] if args is None else list(args)
        for arg in given:
            if _not_utf8(arg):
                # Paths and names end up in UTF-8 files (kinship.json, the card) and pyarrow
                # refuses to open such a path: refused at once, shown byte for byte.
                shown = ascii(os.fsencode(arg))[2:-1]
                _echo_error(f"argument '{shown}' is not valid UTF-8; use a UTF-8 name")
                sys.exit(2)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "karma-build"
            message = " ".join(exc.format_message().split()).rstrip(".")
            _echo_error(f"{message} (see '{where} --help')")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            _echo_error(" ".join(exc.format_message().split()))
            sys.exit(exc.exit_code)
        except click.Abort:
            _echo_error("stopped")
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
