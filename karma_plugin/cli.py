"""`karma-build`: a thin click layer. Each command lives in ``karma_plugin.commands``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

import click

from karma_plugin import __version__, commands
from karma_plugin.commands._options import drop_warnings, flush_warnings
from karma_plugin.errors import Interrupted, KarmaError


class _Group(click.Group):
    """Turns our errors into one line on stderr and DESIGN.md's exit codes."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            result = super().invoke(ctx)
        except (KarmaError, Interrupted) as exc:
            # An error run says one thing: the warnings gathered on the way are dropped.
            drop_warnings(ctx)
            if ctx.find_root().params.get("verbose"):
                traceback.print_exc(file=sys.stderr)
            click.echo(f"karma-build: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Ctrl-C: staging folders went on the way out (output_folder.staged); one line.
            drop_warnings(ctx)
            click.echo("karma-build: error: stopped by SIGINT", err=True)
            ctx.exit(130)
        flush_warnings(ctx)
        return result


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show details (tracebacks) on errors.")
@click.version_option(__version__, prog_name="karma-build")
def main(verbose: bool) -> None:
    """Build KARMA preference data from origin-model benchmark scores (no annotators)."""


# Commands register themselves by module: a new file in karma_plugin/commands is a new command.
for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
    if not _info.name.startswith("_"):
        main.add_command(importlib.import_module(f"{commands.__name__}.{_info.name}").command)
