"""`karma-build scores`: lm-eval results of the karma_* tasks -> a score table CSV."""

from __future__ import annotations

import click

from karma_plugin.commands._options import warn
from karma_plugin.core.benchmarks import BENCHMARKS, canonical_benchmark
from karma_plugin.core.score_table import format_score_csv, write_scores
from karma_plugin.errors import InputError
from karma_plugin.lmeval.results import DEFAULT_METRICS, read_score_table


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise InputError(f"{option} expects KEY=VALUE, got {value!r}")
        pairs.append((key.strip(), rest.strip()))
    return pairs


def parse_metrics(values: tuple[str, ...]) -> dict[str, str]:
    metrics = {}
    for bench, metric in _pairs(values, "--metric"):
        key = canonical_benchmark(bench)
        if key is None:
            raise InputError(
                f"--metric: unknown benchmark {bench!r} (choose from: {', '.join(BENCHMARKS)})"
            )
        if "," not in metric:
            raise InputError(f"--metric {bench}: expected METRIC,FILTER, got {metric!r}")
        metrics[key] = metric
    return metrics


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
    help="Row name for a run: RUN is the model lm-eval recorded (pretrained=...) or its "
    "results folder name. Repeatable.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="BENCH=METRIC,FILTER",
    help=f"Metric key per benchmark (repeatable). Defaults: {_METRIC_HELP}.",
)
def command(
    paths: tuple[str, ...], output: str | None, names: tuple[str, ...], metrics: tuple[str, ...]
) -> None:
    """Read lm-eval results (files or folders, searched for results_*.json) into a score table.

    One row per model; for each benchmark the newest run that has it wins.
    """
    table = read_score_table(
        paths, names=dict(_pairs(names, "--name")), metrics=parse_metrics(metrics), warn=warn
    )
    if output:
        write_scores(table, output)
        click.echo(
            f"wrote {output} ({len(table.models)} models x {len(table.benchmarks)} benchmarks)",
            err=True,
        )
    else:
        click.echo(format_score_csv(table), nl=False)
