"""Kinship maths (paper §2.2-2.4): pure functions, numpy in and out, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from karma_plugin.core.score_table import ScoreTable
from karma_plugin.errors import InputError

DEFAULT_TAU = 0.1
# Text meant for reading (kinship.json, the card, the terminal, report.md) lists every model
# of a table up to this size. A larger table (a leaderboard holds thousands of models) lists a
# selection: the models that occur in the pool, or the top ones by S_pref; its full kinship
# matrix goes to a parquet file instead (outputs/matrix.py). A 30-column matrix is about the
# widest that stays legible, and the authors' 16 models are listed in full.
MAX_LISTED_MODELS = 30


def minmax_normalize(values: np.ndarray) -> np.ndarray:
    """Column-wise min-max to [0, 1]. A constant column becomes all zeros (callers drop it).

    ``values`` is (models, benchmarks) or has leading axes, (draws, models, benchmarks): each
    draw is normalised over its own models (core/uncertainty.py)."""
    lo = values.min(axis=-2, keepdims=True)
    span = values.max(axis=-2, keepdims=True) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (values - lo) / safe, 0.0)


def preference_scores(normalized: np.ndarray) -> np.ndarray:
    """S_pref: the mean of a model's normalised scores (the last axis: benchmarks)."""
    return normalized.mean(axis=-1)


def cosine_kinship(normalized: np.ndarray) -> np.ndarray:
    """S_ij: cosine similarity of the rows; an all-zero row has kinship 0 with every model.
    Leading axes (draws) are kept: (draws, models, benchmarks) -> (draws, models, models)."""
    norms = np.linalg.norm(normalized, axis=-1)
    unit = np.divide(
        normalized, norms[..., None], out=np.zeros_like(normalized), where=norms[..., None] > 0
    )
    kinship = unit @ np.swapaxes(unit, -1, -2)
    return np.clip(kinship, -1.0, 1.0, out=kinship)  # in place: M x M is 800 MB at 10,000 models


@dataclass(frozen=True)
class NormalizedScores:
    """The complete rows of a score table on the benchmarks that vary, min-max normalised."""

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    scores: np.ndarray
    normalized: np.ndarray
    excluded: dict[str, str]


@dataclass(frozen=True)
class Kinship(NormalizedScores):
    """The normalised scores and what the paper derives from them (S_pref, the kinship
    matrix, tau): everything binarize and the reports need, indexed by ``models`` and
    ``benchmarks``."""

    s_pref: np.ndarray
    kinship: np.ndarray
    tau: float = DEFAULT_TAU
    metric: str = "cosine"
    # The user's benchmark categories (--category), where given: None means the paper's.
    categories: dict[str, tuple[str, ...]] | None = None

    def restrict(self, indices: np.ndarray) -> Kinship:
        """The same results for the models ``indices`` only (normalised over all of them)."""
        idx = np.asarray(indices, np.int64)
        return replace(
            self,
            models=tuple(self.models[i] for i in idx),
            scores=self.scores[idx],
            normalized=self.normalized[idx],
            s_pref=self.s_pref[idx],
            kinship=self.kinship[np.ix_(idx, idx)],
        )

    def pairs_below_tau(self, among: np.ndarray | None = None) -> list[tuple[str, str, float]]:
        """The pairs below tau among the models ``among`` (indices; all by default), in the
        order of the matrix's upper triangle."""
        idx = np.arange(len(self.models)) if among is None else np.asarray(among, np.int64)
        sub = self.kinship[np.ix_(idx, idx)]
        rows, cols = np.nonzero(np.triu(sub < self.tau, k=1))
        return [
            (self.models[idx[i]], self.models[idx[j]], float(sub[i, j]))
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        ]

    def count_below_tau(self) -> int:
        """How many pairs of models fall below tau, counted in row blocks (no M x M copy)."""
        n = len(self.models)
        block = max(1, 2**23 // max(n, 1))
        total = 0
        for lo in range(0, n, block):
            hi = min(lo + block, n)
            upper = np.arange(n)[None, :] > np.arange(lo, hi)[:, None]
            total += int(np.count_nonzero((self.kinship[lo:hi] < self.tau) & upper))
        return total


@dataclass(frozen=True)
class Listing:
    """The models that text meant for reading shows: indices into ``Kinship.models``, in table
    order, and a phrase saying which they are ("" when they are all of them)."""

    indices: np.ndarray
    rule: str = ""

    @property
    def complete(self) -> bool:
        return not self.rule


def rank_order(models: Sequence[str], s_pref: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices of ``models`` by S_pref, best first, ties by name: the one ranking rule of
    every table, figure and listing (``s_pref`` as in a Kinship or in kinship.json)."""
    return np.lexsort((np.array(models, dtype=object), -np.asarray(s_pref, np.float64)))


def ranked(k: Kinship) -> np.ndarray:
    """Model indices by S_pref, best first (ties by name)."""
    return rank_order(k.models, k.s_pref)


def list_models(
    k: Kinship, in_pool: np.ndarray | None = None, limit: int = MAX_LISTED_MODELS
) -> Listing:
    """Every model when there are at most ``limit``; else the models ``in_pool`` (indices of
    the models that answered in the response pool), or the top ``limit`` by S_pref when there is
    no pool or none of the table's models is in it. Never more than ``limit`` models."""
    n = len(k.models)
    if n <= limit:
        return Listing(np.arange(n))
    order = ranked(k)
    if in_pool is not None and len(in_pool):
        wanted = np.zeros(n, bool)
        wanted[np.asarray(in_pool, np.int64)] = True
        found = int(wanted.sum())
        top = order[wanted[order]][:limit]
        rule = (
            f"the {found} models that occur in the pool"
            if found <= limit
            else f"the {limit} models with the highest S_pref of the {found} that occur in the pool"
        )
    else:
        top, rule = order[:limit], f"the {limit} models with the highest S_pref"
    return Listing(np.sort(top), rule)


def normalize_scores(
    table: ScoreTable, benchmarks: tuple[str, ...] | None = None
) -> NormalizedScores:
    """Models with a missing score on a chosen benchmark are left out, then benchmarks that are
    constant over the remaining models are dropped; both are recorded in ``excluded``."""
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
    return NormalizedScores(models, chosen, values, minmax_normalize(values), excluded)


def compute_kinship(
    table: ScoreTable,
    benchmarks: tuple[str, ...] | None = None,
    tau: float = DEFAULT_TAU,
) -> Kinship:
    """Normalise, score and relate the models of ``table`` on ``benchmarks``
    (``normalize_scores`` says which models and benchmarks take part)."""
    if not -1.0 <= tau <= 1.0:
        raise InputError(f"tau must be between -1 and 1, got {tau}")
    norm = normalize_scores(table, benchmarks)
    return Kinship(
        models=norm.models,
        benchmarks=norm.benchmarks,
        scores=norm.scores,
        normalized=norm.normalized,
        s_pref=preference_scores(norm.normalized),
        kinship=cosine_kinship(norm.normalized),
        tau=tau,
        excluded=norm.excluded,
    )
