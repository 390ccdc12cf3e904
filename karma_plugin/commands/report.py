"""`karma-build report`: figures (kinship heatmap, PCA map, dendrograms, S_pref) and report.md."""

from __future__ import annotations

import click

from karma_plugin.commands._options import (
    bootstrap_options,
    counted,
    in_folder,
    kinship_options,
    out_options,
    preference_options,
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
@preference_options
@out_options()
def command(
    kinship: KinshipOptions,
    bootstrap: int | None,
    items: dict[str, int],
    seed: int,
    cut: float,
    preference: str | None,
    preference_columns: str | None,
    preference_names: tuple[tuple[str, str], ...],
    out: str,
    overwrite: bool,
) -> None:
    """Write a kinship report (PNG figures and report.md) for the models of a score table."""
    from karma_plugin import preference_inputs as judged

    judge = judged.judge_from_options(preference, preference_columns, preference_names)
    inputs = [*kinship.inputs(), *judged.local_inputs(preference)]
    # Reserved before any work: a refusal or an unwritable parent costs nothing.
    with staging.staged(out, overwrite, inputs) as stage:
        table = kinship.score_table()
        result = kinship.kinship(warn=warn, bootstrap=bool(bootstrap))
        report_excluded(result.excluded)
        unc = None
        if bootstrap:
            unc = kinship.uncertainty(result, None, bootstrap, seed, items)
        check = None
        if judge is not None:
            noise = judged.noise_for_check(
                result, str(kinship.scores), tuple(map(str, kinship.samples)), items, kinship.names
            )
            check = judged.preference_check_doc(
                result, judge, noise, bootstrap or judged.DEFAULT_DRAWS, seed,
                dict(preference_names), warn=warn,
            )  # fmt: skip
        report = render_report(table, result, stage, cut=cut, uncertainty=unc, preference=check)
    for name, c in report.clusterings.items():
        click.echo(
            f"{name}: {counted(len(c.clusters), 'cluster')} at {cut:g}: "
            + " | ".join(", ".join(members) for members in c.clusters)
        )
    if unc is not None:
        click.echo(
            f"Error bars: {unc.method}, {unc.draws} draws (seed {unc.seed}); S_pref 95% "
            "intervals: "
            + ", ".join(f"{m} [{lo:.3f}, {hi:.3f}]" for m, (lo, hi) in unc.s_pref.items())
        )
    if check is not None:
        click.echo(judged.summary_line(check))
    click.echo(f"wrote {in_folder(out, 'report.md')} and {counted(len(report.figures), 'figure')}")
