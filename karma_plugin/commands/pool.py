"""`karma-build pool`: the karma_responses samples of several model runs -> one response pool."""

from __future__ import annotations

import os
from pathlib import Path

import click

from karma_plugin.commands._options import run_names_option, warn
from karma_plugin.errors import InputError
from karma_plugin.lmeval.pool import build_pool, merge_names, read_runs, write_pool


def _check_output(output: str, overwrite: bool, inputs: list[Path]) -> None:
    """Refuse, before any work, an output that is not a new .parquet file (or, with
    --overwrite, an older one) or that is one of the run's inputs."""
    path = Path(output)
    if path.suffix.lower() != ".parquet":
        raise InputError(f"-o {output!r}: the pool is a parquet file; name it *.parquet")
    if not os.path.lexists(path):
        return
    if path.is_dir():
        raise InputError(f"-o {output!r} is a folder; name the pool file inside it")
    real = os.path.realpath(path)
    if any(real == os.path.realpath(p) for p in inputs):
        raise InputError(f"-o {output!r} is an input of this run; pick another file")
    if not overwrite:
        raise InputError(f"-o {output!r} already exists (use --overwrite to replace it)")


@click.command("pool")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="POOL.parquet",
    help="The pool to write (parquet, UltraFeedback's schema).",
)
@run_names_option(
    "Model name for a run, as in `scores`: RUN is the model lm-eval recorded "
    "(pretrained=...) or its results folder name. Repeatable."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def command(
    runs: tuple[str, ...], output: str, names: tuple[tuple[str, str], ...], overwrite: bool
) -> None:
    """Read the karma_responses samples of several runs (lm-eval --log_samples; folders,
    samples files or results files) into one pool that `binarize --dataset` reads.

    One row per prompt (identified by its text), the models by name; empty responses count as
    missing; ratings are null. Provenance is kept in the parquet metadata.
    """
    _check_output(output, overwrite, [])
    found = read_runs(runs, merge_names(list(names)))
    table, summary = build_pool(found)
    inputs = [r.samples for r in found] + [r.results for r in found if r.results]
    _check_output(output, overwrite, inputs)
    try:
        write_pool(table, output)
    except OSError as exc:
        raise InputError(f"cannot write {output!r}: {exc.strerror or exc}") from None
    if summary.duplicate_prompts:
        warn(
            f"{summary.duplicate_prompts} prompts repeat an earlier one in the prompt set: "
            "each is one row (a model's first non-empty response)"
        )
    for model in summary.models:
        click.echo(
            f"  {model}: {summary.responses[model]} responses"
            + (f", {summary.missing[model]} empty (missing)" if summary.missing[model] else "")
        )
    click.echo(
        f"wrote {output}: {summary.prompts} prompts x {len(summary.models)} models; "
        f"{summary.fewer_than_2} prompts answered by fewer than 2 models (kept)"
    )
