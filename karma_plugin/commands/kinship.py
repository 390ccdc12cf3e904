"""`karma-build kinship`: normalised scores, S_pref, the kinship matrix, pairs below tau."""

from __future__ import annotations

import json

import click

from karma_plugin.commands._options import (
    bootstrap_options,
    file_overwrite_option,
    kinship_options,
    report_excluded,
    warn,
)
from karma_plugin.core.kinship import MAX_LISTED_MODELS, list_models
from karma_plugin.fs import atomic
from karma_plugin.kinship_inputs import KinshipOptions
from karma_plugin.outputs.manifest import WRITTEN_BY, is_kinship_json, kinship_document, written_by
from karma_plugin.report.text import format_kinship


@click.command("kinship")
@kinship_options
@bootstrap_options()
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Also write kinship.json here; for a table of more than "
    f"{MAX_LISTED_MODELS} models, also the full kinship matrix as NAME_matrix.parquet beside it.",
)
@file_overwrite_option("an existing --json file (and its matrix)")
def command(
    kinship: KinshipOptions,
    bootstrap: int | None,
    items: dict[str, int],
    seed: int,
    json_path: str | None,
    overwrite: bool,
) -> None:
    """Print the kinship of the origin models in a score table."""
    inputs = kinship.inputs()
    found = (
        atomic.check_file_output(json_path, "--json", overwrite, inputs, is_kinship_json)
        if json_path
        else None
    )
    result = kinship.kinship(warn=warn, bootstrap=bool(bootstrap))
    report_excluded(result.excluded)
    listing = list_models(result)
    unc = None
    if bootstrap:
        unc = kinship.uncertainty(result, listing, bootstrap, seed, items)
    click.echo(format_kinship(result, listing, unc))
    if not json_path:
        if not listing.complete:
            click.echo(
                f"All {len(result.models)} models: --json FILE also writes their kinship "
                "matrix beside FILE (pandas.read_parquet reads it)."
            )
        return
    matrix = None
    if not listing.complete:
        from karma_plugin.outputs.matrix import is_matrix_file, matrix_path, write_matrix

        beside = matrix_path(json_path)
        # Checked before either file is written: a refusal leaves both as they were.
        seen = atomic.check_file_output(beside, "--json", overwrite, inputs, is_matrix_file)
        matrix = write_matrix(beside, result.models, result.kinship, found=seen)
    doc = {**kinship_document(result, listing, matrix.name if matrix else None, unc)}
    doc[WRITTEN_BY] = written_by()  # what a later run may replace without --overwrite
    atomic.write_text(json_path, json.dumps(doc, indent=2) + "\n", found=found)
    click.echo(f"wrote {json_path}" + (f" and {matrix}" if matrix else ""))
