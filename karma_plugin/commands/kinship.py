"""`karma-build kinship`: normalised scores, S_pref, the kinship matrix, pairs below tau."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from karma_plugin.commands._options import (
    benchmarks_option,
    key_value_pairs,
    report_excluded,
    scores_option,
    tau_option,
    warn,
)
from karma_plugin.core.benchmarks import resolve_benchmarks
from karma_plugin.core.kinship import MAX_LISTED_MODELS, Kinship, compute_kinship, list_models
from karma_plugin.core.score_table import PAPER, read_scores
from karma_plugin.errors import InputError
from karma_plugin.outputs import atomic
from karma_plugin.report.text import format_kinship


def kinship_from_options(
    scores_spec: str,
    benchmarks: str,
    tau: float,
    samples: tuple[str, ...] = (),
    metric: str | None = None,
    names: tuple[tuple[str, str], ...] = (),
) -> Kinship:
    """The kinship the options ask for: benchmark cosine, or sample-level ec/capa.

    ``metric`` None means cosine without samples and ``ec`` with them.
    """
    chosen = metric or ("ec" if samples else "cosine")
    table = read_scores(scores_spec)
    keys = resolve_benchmarks(benchmarks)
    if chosen == "cosine":
        if samples:
            raise InputError("--samples needs --metric ec or capa (cosine uses only the scores)")
        return compute_kinship(table, keys, tau)
    if not samples:
        raise InputError(f"--metric {chosen} needs --samples DIR (lm-eval --log_samples output)")
    from karma_plugin.lmeval.samples import kinship_with_samples

    return kinship_with_samples(table, keys, tau, samples, chosen, dict(names), warn=warn)


samples_option = click.option(
    "--samples",
    multiple=True,
    type=click.Path(),
    metavar="DIR",
    help="lm-eval --log_samples output (folders or samples_*.jsonl files) of the origin models "
    "on the karma_* tasks; repeatable. Per-item agreement replaces the benchmark cosine.",
)
metric_option = click.option(
    "--metric",
    type=click.Choice(["cosine", "ec", "capa"]),
    default=None,
    help="Kinship: cosine of normalised scores (default), ec = error consistency (kappa on "
    "right/wrong), capa = chance-adjusted agreement on the chosen letters (lm-sim). "
    "Default with --samples: ec.",
)
names_option = click.option(
    "--name",
    "names",
    multiple=True,
    metavar="RUN=MODEL",
    callback=key_value_pairs,
    help="Score-table name for a samples run (the model lm-eval recorded, or its folder). "
    "Repeatable.",
)


def kinship_inputs(scores_spec: str, samples: tuple[str, ...]) -> list[str]:
    """The local paths the kinship options read (never to be replaced by an output)."""
    return [*samples, *([scores_spec] if scores_spec != PAPER else [])]


def kinship_options(command: Callable) -> Callable:
    """The options every kinship consumer takes, in this order: the scores, the benchmarks,
    tau, and the sample-level inputs that may replace the benchmark cosine."""
    options = (scores_option, benchmarks_option, tau_option)
    for option in reversed((*options, samples_option, metric_option, names_option)):
        command = option(command)
    return command


@click.command("kinship")
@kinship_options
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Also write kinship.json here; for a table of more than "
    f"{MAX_LISTED_MODELS} models, also the full kinship matrix as NAME_matrix.parquet beside it.",
)
def command(
    scores_spec: str,
    benchmarks: str,
    tau: float,
    samples: tuple[str, ...],
    metric: str | None,
    names: tuple[tuple[str, str], ...],
    json_path: str | None,
) -> None:
    """Print the kinship of the origin models in a score table."""
    result = kinship_from_options(scores_spec, benchmarks, tau, samples, metric, names)
    report_excluded(result.excluded)
    listing = list_models(result)
    click.echo(format_kinship(result, listing))
    if not json_path:
        if not listing.complete:
            click.echo(
                f"All {len(result.models)} models: --json FILE also writes their kinship "
                "matrix beside FILE (pandas.read_parquet reads it)."
            )
        return
    matrix = None
    if not listing.complete:
        from karma_plugin.outputs.matrix import matrix_path, write_matrix

        matrix = write_matrix(matrix_path(json_path), result.models, result.kinship)
    doc = result.to_json(listing, matrix.name if matrix else None)
    atomic.write_text(json_path, json.dumps(doc, indent=2) + "\n")
    click.echo(f"wrote {json_path}" + (f" and {matrix}" if matrix else ""))
