"""`karma-build kinship`: normalised scores, S_pref, the kinship matrix, pairs below tau."""

from __future__ import annotations

import json

import click

from karma_plugin import atomic
from karma_plugin.benchmarks import resolve_benchmarks
from karma_plugin.commands._options import (
    benchmarks_option,
    report_excluded,
    scores_option,
    tau_option,
)
from karma_plugin.kinship import compute_kinship
from karma_plugin.kinship_text import format_kinship
from karma_plugin.score_table import read_scores


@click.command("kinship")
@scores_option
@benchmarks_option
@tau_option
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write kinship.json here."
)
def command(scores_spec: str, benchmarks: str, tau: float, json_path: str | None) -> None:
    """Print the kinship of the origin models in a score table."""
    result = compute_kinship(read_scores(scores_spec), resolve_benchmarks(benchmarks), tau)
    report_excluded(result.excluded)
    click.echo(format_kinship(result))
    if json_path:
        atomic.write_text(json_path, json.dumps(result.to_json(), indent=2) + "\n")
        click.echo(f"wrote {json_path}")
