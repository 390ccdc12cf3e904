"""The kinship report: a folder of PNG figures and one ``report.md`` that embeds them.

``render_report`` fills a folder the caller stages (``fs.staging.staged``: `report --out`,
binarize's ``--report``), which is published whole or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core import clustering
from karma_plugin.core.benchmarks import CATEGORIES
from karma_plugin.core.kinship import Kinship, Listing, list_models, normalize_scores
from karma_plugin.core.score_table import ScoreTable
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic
from karma_plugin.outputs.manifest import kinship_document
from karma_plugin.outputs.markdown import markdown_kinship, markdown_scores, markdown_table
from karma_plugin.report import figures

CATEGORY_TITLES = {
    "knowledge": "Knowledge",
    "reasoning": "Reasoning",
    "instruction_following": "Instruction following",
}


@dataclass
class Report:
    """What was written, for callers and tests."""

    folder: Path
    figures: list[str] = field(default_factory=list)
    clusterings: dict[str, clustering.Clustering] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _restrict(table: ScoreTable, models: tuple[str, ...]) -> ScoreTable:
    position = {m: i for i, m in enumerate(table.models)}
    rows = [position[m] for m in models]
    return ScoreTable(models, table.benchmarks, table.values[rows], table.source)


def _overall_clustering(k: Kinship, cut: float) -> clustering.Clustering:
    if k.metric == "cosine":
        distance, name = clustering.score_distance(k.normalized)
    else:
        distance, name = clustering.kinship_distance(k.kinship), f"1 - {k.metric} kinship"
    return clustering.cluster_models(k.models, distance, name, cut)


def _clusters_md(c: clustering.Clustering) -> str:
    rows = [
        [str(n), str(len(members)), ", ".join(members)] for n, members in enumerate(c.clusters, 1)
    ]
    return markdown_table(["cluster", "size", "models"], rows)


def render_report(
    table: ScoreTable,
    kinship: Kinship,
    folder: str | os.PathLike[str],
    cut: float = clustering.DEFAULT_CUT,
    listing: Listing | None = None,
) -> Report:
    """Draw every figure into ``folder`` and write ``folder/report.md``.

    A table of more than ``MAX_LISTED_MODELS`` models is drawn for the ``listing`` only (default:
    the top ones by S_pref): heatmaps and dendrograms of thousands of leaves are unreadable. The
    PCA map shows every model and labels the listed ones.
    """
    if not cut > 0:
        raise InputError(f"the dendrogram cut must be positive, got {cut}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(folder=out)
    listing = listing or list_models(kinship)
    k = kinship if listing.complete else kinship.restrict(listing.indices)

    def figure(name: str) -> str:
        report.figures.append(name)
        return str(out / name)

    figures.s_pref_bars(k, figure("s_pref.png"))
    figures.kinship_heatmap(k, figure("kinship_heatmap.png"))
    figures.pca_map(kinship, figure("pca.png"), None if listing.complete else listing.indices)
    explained = figures.pca(kinship.normalized).explained

    if len(k.models) >= 2:
        report.clusterings["all"] = _overall_clustering(k, cut)
        figures.dendrogram(
            report.clusterings["all"],
            f"All chosen benchmarks ({k.metric})",
            figure("dendrogram_all.png"),
        )
    else:
        report.skipped["all"] = "fewer than 2 models to cluster"
    # Category dendrograms always come from the benchmark scores of the same models,
    # normalised over all of them, drawn for the listed ones.
    same_models = _restrict(table, kinship.models)
    for category, benches in CATEGORIES.items():
        if not any(b in table.benchmarks for b in benches):
            report.skipped[category] = "none of its benchmarks is in the score table"
            continue
        try:
            norm = normalize_scores(same_models, benches)
        except InputError as exc:
            report.skipped[category] = str(exc)
            continue
        rows = np.flatnonzero(np.isin(norm.models, k.models))
        if len(rows) < 2:
            report.skipped[category] = "fewer than 2 of the listed models have its scores"
            continue
        distance, name = clustering.score_distance(norm.normalized[rows])
        c = clustering.cluster_models(tuple(norm.models[i] for i in rows), distance, name, cut)
        report.clusterings[category] = c
        figures.dendrogram(c, CATEGORY_TITLES[category], figure(f"dendrogram_{category}.png"))

    doc = kinship_document(kinship, listing)
    text = _markdown(table, kinship, doc, listing, report, cut, explained)
    atomic.write_text(out / "report.md", text)
    return report


def _markdown(
    table: ScoreTable,
    k: Kinship,
    doc: dict[str, Any],
    listing: Listing,
    report: Report,
    cut: float,
    explained: np.ndarray,
) -> str:
    lines = [
        "# Kinship report",
        "",
        f"Score table: `{table.source or 'unnamed'}`. {len(k.models)} models, "
        f"benchmarks: {', '.join(k.benchmarks)}. Kinship metric: **{k.metric}**; "
        f"tau = {k.tau:g}.",
    ]
    below = doc["pairs_below_tau"]
    if listing.complete:
        below_line = f"Pairs below tau = {k.tau:g} (never paired): {len(below)}"
    else:
        n, counted = len(k.models), doc["all_models"]["pairs_below_tau"]
        below_line = (
            f"Pairs below tau = {k.tau:g} (never paired): {counted} of "
            f"{n * (n - 1) // 2} among all models; {len(below)} among the models shown"
        )
        lines += [
            "",
            f"Too many models to draw: the figures and tables show {listing.rule} "
            f"(of {n}); S_pref, kinship and the clusters' distances are computed over all "
            "of them. The PCA map shows every model and labels the ones shown. "
            "`karma-build kinship --json FILE` writes the full kinship matrix.",
        ]
    if k.excluded:
        lines += ["", "Left out:", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in k.excluded.items()]
    lines += [
        "",
        "## Preference scores (S_pref)",
        "",
        "S_pref is the mean of a model's min-max normalised benchmark scores; in every pair the "
        "model with the higher S_pref is the chosen one.",
        "",
        "![S_pref ranking](s_pref.png)",
        "",
        markdown_scores(doc),
        "",
        "## Kinship matrix",
        "",
        "![Kinship heatmap](kinship_heatmap.png)",
        "",
        markdown_kinship(doc),
        "",
        below_line
        + ("" if not below else ": " + "; ".join(f"{a} ~ {b} ({v:.3f})" for a, b, v in below))
        + ".",
        "",
        "## PCA map (paper Fig. 4)",
        "",
        f"The first two principal components of the normalised scores explain "
        f"{100 * explained[0]:.1f}% and {100 * explained[1]:.1f}% of the variance "
        f"({100 * (explained[0] + explained[1]):.1f}% together); red arrows are the benchmarks' "
        "loadings. Distance on this map is Euclidean: it grows with the difference in overall "
        "strength as well as in the shape of the profile. Kinship is a cosine: it compares only "
        "the direction of the score vectors, not their size. So two models can have kinship near "
        "1 and lie far apart here (a weak and a strong model with the same profile shape), while "
        "models that lie close together are alike in both. Read kinship from the heatmap and the "
        "dendrograms; read overall strength and what drives the spread from this map.",
        "",
        "![PCA map](pca.png)",
        "",
        f"## Dendrograms (paper Fig. 7), cut at {cut:g}",
        "",
        "Hierarchical clustering with scipy, **average linkage** (UPGMA: two clusters merge at "
        "the mean distance between their members, in the units of the cut; Ward or centroid "
        "linkage would assume Euclidean geometry, which cosine distance lacks). The distance is "
        "**1 - cosine kinship** of the normalised score vectors when two or more benchmarks are "
        "compared (1 - kappa for a sample-level metric). A single-benchmark category "
        "(instruction following = IFEval alone) uses the **absolute difference of the "
        "normalised scores** instead: the cosine of two non-negative one-dimensional vectors is "
        "always 1 (both scores above the minimum) or 0 (one at the minimum), so it cannot tell "
        "models apart. Models whose branches join below the red dotted cut share a cluster.",
    ]
    titles = {"all": f"All chosen benchmarks ({k.metric})", **CATEGORY_TITLES}
    for key, c in report.clusterings.items():
        lines += [
            "",
            f"### {titles[key]}",
            "",
            f"Distance: {c.distance_name}; {len(c.clusters)} clusters at {c.cut:g}.",
            "",
            f"![{titles[key]} dendrogram](dendrogram_{key}.png)",
            "",
            _clusters_md(c),
        ]
    for key, reason in report.skipped.items():
        lines += ["", f"### {titles[key]}", "", f"Not drawn: {reason}."]
    return "\n".join(lines) + "\n"
