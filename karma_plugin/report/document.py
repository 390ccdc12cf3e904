"""The kinship report: a folder of PNG figures and one ``report.md`` that embeds them.

``render_report`` fills a folder the caller stages (``fs.staging.staged``: `report --out`, or
binarize's ``--report``: the dataset folder's ``figures/``), published whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core import clustering
from karma_plugin.core.benchmarks import CATEGORIES
from karma_plugin.core.kinship import Kinship, Listing, list_models, normalize_scores
from karma_plugin.core.score_table import ScoreTable
from karma_plugin.core.uncertainty import Uncertainty
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic
from karma_plugin.outputs.manifest import kinship_document
from karma_plugin.outputs.markdown import (
    bounds,
    crosses_tau,
    interval_label,
    markdown_kinship,
    markdown_preference,
    markdown_scores,
    markdown_table,
    md_name,
    pairs_crossing_tau,
    uncertainty_of,
    unsure_neighbours,
)
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


def _draws(uncertainty: Mapping[str, Any]) -> str:
    draws = uncertainty.get("draws")
    return f"{draws:,}" if isinstance(draws, int) else "?"


def _clusters_md(c: clustering.Clustering) -> str:
    rows = [
        [str(n), str(len(members)), ", ".join(map(md_name, members))]
        for n, members in enumerate(c.clusters, 1)
    ]
    return markdown_table(["cluster", "size", "models"], rows)


def _s_pref_intervals(k: Kinship, uncertainty: Mapping[str, Any]) -> np.ndarray:
    """(models, 2) of ``uncertainty['s_pref']`` for ``k.models``, NaN where none is given."""
    given = uncertainty.get("s_pref")
    given = given if isinstance(given, Mapping) else {}
    return np.array([bounds(given.get(m)) or (np.nan, np.nan) for m in k.models], float)


def _uncertain_cells(k: Kinship, uncertainty: Mapping[str, Any]) -> np.ndarray:
    """The cells of ``k``'s kinship matrix whose interval holds tau (the diagonal never)."""
    given = uncertainty.get("kinship")
    given = given if isinstance(given, Mapping) else {}
    cells = np.zeros((len(k.models), len(k.models)), dtype=bool)
    for i, a in enumerate(k.models):
        row = given.get(a)
        if isinstance(row, Mapping):
            for j, b in enumerate(k.models):
                cells[i, j] = i != j and crosses_tau(row.get(b), k.tau)
    return cells


def render_report(
    table: ScoreTable,
    kinship: Kinship,
    folder: str | os.PathLike[str],
    cut: float = clustering.DEFAULT_CUT,
    listing: Listing | None = None,
    uncertainty: Uncertainty | None = None,
    preference: dict[str, Any] | None = None,
) -> Report:
    """Draw every figure into ``folder`` and write ``folder/report.md``. ``preference``:
    kinship.json's ``preference_check`` (``--preference``), drawn and tabled when given.

    A table of more than ``MAX_LISTED_MODELS`` models is drawn for the ``listing`` only (default:
    the top ones by S_pref): heatmaps and dendrograms of thousands of leaves are unreadable. The
    PCA map shows every model and labels the listed ones.

    ``uncertainty`` (``--bootstrap``) rides in the kinship document the text is made from,
    under its kinship.json key, and the figures are drawn from that key, as the card reads it:
    S_pref gets error bars, the heatmap marks the cells whose interval holds tau, and
    binarize's per-config stability gets a figure.
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

    key = uncertainty.to_json() if uncertainty is not None else None
    if key is None:
        figures.s_pref_bars(k, figure("s_pref.png"))
        figures.kinship_heatmap(k, figure("kinship_heatmap.png"))
    else:
        figures.s_pref_bars(
            k,
            figure("s_pref.png"),
            _s_pref_intervals(k, key),
            f"{interval_label(key)} interval over {_draws(key)} draws of the "
            "scores from their sampling noise",
        )
        figures.kinship_heatmap(
            k,
            figure("kinship_heatmap.png"),
            _uncertain_cells(k, key),
            f"{interval_label(key)} interval holds tau = {k.tau:g}",
        )
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
    for category, benches in {**CATEGORIES, **(kinship.categories or {})}.items():
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
        title = CATEGORY_TITLES.get(category, category)
        figures.dendrogram(c, title, figure(f"dendrogram_{category}.png"))
    stability = key.get("stability") if key else None
    if key and isinstance(stability, Mapping) and stability:
        sure = key.get("sure_pairs")
        figures.stability_bars(
            stability,
            sure if isinstance(sure, Mapping) else None,
            "Pairs that stay the same when the scores are redrawn from their sampling noise\n"
            f"({_draws(key)} draws, method {key.get('method')})",
            figure("stability.png"),
        )

    if preference is not None:
        matched = list(preference["matched"])
        figures.preference_scatter(
            matched,
            np.array([preference["s_pref"][m] for m in matched]),
            np.array([preference["win_rate"][m] for m in matched]),
            f"S_pref against the judge ({preference['table']})",
            figure("preference.png"),
            win_label=preference["win_rate_column"],
        )
    doc = kinship_document(kinship, listing, uncertainty=uncertainty)
    text = _markdown(table, kinship, doc, listing, report, cut, explained)
    if preference is not None:
        text += _preference_markdown(preference)
    atomic.write_text(out / "report.md", text)
    return report


def _s_pref_uncertainty_md(doc: Mapping[str, Any]) -> list[str]:
    """What the S_pref error bars are, and which neighbours in the ranking are not sure."""
    uncertainty = uncertainty_of(doc)
    if uncertainty is None:
        return []
    level = interval_label(uncertainty)
    description = str(uncertainty.get("description") or "").strip()
    lines = [
        f"Error bars and the interval column: the {level} percentile interval of S_pref over "
        f"{_draws(uncertainty)} draws of the scores from their sampling noise (method "
        f"`{uncertainty.get('method')}`, seed {uncertainty.get('seed')}). {description}",
        "",
    ]
    unsure = unsure_neighbours(doc)
    if unsure:
        lines += [
            f"Neighbours in the ranking whose order holds in fewer than {level} of the draws: "
            + "; ".join(f"{a} over {b} ({100 * p:.0f}%)" for a, b, p in unsure)
            + ".",
            "",
        ]
    else:
        lines += [f"Every model stays above the next one in at least {level} of the draws.", ""]
    return lines


def _kinship_uncertainty_md(doc: Mapping[str, Any]) -> list[str]:
    """The heatmap's caption for its marked cells."""
    uncertainty = uncertainty_of(doc)
    if uncertainty is None:
        return []
    level, tau = interval_label(uncertainty), doc["tau"]
    crossing = pairs_crossing_tau(doc)
    if not crossing:
        return [
            f"No listed pair's {level} kinship interval holds tau = {tau:g} (over "
            f"{_draws(uncertainty)} draws of the scores): no cell is hatched.",
            "",
        ]
    return [
        f"Hatched cells with a red outline: the pairs whose {level} kinship interval (over "
        f"{_draws(uncertainty)} draws of the scores) holds tau = {tau:g}, so that whether they "
        "may be paired depends on the scores' sampling noise: "
        + "; ".join(f"{a} ~ {b} ({lo:.3f}–{hi:.3f})" for a, b, lo, hi in crossing)
        + ".",
        "",
    ]


def _stability_md(doc: Mapping[str, Any], report: Report) -> list[str]:
    """binarize's stability per config (``--bootstrap``): the figure and its table."""
    uncertainty = uncertainty_of(doc)
    if uncertainty is None or "stability.png" not in report.figures:
        return []
    stability = uncertainty["stability"]
    sure = uncertainty.get("sure_pairs")
    sure = sure if isinstance(sure, Mapping) else None

    def share(value: Any) -> str:
        return "–" if not isinstance(value, int | float) else f"{100 * value:.1f}%"

    rows = [
        [config, share(value), *([share(sure.get(config))] if sure is not None else [])]
        for config, value in stability.items()
    ]
    header = ["config", "stability", *(["sure pairs"] if sure is not None else [])]
    return [
        "## Stability of the pairs",
        "",
        "The share of each config's pairs that stay the same (the same chosen and rejected "
        "model for the instruction; an instruction left unpaired counts as changed) when the "
        f"benchmark scores are redrawn from their sampling noise, averaged over "
        f"{_draws(uncertainty)} draws."
        + (
            " Hatched: the share of pairs whose chosen side is the model with the higher "
            "S_pref in at least 95% of the draws."
            if sure is not None
            else ""
        ),
        "",
        "![Stability of the pairs per config](stability.png)",
        "",
        markdown_table(header, rows),
        "",
    ]


def _preference_markdown(check: dict[str, Any]) -> str:
    """The section of report.md for ``--preference`` (kinship.json's preference_check)."""
    stderr = check.get("stderr_column")
    lines = [
        "",
        "## S_pref against judged preference (--preference)",
        "",
        f"The judge's table: `{check['table']}`, win rate `{check['win_rate_column']}`"
        + (f", standard error `{stderr}`" if stderr else ", no standard error (taken as exact)")
        + f". {len(check['matched'])} of the score table's models are in it"
        + (f"; not in it: {', '.join(check['unmatched'])}" if check["unmatched"] else "")
        + ". Intervals: percentiles over "
        + f"{check['draws']} draws of S_pref from the scores' noise ({check['noise']}) and of "
        "each win rate from its standard error. The pairwise agreement is the share of model "
        "pairs whose S_pref order the judge shares (ties left out); a config's agreement is "
        "the same share over the pairs it forms, weighted by the instructions it forms them for.",
        "",
        "![S_pref against the judge's win rate](preference.png)",
        "",
        markdown_preference(check),
    ]
    return "\n".join(lines) + "\n"


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
    if k.categories:
        lines += [
            "",
            "Categories given: "
            + "; ".join(f"{name} = {', '.join(members)}" for name, members in k.categories.items())
            + ".",
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
        *_s_pref_uncertainty_md(doc),
        "## Kinship matrix",
        "",
        "![Kinship heatmap](kinship_heatmap.png)",
        "",
        *_kinship_uncertainty_md(doc),
        markdown_kinship(doc),
        "",
        below_line
        + ("" if not below else ": " + "; ".join(f"{a} ~ {b} ({v:.3f})" for a, b, v in below))
        + ".",
        "",
        *_stability_md(doc, report),
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
    titles = {
        "all": f"All chosen benchmarks ({k.metric})",
        **CATEGORY_TITLES,
        **{name: name for name in (k.categories or {}) if name not in CATEGORY_TITLES},
    }
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
