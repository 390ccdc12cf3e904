"""`karma-build compare`: lm-eval results of trained models as the paper's Table 2/4 and bars."""

from __future__ import annotations

import click

from karma_plugin.commands._options import in_folder, key_value_pairs, metrics_option, out_options
from karma_plugin.fs import staging
from karma_plugin.report.compare import (
    build_comparison,
    read_entries,
    render_comparison,
    to_markdown,
)


@click.command("compare")
@click.argument("results", nargs=-1, type=click.Path())
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME=PATH",
    callback=key_value_pairs,
    help="Results of one trained model (a results_*.json or its folder) under NAME = "
    "[GROUP/]COLUMN, e.g. 'Qwen2.5-3B/DPO/k_sim=out/qwen3b-dpo-ksim'. Repeatable. "
    "Unlabelled RESULTS are named by the model lm-eval recorded.",
)
@metrics_option("Metric key per benchmark (repeatable); defaults as in `karma-build scores`.")
@out_options()
def command(
    results: tuple[str, ...],
    labels: tuple[tuple[str, str], ...],
    metrics: dict[str, str],
    out: str,
    overwrite: bool,
) -> None:
    """Compare trained models: a Markdown and CSV table (best per row marked) and bar charts."""
    inputs = [*results, *(path for _, path in labels)]
    # Reserved before any work: a refusal or an unwritable parent costs nothing.
    with staging.staged(out, overwrite, inputs) as stage:
        entries = read_entries(results, labels, metrics)
        comparison = build_comparison(entries)
        written = render_comparison(comparison, stage)
    click.echo(to_markdown(comparison))
    click.echo(f"wrote {', '.join(in_folder(out, name) for name in written)}", err=True)
