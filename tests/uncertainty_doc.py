"""An ``uncertainty`` key of kinship.json (the schema in docs/design.md), built here from the
binomial model, so that the card and the report can be checked on realistic intervals without
``--bootstrap``. It follows the schema only: the method's own tests are elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from karma_plugin.core.kinship import (
    Kinship,
    cosine_kinship,
    minmax_normalize,
    preference_scores,
    rank_order,
)

# The benchmarks' item counts (issue 18).
PAPER_ITEMS = {
    "ifeval": 541,
    "mmlu_stem": 3153,
    "mmlu_pro": 12032,
    "hellaswag": 10042,
    "arc_easy": 2376,
    "arc_challenge": 1172,
}


def uncertainty_key(
    kin: Kinship,
    items: Mapping[str, int] | int = PAPER_ITEMS,
    draws: int = 200,
    seed: int = 0,
    stability: Mapping[str, float | None] | None = None,
    sure_pairs: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Intervals of S_pref and kinship and the S_pref order of every pair of ``kin``'s models,
    each score drawn as a proportion of ``items`` items (one count for all, or per benchmark);
    ``stability`` and ``sure_pairs`` are binarize's per-config shares, given as they are."""
    n = np.array([items if isinstance(items, int) else items[b] for b in kin.benchmarks], float)
    scale = np.where(kin.scores.max(axis=0) > 1.0, 100.0, 1.0)
    p = kin.scores / scale
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((draws, *p.shape)) * np.sqrt(p * (1 - p) / n)
    drawn = np.clip(p + noise, 0.0, 1.0)
    s_pref = np.empty((draws, len(kin.models)))
    kinship = np.empty((draws, len(kin.models), len(kin.models)))
    for d in range(draws):
        normalized = minmax_normalize(drawn[d])
        s_pref[d], kinship[d] = preference_scores(normalized), cosine_kinship(normalized)
    s_lo, s_hi = np.percentile(s_pref, [2.5, 97.5], axis=0)
    k_lo, k_hi = np.percentile(kinship, [2.5, 97.5], axis=0)
    names = kin.models
    order = rank_order(names, kin.s_pref)
    key: dict[str, Any] = {
        "method": "binomial",
        "description": "Each score drawn as a proportion of its benchmark's items (Normal, "
        "sd sqrt(p(1-p)/n), clipped to [0, 1]), benchmarks and models independent.",
        "draws": draws,
        "seed": seed,
        "interval": 0.95,
        "items": {b: int(v) for b, v in zip(kin.benchmarks, n, strict=True)},
        "s_pref": {m: [round(s_lo[i], 6), round(s_hi[i], 6)] for i, m in enumerate(names)},
        "kinship": {
            a: {b: [round(k_lo[i, j], 6), round(k_hi[i, j], 6)] for j, b in enumerate(names)}
            for i, a in enumerate(names)
        },
        "s_pref_order": [
            [names[i], names[j], round(float((s_pref[:, i] > s_pref[:, j]).mean()), 6)]
            for x, i in enumerate(order)
            for j in order[x + 1 :]
        ],
    }
    if stability is not None:
        key["stability"] = dict(stability)
    if sure_pairs is not None:
        key["sure_pairs"] = dict(sure_pairs)
    return key
