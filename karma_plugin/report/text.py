"""Plain-text and Markdown renderings of a kinship result, for the terminal and the card."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from karma_plugin.core.kinship import Kinship, Listing, list_models, rank_order, ranked

if TYPE_CHECKING:
    from karma_plugin.core.uncertainty import Uncertainty


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def listed_ranked(k: Kinship, listing: Listing) -> list[int]:
    """The listed models' indices by S_pref, best first (ties by name)."""
    order = ranked(k)
    return order[np.isin(order, listing.indices)].tolist()


def format_kinship(
    k: Kinship, listing: Listing | None = None, uncertainty: Uncertainty | None = None
) -> str:
    """The terminal view: every model of a small table; of a large one, ``listing`` (default:
    the top ones by S_pref) and the count of pairs below tau among all models. With
    ``uncertainty`` (``--bootstrap``), S_pref's 95% interval and the probability that each
    model stays above the next one."""
    listing = listing or list_models(k)
    order = listed_ranked(k, listing)
    header = ["model", *k.benchmarks, "s_pref"]
    rows = [
        [k.models[i], *(f"{v:.3f}" for v in k.normalized[i]), f"{k.s_pref[i]:.3f}"] for i in order
    ]
    if uncertainty is not None:
        header += ["95% interval", "P(>next)"]
        above = {(a, b): p for a, b, p in uncertainty.s_pref_order}
        names = [k.models[i] for i in order]
        for row, name, after in zip(rows, names, [*names[1:], ""], strict=True):
            lo, hi = uncertainty.s_pref[name]
            row += [f"[{lo:.3f}, {hi:.3f}]", f"{above[name, after]:.2f}" if after else ""]
    shown = "" if listing.complete else f"; shown: {listing.rule}"
    parts = [
        f"Normalised scores and S_pref ({len(k.models)} models, "
        f"{len(k.benchmarks)} benchmarks{shown})",
        _grid(header, rows),
        "",
    ]
    if uncertainty is not None:
        parts += [
            f"Error bars ({uncertainty.method}, {uncertainty.draws} draws, seed "
            f"{uncertainty.seed}): {uncertainty.description}",
            "",
        ]
    # Columns are numbered like the rows: model names would make the matrix too wide.
    krows = [
        [f"{n:>2} {k.models[i]}", *(f"{k.kinship[i, j]:.2f}" for j in order)]
        for n, i in enumerate(order, start=1)
    ]
    numbers = [str(n) for n in range(1, len(order) + 1)]
    parts += [
        f"Kinship ({k.metric}; columns numbered as the rows)",
        _grid(["", *numbers], krows),
        "",
    ]
    if listing.complete:
        below = k.pairs_below_tau()
        parts.append(f"Pairs below tau={k.tau:g}: {len(below)}")
    else:
        below = k.pairs_below_tau(listing.indices)
        n = len(k.models)
        parts.append(
            f"Pairs below tau={k.tau:g}: {k.count_below_tau()} of {n * (n - 1) // 2} "
            f"({len(below)} among the models shown)"
        )
    parts += [f"  {a} ~ {b}: {v:.3f}" for a, b, v in sorted(below, key=lambda p: p[2])]
    return "\n".join(parts)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def ranked_names(doc: Mapping[str, Any]) -> list[str]:
    """The models a kinship document lists, by S_pref, best first (ties by name)."""
    names = list(doc["s_pref"])
    return [names[i] for i in rank_order(names, [doc["s_pref"][m] for m in names])]


def uncertainty_of(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``uncertainty`` key of a kinship document (``--bootstrap``), if it has one."""
    found = doc.get("uncertainty")
    return found if isinstance(found, Mapping) else None


def interval_label(uncertainty: Mapping[str, Any]) -> str:
    """'95%': the level of the intervals."""
    return f"{100 * float(uncertainty.get('interval', 0.95)):g}%"


def bounds(value: Any) -> tuple[float, float] | None:
    """An interval ``[lo, hi]`` of a kinship document as two floats; ``None`` for anything
    else (a document may come from a remote repo)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return float(value[0]), float(value[1])


def _interval(value: Any, spec: str) -> str:
    found = bounds(value)
    return "–" if found is None else f"{format(found[0], spec)}–{format(found[1], spec)}"


def crosses_tau(interval: Any, tau: float) -> bool:
    """A kinship interval that holds tau: whether the pair may be formed (kinship >= tau)
    depends on the scores' sampling noise."""
    found = bounds(interval)
    return found is not None and found[0] < tau <= found[1]


def pairs_crossing_tau(doc: Mapping[str, Any]) -> list[tuple[str, str, float, float]]:
    """The listed model pairs (best first, each once) whose kinship interval holds tau."""
    uncertainty = uncertainty_of(doc)
    intervals = uncertainty.get("kinship") if uncertainty else None
    if not isinstance(intervals, Mapping):
        return []
    order = ranked_names(doc)
    tau = float(doc.get("tau", 0.0))
    found = []
    for x, a in enumerate(order):
        for b in order[x + 1 :]:
            row = intervals.get(a)
            interval = bounds(row.get(b)) if isinstance(row, Mapping) else None
            if interval is not None and crosses_tau(interval, tau):
                found.append((a, b, *interval))
    return found


def unsure_neighbours(doc: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """Models next to each other in the S_pref ranking whose order holds in fewer draws than
    the intervals' level: (higher, lower, share of draws)."""
    uncertainty = uncertainty_of(doc)
    if not uncertainty:
        return []
    held = {
        (p[0], p[1]): float(p[2])
        for p in uncertainty.get("s_pref_order") or []
        if isinstance(p, list | tuple) and len(p) == 3 and isinstance(p[2], int | float)
    }
    level = float(uncertainty.get("interval", 0.95))
    order = ranked_names(doc)
    pairs = [(a, b, held.get((a, b))) for a, b in itertools.pairwise(order)]
    return [(a, b, p) for a, b, p in pairs if p is not None and p < level]


def markdown_scores(
    doc: Mapping[str, Any], code_names: bool = False, with_rank: bool = False
) -> str:
    """The listed models' scores and S_pref, best first, from a kinship document
    (``outputs.manifest.kinship_document``). ``code_names``: names in backticks;
    ``with_rank``: the S_pref rank among all the models, when the table was too large to
    list. A document with an ``uncertainty`` key adds S_pref's interval beside it."""
    benchmarks = doc["benchmarks"]
    rank = doc.get("all_models", {}).get("s_pref_rank") if with_rank else None
    uncertainty = uncertainty_of(doc)
    intervals = (uncertainty.get("s_pref") or {}) if uncertainty else None
    rows = [
        [
            f"`{m}`" if code_names else m,
            *(_fmt(doc["scores"][m].get(b), ".4g") for b in benchmarks),
            _fmt(doc["s_pref"][m], ".3f"),
            *([_interval(intervals.get(m), ".3f")] if intervals is not None else []),
            *([str(rank[m])] if rank else []),
        ]
        for m in ranked_names(doc)
    ]
    header = [
        "model",
        *benchmarks,
        "S_pref",
        *([f"S_pref {interval_label(uncertainty)} interval"] if uncertainty else []),
        *(["rank"] if rank else []),
    ]
    return markdown_table(header, rows)


def markdown_kinship(doc: Mapping[str, Any], code_names: bool = False) -> str:
    """The listed models' kinship matrix, best first, from a kinship document."""
    order = ranked_names(doc)
    rows = [
        [f"`{a}`" if code_names else a, *(_fmt(doc["kinship"][a][b], ".2f") for b in order)]
        for a in order
    ]
    return markdown_table(["", *order], rows)


def _with_interval(fig: Mapping[str, Any], percent: bool) -> tuple[str, str]:
    value, interval = fig.get("value"), fig.get("interval")
    spec = ".1%" if percent else ".3f"
    shown = _fmt(value, spec)
    return shown, "–" if not interval else f"[{interval[0]:{spec}}, {interval[1]:{spec}}]"


def markdown_preference(check: Mapping[str, Any], code_names: bool = False) -> str:
    """kinship.json's ``preference_check`` as two Markdown tables: the figures with their
    intervals, then the models compared (S_pref beside the judge's win rate)."""
    level = f"{100 * float(check.get('interval', 0.95)):g}%"
    rows = [
        [
            "Spearman rank correlation",
            *_with_interval(check["spearman"], False),
            f"{len(check['matched'])} models",
        ],
        [
            "pairwise agreement (all pairs)",
            *_with_interval(check["pairwise_agreement"], True),
            f"{check['pairwise_agreement']['pairs']} model pairs",
        ],
    ]
    for config, fig in check.get("configs", {}).items():
        name = f"`{config}`" if code_names else config
        rows.append(
            [
                f"agreement over {name}'s pairs",
                *_with_interval(fig, True),
                f"{fig['pairs']} instructions",
            ]
        )
    figures = markdown_table(["check", "value", f"{level} interval", "on"], rows)
    win = check.get("win_rate", {})
    s_pref = check.get("s_pref", {})
    order = sorted(check["matched"], key=lambda m: (-s_pref.get(m, 0.0), m))
    models = markdown_table(
        ["model", "judge's name", "S_pref", check["win_rate_column"]],
        [
            [
                f"`{m}`" if code_names else m,
                f"`{check['matched'][m]}`" if code_names else check["matched"][m],
                _fmt(s_pref.get(m), ".3f"),
                _fmt(win.get(m), ".4g"),
            ]
            for m in order
        ],
    )
    return figures + "\n\n" + models
