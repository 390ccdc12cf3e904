"""Options and output helpers shared by several commands."""

from __future__ import annotations

from collections.abc import Callable

import click

from karma_plugin.core.kinship import DEFAULT_TAU

scores_option = click.option(
    "--scores",
    "scores_spec",
    default="paper",
    show_default=True,
    metavar="paper|FILE",
    help="Score table: 'paper' (the authors' table, shipped) or a CSV from `karma-build scores`.",
)
benchmarks_option = click.option(
    "--benchmarks",
    default="all",
    show_default=True,
    metavar="KEYS|CATEGORY",
    help="Comma-separated benchmark keys or a category "
    "(knowledge, reasoning, instruction_following).",
)
tau_option = click.option(
    "--tau",
    type=float,
    default=DEFAULT_TAU,
    show_default=True,
    help="Kinship threshold: pairs below it are never formed.",
)


def out_options(required: bool = True, help: str = "Output folder.") -> Callable:
    """``--out`` and ``--overwrite``, alike for every command that writes a folder (the rules
    live in ``karma_plugin.outputs.staging``)."""
    out = click.option(
        "--out", required=required, default=None, type=click.Path(file_okay=False), help=help
    )
    overwrite = click.option(
        "--overwrite",
        is_flag=True,
        help="Replace the --out folder if karma-build wrote it (never the working or home "
        "folder, nor a folder holding an input of the run).",
    )
    return lambda command: out(overwrite(command))


def warn(message: str) -> None:
    click.echo(f"karma-build: warning: {message}", err=True)


def report_excluded(excluded: dict[str, str]) -> None:
    for name, reason in excluded.items():
        warn(f"left out {name}: {reason}")
