"""`karma-build scores`: lm-eval results of the karma_* tasks -> a score table CSV."""

from __future__ import annotations

import click

from karma_plugin.commands._options import metrics_option, run_names_option, warn
from karma_plugin.core.score_table import format_score_csv, write_scores
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
@run_names_option(
    "Row name for a run: RUN is the model lm-eval recorded (pretrained=...) or its "
    "results folder name. Repeatable."
)
@metrics_option(f"Metric key per benchmark (repeatable). Defaults: {_METRIC_HELP}.")
def command(
    paths: tuple[str, ...],
    output: str | None,
    names: tuple[tuple[str, str], ...],
    metrics: dict[str, str],
) -> None:
    """Read lm-eval results (files or folders, searched for results_*.json) into a score table.

    One row per model; for each benchmark the newest run that has it wins.
    """
    table = read_score_table(paths, names=dict(names), metrics=metrics, warn=warn)
    if output:
        write_scores(table, output)
        click.echo(
            f"wrote {output} ({len(table.models)} models x {len(table.benchmarks)} benchmarks)",
            err=True,
        )
    else:
        click.echo(format_score_csv(table), nl=False)
