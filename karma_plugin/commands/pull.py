"""`karma-build pull`: load a pushed KARMA dataset back with `datasets` and check it."""

from __future__ import annotations

import contextlib

import click

from karma_plugin.commands._options import out_options
from karma_plugin.errors import RemoteError
from karma_plugin.fs import staging


@click.command("pull")
@click.argument("repo_id", metavar="ORG/NAME")
@click.option(
    "--config",
    "configs",
    multiple=True,
    metavar="NAME",
    help="Config to load (repeatable). Default: every config in the card.",
)
@click.option("--revision", default=None, metavar="BRANCH", help="Branch, tag or commit.")
@out_options(
    required=False,
    help="Also write what was loaded as a Hub-ready folder (parquet per config and split).",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Compare the loaded rows with the repo's parquet files and kinship.json.",
)
def command(
    repo_id: str,
    configs: tuple[str, ...],
    revision: str | None,
    out: str | None,
    overwrite: bool,
    check: bool,
) -> None:
    """Load ORG/NAME with datasets.load_dataset, config by config (a round-trip check)."""
    from karma_plugin.api import pull_dataset

    # Reserved before any download: a refusal or an unwritable parent costs nothing. A failed
    # round trip raises inside the block, so the staging folder is dropped, never published.
    with staging.staged(out, overwrite) if out else contextlib.nullcontext() as stage:
        report = pull_dataset(repo_id, list(configs) or None, stage, revision, check)
        for config, splits in report.rows.items():
            counts = ", ".join(f"{split} {n}" for split, n in splits.items())
            click.echo(f"  {config:<12} {counts}")
        if report.problems:
            for problem in report.problems:
                click.echo(f"  round trip: {problem}")
            n = len(report.problems)
            kept = f"; {out} was not written" if out else ""
            raise RemoteError(
                f"{repo_id} did not load back as it was pushed "
                f"({n} problem{'s' if n > 1 else ''} listed above){kept}"
            )
    if check:
        click.echo(f"Round trip OK: every split of {repo_id} loads with the rows of its files.")
    if report.written:
        click.echo(f"Wrote {out} ({', '.join(report.rows)} at commit {report.commit})")
