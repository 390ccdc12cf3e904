"""Per-instruction pair selection for each strategy: pure numpy, vectorised over instructions.

Every function takes ``slots``, an ``(n, K)`` matrix of model indices (one row per
instruction, one column per completion, -1 where the completion is not usable), and
returns a :class:`Selection` of completion columns. The ordering rules (docs/design.md):
S_pref ties are broken by name; ``k_sim`` ties by the higher summed S_pref, then by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, get_args

import numpy as np

# The strategies, which are also the config names of the Hub-ready folder: as a type (the
# Axolotl plugin's schema) and as a tuple.
Strategy = Literal["k_score", "k_sim", "k_score_sim", "rlaif"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
KARMA_STRATEGIES: tuple[str, ...] = tuple(s for s in STRATEGIES if s != "rlaif")

_NONE = np.iinfo(np.int64).max


class Skip(IntEnum):
    """Why an instruction yields no pair; the names are what ``kinship.json`` counts."""

    none = 0
    fewer_than_2_usable_completions = 1
    below_tau = 2
    s_pref_tie = 3
    fewer_than_2_rated_completions = 4
    all_ratings_tied = 5
    excluded_source = 6
    empty_instruction = 7


@dataclass(frozen=True)
class Selection:
    chosen: np.ndarray  # (n,) completion column, meaningful where reason == 0
    rejected: np.ndarray
    reason: np.ndarray  # (n,) Skip codes


@dataclass(frozen=True)
class ModelOrder:
    """Orders over the models that every instruction shares, computed once."""

    s_pref: np.ndarray
    kinship: np.ndarray
    score_rank: np.ndarray  # position by (-S_pref, name)
    pair_rank: np.ndarray  # (M, M) position of the pair by (-kinship, -summed S_pref, names)
    partner_rank: np.ndarray  # (M, M) row a: position of b among a's partners
    name_rank: np.ndarray  # alphabetical position


def model_order(names: tuple[str, ...], s_pref: np.ndarray, kinship: np.ndarray) -> ModelOrder:
    """The orders over ``names`` that the strategies compare. Every order compares two models
    (or two pairs) by their own S_pref, kinship and names alone, so the orders over a subset of
    the models rank that subset exactly as the orders over all of them do: pass the models that
    occur in the pool, not a whole leaderboard (the pair and partner ranks are M x M).

    ``s_pref`` (M,) and ``kinship`` (M, M) may carry leading axes, (draws, M) and (draws, M, M):
    the orders of every draw at once (core/uncertainty.py); the strategies take one order."""
    m = len(names)
    lead = s_pref.shape[:-1]
    name_rank = np.empty(m, np.int64)
    name_rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(m)
    positions = np.broadcast_to(np.arange(m), s_pref.shape)
    score_rank = np.empty(s_pref.shape, np.int64)
    by_score = np.lexsort((np.broadcast_to(name_rank, s_pref.shape), -s_pref), axis=-1)
    np.put_along_axis(score_rank, by_score, positions, axis=-1)

    ii, jj = np.triu_indices(m, k=1)
    shape = (*lead, len(ii))
    lo = np.broadcast_to(np.minimum(name_rank[ii], name_rank[jj]), shape)
    hi = np.broadcast_to(np.maximum(name_rank[ii], name_rank[jj]), shape)
    order = np.lexsort(
        (hi, lo, -(s_pref[..., ii] + s_pref[..., jj]), -kinship[..., ii, jj]), axis=-1
    )
    rank = np.empty(shape, np.int64)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(len(ii)), shape), axis=-1)
    pair_rank = np.full((*lead, m, m), _NONE, np.int64)
    pair_rank[..., ii, jj] = rank
    pair_rank[..., jj, ii] = rank

    # Row a ranks every b by (-kinship[a, b], -S_pref of b, name); a itself sorts last (its key
    # is +inf) and is then marked as no partner.
    diagonal = np.arange(m)
    closeness = -kinship
    closeness[..., diagonal, diagonal] = np.inf
    square = (*lead, m, m)
    ranked = np.lexsort(
        (
            np.broadcast_to(name_rank, square),
            np.broadcast_to(-s_pref[..., None, :], square),
            closeness,
        ),
        axis=-1,
    )
    partner_rank = np.empty(square, np.int64)
    np.put_along_axis(partner_rank, ranked, np.broadcast_to(np.arange(m), square), axis=-1)
    partner_rank[..., diagonal, diagonal] = _NONE
    return ModelOrder(s_pref, kinship, score_rank, pair_rank, partner_rank, name_rank)


def _finish(
    slots: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    ok: np.ndarray,
    order: ModelOrder,
    tau: float,
) -> Selection:
    """Orient each pair (chosen = higher S_pref) and apply tau and the tie rule."""
    rows = np.arange(len(slots))
    a = np.where(ok, slots[rows, first], 0)
    b = np.where(ok, slots[rows, second], 0)
    a_first = order.s_pref[a] >= order.s_pref[b]
    chosen = np.where(a_first, first, second)
    rejected = np.where(a_first, second, first)
    reason = np.full(len(slots), Skip.none, np.int64)
    reason[~ok] = Skip.fewer_than_2_usable_completions
    reason[ok & (order.kinship[a, b] < tau)] = Skip.below_tau
    reason[ok & (reason == 0) & (order.s_pref[a] == order.s_pref[b])] = Skip.s_pref_tie
    return Selection(chosen, rejected, reason)


def _by_score(slots: np.ndarray, order: ModelOrder) -> np.ndarray:
    key = np.where(slots >= 0, order.score_rank[np.maximum(slots, 0)], _NONE)
    return np.argsort(key, axis=1, kind="stable")


def k_score(slots: np.ndarray, order: ModelOrder, tau: float) -> Selection:
    """The two completions whose models have the highest S_pref."""
    ok = (slots >= 0).sum(axis=1) >= 2
    if slots.shape[1] < 2:
        return _finish(
            slots, np.zeros(len(slots), np.int64), np.zeros(len(slots), np.int64), ok, order, tau
        )
    ranked = _by_score(slots, order)
    return _finish(slots, ranked[:, 0], ranked[:, 1], ok, order, tau)


def k_sim(slots: np.ndarray, order: ModelOrder, tau: float) -> Selection:
    """The most similar pair of models among the completions."""
    n, k = slots.shape
    p, q = np.triu_indices(k, k=1)
    if len(p) == 0:
        zeros = np.zeros(n, np.int64)
        return _finish(slots, zeros, zeros, np.zeros(n, bool), order, tau)
    valid = (slots[:, p] >= 0) & (slots[:, q] >= 0)
    ranks = np.where(
        valid, order.pair_rank[np.maximum(slots[:, p], 0), np.maximum(slots[:, q], 0)], _NONE
    )
    best = np.argmin(ranks, axis=1)
    ok = ranks[np.arange(n), best] != _NONE
    return _finish(slots, p[best], q[best], ok, order, tau)


def k_score_sim(slots: np.ndarray, order: ModelOrder, tau: float) -> Selection:
    """The highest-S_pref model with the model most similar to it."""
    n, k = slots.shape
    ok = (slots >= 0).sum(axis=1) >= 2
    if k < 2:
        zeros = np.zeros(n, np.int64)
        return _finish(slots, zeros, zeros, ok, order, tau)
    top = _by_score(slots, order)[:, 0]
    top_model = np.maximum(slots[np.arange(n), top], 0)
    usable = (slots >= 0) & (np.arange(k)[None, :] != top[:, None])
    ranks = np.where(usable, order.partner_rank[top_model[:, None], np.maximum(slots, 0)], _NONE)
    partner = np.argmin(ranks, axis=1)
    return _finish(slots, top, partner, ok, order, tau)


def rlaif(
    slots: np.ndarray, ratings: np.ndarray, order: ModelOrder, draws: np.ndarray, tau: float
) -> Selection:
    """Instance-wise baseline: the best-rated completion against a random strictly worse one.

    ``draws`` holds one number in [0, 1) per instruction, derived from its prompt id, so the
    choice does not depend on row order or sharding. Rating ties go to the name order. As
    in every strategy, a rejected model below tau in kinship with the chosen one is not drawn.
    """
    n, k = slots.shape
    usable = slots >= 0
    rated = usable & ~np.isnan(ratings)
    reason = np.full(n, Skip.none, np.int64)
    reason[usable.sum(axis=1) < 2] = Skip.fewer_than_2_usable_completions
    reason[(reason == 0) & (rated.sum(axis=1) < 2)] = Skip.fewer_than_2_rated_completions
    if k == 0:
        zeros = np.zeros(n, np.int64)
        return Selection(zeros, zeros, reason)
    names = np.where(usable, order.name_rank[np.maximum(slots, 0)], _NONE)
    score = np.where(rated, ratings, -np.inf)
    best = np.lexsort((names, -score), axis=1)[:, 0]
    top = score[np.arange(n), best]
    lower = rated & (score < top[:, None])
    reason[(reason == 0) & ~lower.any(axis=1)] = Skip.all_ratings_tied
    best_model = np.maximum(slots[np.arange(n), best], 0)
    lower &= order.kinship[best_model[:, None], np.maximum(slots, 0)] >= tau
    count = lower.sum(axis=1)
    reason[(reason == 0) & (count == 0)] = Skip.below_tau
    candidates = np.argsort(np.where(lower, names, _NONE), axis=1, kind="stable")
    pick = np.minimum((draws * count).astype(np.int64), np.maximum(count - 1, 0))
    rejected = candidates[np.arange(n), pick]
    return Selection(best, rejected, reason)
