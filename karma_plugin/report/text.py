"""The plain-text rendering of a kinship result, for the terminal (the Markdown tables the card
and report.md share are ``outputs.markdown``'s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from karma_plugin.core.kinship import Kinship, Listing, list_models, ranked

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
