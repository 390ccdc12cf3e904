"""The report's figures as PNG files. Headless: figures are built with ``matplotlib.figure.Figure``
(Agg canvas), never pyplot, so no display or backend selection is involved and nothing global
is touched. matplotlib and scipy are imported inside the functions (``karma-build --help`` stays
fast)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core.clustering import Clustering
from karma_plugin.core.kinship import Kinship, ranked

DPI = 150
# Red for the baseline, blue tones for the kinship strategies (the paper's Fig. 5 and 6).
BASELINE_COLOR = "#c0392b"
BLUES = ("#1f4e79", "#2e75b6", "#5b9bd5", "#9dc3e6", "#bdd7ee", "#deebf7")
OTHER_COLORS = ("#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
BASELINE_NAMES = frozenset({"baseline", "rlaif"})
UNCERTAIN_COLOR = "#d62728"  # the heatmap's cells whose kinship interval holds tau
CLUSTER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # explicit raster canvas: text extents are measurable before saving
    return fig


def _save(fig, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    fig.savefig(target, format="png", dpi=DPI)
    return target


def kinship_heatmap(
    k: Kinship,
    path: str | os.PathLike[str],
    uncertain: np.ndarray | None = None,
    uncertain_name: str = "",
) -> Path:
    """The kinship matrix, models ordered by S_pref (best first), values in the cells.
    ``uncertain``: a boolean matrix (indexed as ``k.models``) of the cells to mark, hatched
    with a red outline (``--bootstrap``: the pairs whose kinship interval holds tau), which
    the title names as ``uncertain_name``."""
    order = ranked(k)
    names = [k.models[i] for i in order]
    matrix = k.kinship[np.ix_(order, order)]
    n = len(names)
    side = max(5.0, 0.42 * n + 2.5)
    fig = _figure(side + 1.2, side)
    ax = fig.add_subplot()
    lo = min(0.0, float(matrix.min()))
    image = ax.imshow(matrix, cmap="viridis", vmin=lo, vmax=1.0)
    ax.set_xticks(range(n), names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    if n <= 24:
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6 if n > 12 else 8,
                    color="black" if value > lo + 0.6 * (1.0 - lo) else "white",
                )
    title = f"Kinship ({k.metric}); models by S_pref, best first"
    if uncertain is not None:
        from matplotlib.patches import Rectangle

        marked = uncertain[np.ix_(order, order)]
        for i, j in zip(*np.nonzero(marked), strict=True):
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    fill=False,
                    hatch="////",
                    edgecolor=UNCERTAIN_COLOR,
                    linewidth=1.5,
                )
            )
        pairs = int(marked.sum()) // 2
        title += f"\nred hatched: {uncertain_name} ({pairs} pair{'' if pairs == 1 else 's'})"
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="kinship")
    return _save(fig, path)


@dataclass(frozen=True)
class Pca:
    coords: np.ndarray  # (models, 2)
    explained: np.ndarray  # explained variance ratio of PC1, PC2
    loadings: np.ndarray  # (benchmarks, 2)


def pca(normalized: np.ndarray) -> Pca:
    """Principal components of the normalised scores (rows = models), via SVD of the centred
    matrix. The sign of each component is fixed (its largest loading is positive) so the map
    does not flip between runs or machines."""
    centred = normalized - normalized.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    flip = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    vt = vt * flip[:, None]
    total = float((s**2).sum())
    explained = (s**2) / total if total > 0 else np.zeros_like(s)
    comps = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros_like(vt)])
    explained = np.pad(explained[:2], (0, max(0, 2 - explained[:2].size)))
    return Pca(coords=centred @ comps.T, explained=explained, loadings=comps.T)


# Candidate label offsets in points around a point, nearest first: right, left, above, below,
# then the same further out and diagonally.
_OFFSETS = [
    (dx * r, dy * r)
    for r in (1.0, 2.2, 3.4, 4.6)
    for dx, dy in ((6, 0), (-6, 0), (0, 7), (0, -7), (6, 7), (6, -7), (-6, 7), (-6, -7))
]


def place_labels(ax, points: np.ndarray, texts: Sequence[str], **style) -> list:
    """Label each point where its text overlaps no other label, no point and stays inside the
    axes, using the real rendered text extents; the nearest free candidate wins, else the
    first. Moved labels get a thin leader line."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the layout, so extents below are final
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    point_px = ax.transData.transform(points)
    dot = 4.0
    placed: list = []
    annotations = []
    for i, text in enumerate(texts):
        chosen = None
        for dx, dy in _OFFSETS:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            ann = ax.annotate(
                text, points[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, **style
            )
            box = ann.get_window_extent(renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            hits_label = any(box.overlaps(other) for other in placed)
            hits_point = any(
                box.x0 - dot < px < box.x1 + dot and box.y0 - dot < py < box.y1 + dot
                for j, (px, py) in enumerate(point_px)
                if j != i
            )
            if inside and not hits_label and not hits_point:
                chosen = (ann, box, dx, dy)
                break
            ann.remove()
        if chosen is None:
            dx, dy = _OFFSETS[0]
            ann = ax.annotate(
                text, points[i], xytext=(dx, dy), textcoords="offset points", va="center", **style
            )
            chosen = (ann, ann.get_window_extent(renderer), dx, dy)
        ann, box, dx, dy = chosen
        if abs(dx) > 6 or abs(dy) > 7:
            ann.remove()
            ann = ax.annotate(
                text,
                points[i],
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right" if dx < 0 else "center",
                va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5},
                **style,
            )
        placed.append(box)
        annotations.append(ann)
    return annotations


def pca_map(k: Kinship, path: str | os.PathLike[str], labelled: np.ndarray | None = None) -> Path:
    """Fig. 4: models on the first two principal components of their normalised scores, with
    the benchmarks' loadings as arrows. ``labelled``: the models (indices) to mark and name
    when there are too many to name them all; the others are small grey dots."""
    result = pca(k.normalized)
    xy = result.coords
    names = list(k.models)
    if labelled is not None:
        names = [k.models[i] for i in labelled]
    span = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]))) or 1.0
    tips = result.loadings * 0.4 * span
    fig = _figure(9.0, 7.0)
    ax = fig.add_subplot()
    ax.axhline(0, color="#bbbbbb", lw=0.8, zorder=0)
    ax.axvline(0, color="#bbbbbb", lw=0.8, zorder=0)
    if labelled is not None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, c="#bbbbbb", linewidths=0, zorder=2)
        xy, s_pref = xy[labelled], k.s_pref[labelled]
    else:
        s_pref = k.s_pref
    dots = ax.scatter(
        xy[:, 0], xy[:, 1], s=36, c=s_pref, cmap="viridis", edgecolor="black", zorder=3
    )
    fig.colorbar(dots, ax=ax, shrink=0.7, label="S_pref")
    for tip in tips:
        ax.annotate(
            "",
            xy=tuple(tip),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "->", "color": "#c0392b", "lw": 0.8, "alpha": 0.6},
        )
    both = np.vstack([result.coords, tips, [[0.0, 0.0]]])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.25 * (hi - lo) + 1e-9
    ax.set_xlim(lo[0] - 0.6 * pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - 0.4 * pad[1], hi[1] + 0.4 * pad[1])
    ax.set_xlabel(f"PC1 ({100 * result.explained[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * result.explained[1]:.1f}% of variance)")
    shown = "" if labelled is None else f"; {len(names)} of {len(k.models)} models named"
    ax.set_title(
        f"Origin models on the first two principal components of their normalised scores\n"
        f"({len(k.benchmarks)} benchmarks; red arrows: benchmark loadings{shown})",
        fontsize=10,
    )
    labels = place_labels(ax, np.vstack([xy, tips]), [*names, *k.benchmarks], fontsize=8, zorder=4)
    for ann in labels[len(names) :]:
        ann.set_color("#c0392b")
    return _save(fig, path)


def dendrogram(c: Clustering, title: str, path: str | os.PathLike[str]) -> Path:
    """Fig. 7: the linkage as a horizontal dendrogram, the cut as a red dotted line; branches
    below the cut are coloured by cluster."""
    from scipy.cluster import hierarchy

    hierarchy.set_link_color_palette(list(CLUSTER_COLORS))
    try:
        n = len(c.models)
        fig = _figure(8.0, max(3.0, 0.3 * n + 1.4))
        ax = fig.add_subplot()
        hierarchy.dendrogram(
            c.linkage,
            labels=list(c.models),
            orientation="right",
            color_threshold=c.cut,
            above_threshold_color="#888888",
            leaf_font_size=9,
            ax=ax,
        )
    finally:
        hierarchy.set_link_color_palette(None)
    top = max(float(c.linkage[:, 2].max()), c.cut) * 1.08
    ax.set_xlim(0, top)
    ax.axvline(c.cut, color="red", linestyle=":", lw=1.5)
    ax.text(
        c.cut,
        0.005,
        f" cut {c.cut:g}",
        color="red",
        fontsize=8,
        va="bottom",
        ha="left",
        transform=ax.get_xaxis_transform(),
    )
    ax.set_xlabel(f"{c.distance_name}, {c.method} linkage")
    ax.set_title(f"{title}: {len(c.clusters)} clusters at {c.cut:g}", fontsize=10)
    return _save(fig, path)


def s_pref_bars(
    k: Kinship,
    path: str | os.PathLike[str],
    intervals: np.ndarray | None = None,
    interval_name: str = "",
) -> Path:
    """S_pref ranking, best at the top. ``intervals``: (models, 2) lower and upper bounds
    (indexed as ``k.models``, NaN where unknown), drawn as error bars; ``interval_name`` says
    what they are, in the title."""
    order = ranked(k)
    names = [k.models[i] for i in order]
    values = k.s_pref[order]
    fig = _figure(7.5, max(3.0, 0.3 * len(names) + 1.2))
    ax = fig.add_subplot()
    bars = ax.barh(range(len(names)), values, color="#2e75b6")
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.invert_yaxis()
    title = f"Preference score ranking ({len(k.benchmarks)} benchmarks)"
    if intervals is None:
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        ax.set_xlim(0, max(1.0, float(values.max())) * 1.1)
    else:
        _interval_bars(ax, values, intervals[order])
        title += f"\nerror bars: {interval_name}"
    ax.set_xlabel("S_pref (mean of min-max normalised scores)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _interval_bars(ax, values: np.ndarray, intervals: np.ndarray) -> None:
    """Each bar's interval as a capped line, and its value beside the line's end. The interval
    is drawn as it is: it need not hold the point estimate (near the ends of the min-max range
    the draws' S_pref leans inwards)."""
    y = np.arange(len(values))
    lo, hi = intervals[:, 0], intervals[:, 1]
    known = np.isfinite(lo) & np.isfinite(hi)
    ax.hlines(y[known], lo[known], hi[known], color="black", lw=1)
    for ends in (lo, hi):
        ax.plot(ends[known], y[known], "|", color="black", markersize=7, markeredgewidth=1)
    top = max(1.0, float(values.max()), float(hi[known].max()) if known.any() else 0.0)
    ends = np.where(known, np.fmax(values, hi), values)
    for yi, end, value in zip(y, ends, values, strict=True):
        ax.text(end + 0.012 * top, yi, f"{value:.3f}", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.12)


def _share(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else np.nan


def stability_bars(
    stability: Mapping[str, float | None],
    sure_pairs: Mapping[str, float | None] | None,
    title: str,
    path: str | os.PathLike[str],
) -> Path:
    """One bar per config: the share of its pairs that stay the same under the scores'
    sampling noise (solid) and, if given, the share that are sure (hatched); the baseline red,
    the kinship strategies blue, as in Fig. 5 and 6. A config without a value gets no bar
    and the label "n/a"."""
    configs = list(stability)
    colors = _series_colors(configs)
    fig = _figure(max(5.0, 1.3 * len(configs) + 2.0), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(configs))
    series: list[tuple[str, Mapping[str, float | None], dict[str, Any]]] = [
        ("stability", stability, {})
    ]
    if sure_pairs is not None:
        series.append(("sure pairs", sure_pairs, {"hatch": "///", "alpha": 0.55}))
    width = 0.8 / len(series)
    for s, (label, shares, style) in enumerate(series):
        values = np.array([_share(shares.get(c)) for c in configs], float)
        offset = (s - (len(series) - 1) / 2) * width
        bars = ax.bar(
            x + offset, np.nan_to_num(values), width, color=colors, edgecolor="white", **style
        )
        text = ["n/a" if np.isnan(v) else f"{100 * v:.1f}%" for v in values]
        ax.bar_label(bars, labels=text, fontsize=7, padding=2)
        if len(series) > 1:  # the legend shows the style, in neutral grey
            ax.bar([np.nan], [np.nan], color="#888888", label=label, **style)
    ax.set_xticks(x, configs, fontsize=9)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of the config's pairs")
    ax.set_title(title, fontsize=10)
    if len(series) > 1:
        fig.legend(fontsize=8, ncols=2, loc="outside lower center", frameon=False)
    return _save(fig, path)


def _series_colors(names: Sequence[str]) -> list[str]:
    blues = iter(BLUES)
    others = iter(OTHER_COLORS)
    colors = []
    for name in names:
        if name.lower() in BASELINE_NAMES:
            colors.append(BASELINE_COLOR)
        else:
            colors.append(next(blues, None) or next(others, "#444444"))
    return colors


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str,
    path: str | os.PathLike[str],
) -> Path:
    """Fig. 5/6: one group of bars per category, one bar per series (NaN = no bar); the
    baseline (``baseline``/``rlaif``) red, the kinship strategies in blue tones."""
    names = list(series)
    colors = _series_colors(names)
    width = 0.8 / max(1, len(names))
    fig = _figure(max(6.0, 0.35 * len(categories) * max(1, len(names)) + 2.0), 4.6)
    ax = fig.add_subplot()
    x = np.arange(len(categories))
    top = 0.0
    for s, (name, color) in enumerate(zip(names, colors, strict=True)):
        values = np.array(series[name], dtype=float)
        offset = (s - (len(names) - 1) / 2) * width
        bars = ax.bar(x + offset, np.nan_to_num(values), width, label=name, color=color)
        labels = ["" if np.isnan(v) else f"{v:.2f}" for v in values]
        ax.bar_label(bars, labels=labels, fontsize=6, padding=1, rotation=90)
        if np.isfinite(values).any():
            top = max(top, float(np.nanmax(values)))
    ax.set_xticks(x, list(categories), fontsize=9)
    ax.set_ylim(0, max(top * 1.2, 0.05))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.legend(fontsize=8, ncols=min(len(names), 6), loc="outside lower center", frameon=False)
    return _save(fig, path)


def preference_scatter(
    names: Sequence[str],
    s_pref: np.ndarray,
    win_rate: np.ndarray,
    title: str,
    path: str | os.PathLike[str],
    win_label: str = "judged win rate",
) -> Path:
    """S_pref against a judge's win rate, one labelled dot per model both tables have
    (``--preference``): a monotone cloud is a judge that agrees with S_pref."""
    fig = _figure(7.5, 5.5)
    ax = fig.add_subplot()
    ax.scatter(s_pref, win_rate, color=BLUES[1], zorder=3)
    ax.set_xlabel("S_pref (mean of the min-max normalised benchmark scores)")
    ax.set_ylabel(win_label)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    points = np.column_stack([np.asarray(s_pref, float), np.asarray(win_rate, float)])
    place_labels(ax, points, list(names), fontsize=8, zorder=4)  # once the layout is final
    return _save(fig, path)
