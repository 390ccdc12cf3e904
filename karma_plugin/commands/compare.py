"""`karma-build compare`: lm-eval results of trained models as the paper's Table 2/4 and bars."""

from __future__ import annotations

import click

from karma_plugin import atomic
from karma_plugin.commands.scores import _pairs, parse_metrics
from karma_plugin.compare import build_comparison, read_entries, to_markdown, write_comparison


@click.command("compare")
@click.argument("results", nargs=-1, type=click.Path())
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME=PATH",
    help="Results of one trained model (a results_*.json or its folder) under NAME = "
    "[GROUP/]COLUMN, e.g. 'Qwen2.5-3B/DPO/k_sim=out/qwen3b-dpo-ksim'. Repeatable. "
    "Unlabelled RESULTS are named by the model lm-eval recorded.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="BENCH=METRIC,FILTER",
    help="Metric key per benchmark (repeatable); defaults as in `karma-build scores`.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
def command(
    results: tuple[str, ...],
    labels: tuple[str, ...],
    metrics: tuple[str, ...],
    out: str,
    overwrite: bool,
) -> None:
    """Compare trained models: a Markdown and CSV table (best per row marked) and bar charts."""
    atomic.check_new_dir(out, overwrite)
    entries = read_entries(results, _pairs(labels, "--label"), parse_metrics(metrics))
    comparison = build_comparison(entries)
    written = write_comparison(comparison, out, overwrite)
    click.echo(to_markdown(comparison))
    click.echo(f"wrote {', '.join(f'{out}/{name}' for name in written)}", err=True)
