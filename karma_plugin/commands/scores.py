"""`karma-build scores`: lm-eval results (of the karma_* tasks, or any) or a published table
(a leaderboard, through --columns) -> a score table CSV."""

from __future__ import annotations

import click

from karma_plugin.commands._options import (
    counted,
    file_overwrite_option,
    key_value_pairs,
    metrics_option,
    run_names_option,
    warn,
)
from karma_plugin.core.benchmarks import benchmark_key
from karma_plugin.core.score_table import format_score_csv, is_score_csv, write_scores
from karma_plugin.errors import InputError
from karma_plugin.lmeval.results import DEFAULT_METRICS, Source, parse_source, read_score_table

_METRIC_HELP = "; ".join(f"{b}={m}" for b, m in DEFAULT_METRICS.items())


def benchmark_sources(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Source]:
    """Callback of ``--benchmark NAME=TASK[:METRIC[,FILTER]]``: benchmark key -> Source."""
    sources: dict[str, Source] = {}
    for name, spec in key_value_pairs(ctx, param, values):
        key = benchmark_key(name)
        if key is None:
            raise InputError(f"--benchmark {name}={spec}: {name!r} is not a benchmark name")
        if key in sources:
            raise InputError(f"--benchmark {key} is given twice")
        sources[key] = parse_source(spec)
    return sources


@click.command("scores")
@click.argument("paths", nargs=-1, required=True, metavar="PATHS...|TABLE", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the CSV here (default: print it).",
)
@run_names_option(
    "Row name for a run: RUN is the model lm-eval recorded (pretrained=...) or its "
    "results folder name; with --columns, a model of the table. Repeatable."
)
@metrics_option(f"Metric key per benchmark (repeatable). Defaults: {_METRIC_HELP}.")
@click.option(
    "--benchmark",
    "benchmarks",
    multiple=True,
    metavar="NAME=TASK[:METRIC[,FILTER]]",
    callback=benchmark_sources,
    help="Read benchmark NAME from the lm-eval task TASK (any task or group, e.g. "
    "bbh=leaderboard_bbh:acc_norm,none); METRIC defaults to the task's only metric, FILTER "
    "to none. One of the six replaces its karma_*/karmalite_* tasks. Repeatable.",
)
@click.option(
    "--columns",
    default=None,
    metavar="model=COLUMN,BENCH=COLUMN,...",
    help="Read TABLE, a published score table (a .csv or .parquet file, or a Hub dataset "
    "ORG/NAME[@REVISION], e.g. the Open LLM Leaderboard's open-llm-leaderboard/contents), "
    "instead of lm-eval results: the column of the model names and one per benchmark "
    "(BENCH_stderr=COLUMN: its standard errors); #N names the N-th column.",
)
@click.option(
    "--split",
    default="train",
    show_default=True,
    help="With --columns and a Hub dataset: the split to read.",
)
@file_overwrite_option("an existing -o file")
def command(
    paths: tuple[str, ...],
    output: str | None,
    names: tuple[tuple[str, str], ...],
    metrics: dict[str, str],
    overwrite: bool,
    benchmarks: dict[str, Source],
    columns: str | None,
    split: str,
) -> None:
    """Read lm-eval results (files or folders, searched for results_*.json) into a score table,
    or, with --columns, a published one (no Stage 1 run at all).

    One row per model; for each benchmark the newest run that has it wins. The six benchmarks
    are read from the karma_* tasks or their karmalite_* twins, others with --benchmark.
    """
    from karma_plugin.fs.atomic import check_file_output

    found = check_file_output(output, "-o", overwrite, paths, is_score_csv) if output else None
    if columns is not None:
        from karma_plugin.tables import published_scores

        if len(paths) != 1:
            raise InputError(f"--columns reads one table, got {len(paths)} paths")
        if metrics or benchmarks:
            raise InputError("--metric and --benchmark read lm-eval results, not --columns tables")
        table = published_scores(paths[0], columns, names=dict(names), split=split, warn=warn)
        click.echo(f"read {table.source}", err=True)
    else:
        table = read_score_table(
            paths, names=dict(names), metrics=metrics, warn=warn, benchmarks=benchmarks
        )
    if output:
        write_scores(table, output, found=found)
        click.echo(
            f"wrote {output} ({counted(len(table.models), 'model')} x "
            f"{counted(len(table.benchmarks), 'benchmark')})",
            err=True,
        )
    else:
        click.echo(format_score_csv(table), nl=False)
