"""Kinship maths (paper §2.2-2.4): pure functions, numpy in and out, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from karma_plugin.errors import InputError
from karma_plugin.score_table import ScoreTable

DEFAULT_TAU = 0.1


def minmax_normalize(values: np.ndarray) -> np.ndarray:
    """Column-wise min-max to [0, 1]. A constant column becomes all zeros (callers drop it)."""
    lo = values.min(axis=0)
    span = values.max(axis=0) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (values - lo) / safe, 0.0)


def preference_scores(normalized: np.ndarray) -> np.ndarray:
    """S_pref: the mean of a model's normalised scores."""
    return normalized.mean(axis=1)


def cosine_kinship(normalized: np.ndarray) -> np.ndarray:
    """S_ij: cosine similarity of the rows; an all-zero row has kinship 0 with every model."""
    norms = np.linalg.norm(normalized, axis=1)
    unit = np.divide(
        normalized, norms[:, None], out=np.zeros_like(normalized), where=norms[:, None] > 0
    )
    return np.clip(unit @ unit.T, -1.0, 1.0)


@dataclass(frozen=True)
class Kinship:
    """Everything binarize and the reports need, indexed by ``models`` and ``benchmarks``."""

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    scores: np.ndarray
    normalized: np.ndarray
    s_pref: np.ndarray
    kinship: np.ndarray
    tau: float = DEFAULT_TAU
    excluded: dict[str, str] = field(default_factory=dict)
    metric: str = "cosine"

    def pairs_below_tau(self) -> list[tuple[str, str, float]]:
        n = len(self.models)
        return [
            (self.models[i], self.models[j], float(self.kinship[i, j]))
            for i in range(n)
            for j in range(i + 1, n)
            if self.kinship[i, j] < self.tau
        ]

    def to_json(self) -> dict[str, Any]:
        """The kinship part of ``kinship.json`` (DESIGN.md contract)."""

        def table(matrix: np.ndarray, cols: tuple[str, ...]) -> dict[str, dict[str, float]]:
            return {
                m: {c: round(float(v), 10) for c, v in zip(cols, row, strict=True)}
                for m, row in zip(self.models, matrix, strict=True)
            }

        return {
            "models": list(self.models),
            "benchmarks": list(self.benchmarks),
            "scores": table(self.scores, self.benchmarks),
            "normalized": table(self.normalized, self.benchmarks),
            "s_pref": {
                m: round(float(s), 10) for m, s in zip(self.models, self.s_pref, strict=True)
            },
            "kinship": table(self.kinship, self.models),
            "kinship_metric": self.metric,
            "tau": self.tau,
            "pairs_below_tau": [[a, b, round(v, 10)] for a, b, v in self.pairs_below_tau()],
            "excluded": dict(self.excluded),
        }


def compute_kinship(
    table: ScoreTable,
    benchmarks: tuple[str, ...] | None = None,
    tau: float = DEFAULT_TAU,
) -> Kinship:
    """Normalise, score and relate the models of ``table`` on ``benchmarks``.

    Models with a missing score on a chosen benchmark are left out, then benchmarks that are
    constant over the remaining models are dropped; both are recorded in ``excluded``.
    """
    if not -1.0 <= tau <= 1.0:
        raise InputError(f"tau must be between -1 and 1, got {tau}")
    chosen = tuple(b for b in (benchmarks or table.benchmarks) if b in table.benchmarks)
    missing_cols = [b for b in (benchmarks or ()) if b not in table.benchmarks]
    excluded: dict[str, str] = {b: "not in the score table" for b in missing_cols}
    if not chosen:
        raise InputError("none of the chosen benchmarks is in the score table")
    cols = [table.benchmarks.index(b) for b in chosen]
    values = table.values[:, cols]

    complete = ~np.isnan(values).any(axis=1)
    for model, row, ok in zip(table.models, values, complete, strict=True):
        if not ok:
            gaps = [b for b, v in zip(chosen, row, strict=True) if np.isnan(v)]
            excluded[model] = f"missing score for {', '.join(gaps)}"
    models = tuple(m for m, ok in zip(table.models, complete, strict=True) if ok)
    values = values[complete]
    if len(models) < 2:
        raise InputError(f"need at least 2 models with complete scores, found {len(models)}")

    varying = values.max(axis=0) > values.min(axis=0)
    for bench, ok in zip(chosen, varying, strict=True):
        if not ok:
            excluded[bench] = "constant across models (carries no information)"
    chosen = tuple(b for b, ok in zip(chosen, varying, strict=True) if ok)
    values = values[:, varying]
    if not chosen:
        raise InputError("every chosen benchmark is constant across the models: nothing to compare")

    normalized = minmax_normalize(values)
    return Kinship(
        models=models,
        benchmarks=chosen,
        scores=values,
        normalized=normalized,
        s_pref=preference_scores(normalized),
        kinship=cosine_kinship(normalized),
        tau=tau,
        excluded=excluded,
    )
