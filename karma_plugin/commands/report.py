"""`karma-build report`: figures (kinship heatmap, PCA map, dendrograms, S_pref) and report.md."""

from __future__ import annotations

import click

from karma_plugin.commands._options import (
    bootstrap_options,
    kinship_options,
    out_options,
    report_excluded,
    warn,
)
from karma_plugin.core.clustering import DEFAULT_CUT
from karma_plugin.fs import staging
from karma_plugin.kinship_inputs import KinshipOptions
from karma_plugin.report.document import render_report


@click.command("report")
@kinship_options
@bootstrap_options()
@click.option(
    "--cut",
    type=float,
    default=DEFAULT_CUT,
    show_default=True,
    help="Dendrogram cut height (distance) that defines the clusters listed.",
)
@out_options()
def command(
    kinship: KinshipOptions,
    bootstrap: int | None,
    items: dict[str, int],
    seed: int,
    cut: float,
    out: str,
    overwrite: bool,
) -> None:
    """Write a kinship report (PNG figures and report.md) for the models of a score table."""
    # Reserved before any work: a refusal or an unwritable parent costs nothing.
    with staging.staged(out, overwrite, kinship.inputs()) as stage:
        table = kinship.score_table()
        result = kinship.kinship(warn=warn, bootstrap=bool(bootstrap))
        report_excluded(result.excluded)
        unc = None
        if bootstrap:
            unc = kinship.uncertainty(result, None, bootstrap, seed, items)
        report = render_report(table, result, stage, cut=cut, uncertainty=unc)
    for name, c in report.clusterings.items():
        click.echo(
            f"{name}: {len(c.clusters)} clusters at {cut:g}: "
            + " | ".join(", ".join(members) for members in c.clusters)
        )
    if unc is not None:
        click.echo(
            f"Error bars: {unc.method}, {unc.draws} draws (seed {unc.seed}); S_pref 95% "
            "intervals: "
            + ", ".join(f"{m} [{lo:.3f}, {hi:.3f}]" for m, (lo, hi) in unc.s_pref.items())
        )
    click.echo(f"wrote {out}/report.md and {len(report.figures)} figures")
