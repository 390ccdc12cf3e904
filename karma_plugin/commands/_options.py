"""Options and output helpers shared by several commands."""

from __future__ import annotations

import click

from karma_plugin.kinship import DEFAULT_TAU

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


def warn(message: str) -> None:
    click.echo(f"karma-build: warning: {message}", err=True)


def report_excluded(excluded: dict[str, str]) -> None:
    for name, reason in excluded.items():
        warn(f"left out {name}: {reason}")
