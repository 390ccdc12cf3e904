"""Plain-text and Markdown renderings of a kinship result, for the terminal and the card."""

from __future__ import annotations

from karma_plugin.kinship import Kinship


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


def ranked(k: Kinship) -> list[int]:
    """Model indices by S_pref, best first (ties by name)."""
    return sorted(range(len(k.models)), key=lambda i: (-k.s_pref[i], k.models[i]))


def format_kinship(k: Kinship) -> str:
    order = ranked(k)
    header = ["model", *k.benchmarks, "s_pref"]
    rows = [
        [k.models[i], *(f"{v:.3f}" for v in k.normalized[i]), f"{k.s_pref[i]:.3f}"] for i in order
    ]
    parts = [
        f"Normalised scores and S_pref ({len(k.models)} models, {len(k.benchmarks)} benchmarks)",
        _grid(header, rows),
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
    below = k.pairs_below_tau()
    parts.append(f"Pairs below tau={k.tau:g}: {len(below)}")
    parts += [f"  {a} ~ {b}: {v:.3f}" for a, b, v in sorted(below, key=lambda p: p[2])]
    return "\n".join(parts)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def markdown_scores(k: Kinship) -> str:
    rows = [
        [k.models[i], *(f"{v:.4g}" for v in k.scores[i]), f"{k.s_pref[i]:.3f}"] for i in ranked(k)
    ]
    return markdown_table(["model", *k.benchmarks, "S_pref"], rows)


def markdown_kinship(k: Kinship) -> str:
    order = ranked(k)
    rows = [[k.models[i], *(f"{k.kinship[i, j]:.2f}" for j in order)] for i in order]
    return markdown_table(["", *(k.models[j] for j in order)], rows)
