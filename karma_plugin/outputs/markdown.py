"""Markdown tables of a kinship document (``outputs.manifest.kinship_document``), shared by the
dataset card (``outputs.card``) and the kinship report (``report.document``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from karma_plugin.core.kinship import rank_order


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


def markdown_scores(
    doc: Mapping[str, Any], code_names: bool = False, with_rank: bool = False
) -> str:
    """The listed models' scores and S_pref, best first, from a kinship document
    (``outputs.manifest.kinship_document``). ``code_names``: names in backticks;
    ``with_rank``: the S_pref rank among all the models, when the table was too large to
    list."""
    benchmarks = doc["benchmarks"]
    rank = doc.get("all_models", {}).get("s_pref_rank") if with_rank else None
    rows = [
        [
            f"`{m}`" if code_names else m,
            *(_fmt(doc["scores"][m].get(b), ".4g") for b in benchmarks),
            _fmt(doc["s_pref"][m], ".3f"),
            *([str(rank[m])] if rank else []),
        ]
        for m in ranked_names(doc)
    ]
    return markdown_table(["model", *benchmarks, "S_pref", *(["rank"] if rank else [])], rows)


def markdown_kinship(doc: Mapping[str, Any], code_names: bool = False) -> str:
    """The listed models' kinship matrix, best first, from a kinship document."""
    order = ranked_names(doc)
    rows = [
        [f"`{a}`" if code_names else a, *(_fmt(doc["kinship"][a][b], ".2f") for b in order)]
        for a in order
    ]
    return markdown_table(["", *order], rows)
