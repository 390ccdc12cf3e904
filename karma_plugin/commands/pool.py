"""`karma-build pool`: the Stage-0 (karmagen) samples of several model runs -> one response pool."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from karma_plugin.commands._options import counted, file_overwrite_option, run_names_option, warn
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic
from karma_plugin.lmeval.pool import (
    build_pool,
    is_pool_file,
    merge_names,
    read_runs,
    write_pool,
)


def _check_output(
    output: str, overwrite: bool, inputs: Sequence[str | os.PathLike[str]]
) -> atomic.Found:
    """Refuse, before any work, an output that is not a .parquet file, or one that the file
    rules (``atomic.check_file_output``) keep."""
    if Path(output).suffix.lower() != ".parquet":
        raise InputError(f"-o {output!r}: the pool is a parquet file; name it *.parquet")
    return atomic.check_file_output(output, "-o", overwrite, inputs, is_pool_file)


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
@file_overwrite_option("an existing -o file")
def command(
    runs: tuple[str, ...], output: str, names: tuple[tuple[str, str], ...], overwrite: bool
) -> None:
    """Read the Stage-0 (karmagen) samples of several runs (lm-eval --log_samples; folders,
    samples files or results files) into one pool that `binarize --dataset` reads.

    One row per prompt (identified by its text), the models by name; empty responses count as
    missing; ratings are null. Provenance is kept in the parquet metadata.
    """
    _check_output(output, overwrite, runs)
    found = read_runs(runs, merge_names(list(names)))
    table, summary = build_pool(found)
    inputs = [r.samples for r in found] + [r.results for r in found if r.results]
    there = _check_output(output, overwrite, [*runs, *inputs])
    try:
        write_pool(table, output, found=there)
    except OSError as exc:
        raise InputError(f"cannot write {output!r}: {exc.strerror or exc}") from None
    if summary.duplicate_prompts:
        warn(
            f"{counted(summary.duplicate_prompts, 'prompt repeats', 'prompts repeat')} an "
            "earlier one in the prompt set: "
            "each is one row (a model's first non-empty response)"
        )
    for model in summary.models:
        click.echo(
            f"  {model}: {counted(summary.responses[model], 'response')}"
            + (f", {summary.missing[model]} empty (missing)" if summary.missing[model] else "")
        )
    click.echo(
        f"wrote {output}: {counted(summary.prompts, 'prompt')} x "
        f"{counted(len(summary.models), 'model')}; "
        f"{counted(summary.fewer_than_2, 'prompt')} answered by fewer than 2 models (kept)"
    )
