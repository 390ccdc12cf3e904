"""`karma-build scores`: lm-eval results of the karma_* tasks -> a score table CSV."""

from __future__ import annotations

import click

from karma_plugin.commands._options import (
    counted,
    file_overwrite_option,
    key_value_pairs,
    metrics_option,
    warn,
)
from karma_plugin.core.score_table import format_score_csv, is_score_csv, write_scores
from karma_plugin.lmeval.results import DEFAULT_METRICS, read_score_table

_METRIC_HELP = "; ".join(f"{b}={m}" for b, m in DEFAULT_METRICS.items())


@click.command("scores")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the CSV here (default: print it).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="RUN=MODEL",
    callback=key_value_pairs,
    help="Row name for a run: RUN is the model lm-eval recorded (pretrained=...) or its "
    "results folder name. Repeatable.",
)
@metrics_option(f"Metric key per benchmark (repeatable). Defaults: {_METRIC_HELP}.")
@file_overwrite_option("an existing -o file")
def command(
    paths: tuple[str, ...],
    output: str | None,
    names: tuple[tuple[str, str], ...],
    metrics: dict[str, str],
    overwrite: bool,
) -> None:
    """Read lm-eval results (files or folders, searched for results_*.json) into a score table.

    One row per model; for each benchmark the newest run that has it wins.
    """
    from karma_plugin.outputs.atomic import check_file_output

    found = check_file_output(output, "-o", overwrite, paths, is_score_csv) if output else None
    table = read_score_table(paths, names=dict(names), metrics=metrics, warn=warn)
    if output:
        write_scores(table, output, found=found)
        click.echo(
            f"wrote {output} ({counted(len(table.models), 'model')} x "
            f"{counted(len(table.benchmarks), 'benchmark')})",
            err=True,
        )
    else:
        click.echo(format_score_csv(table), nl=False)
