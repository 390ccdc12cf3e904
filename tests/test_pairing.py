"""Each strategy's pair choice on hand-built instructions, ties and tau included."""

import numpy as np
import pytest

from karma_plugin.core import pairing
from karma_plugin.core.pairing import Skip

NAMES = ("a", "b", "c", "d", "e")
S_PREF = np.array([0.9, 0.8, 0.5, 0.5, 0.1])
A, B, C, D, E = range(5)


def kinship(**pairs: float) -> np.ndarray:
    m = np.eye(5)
    for key, value in pairs.items():
        i, j = NAMES.index(key[0]), NAMES.index(key[1])
        m[i, j] = m[j, i] = value
    return m


KIN = kinship(ab=0.2, ac=0.95, ad=0.6, ae=0.05, bc=0.3, bd=0.99, be=0.5, cd=0.4, ce=0.7, de=0.8)
ORDER = pairing.model_order(NAMES, S_PREF, KIN)


def rows(*instructions: tuple[int, ...]) -> np.ndarray:
    width = max(len(r) for r in instructions)
    return np.array([list(r) + [-1] * (width - len(r)) for r in instructions], np.int64)


def picked(selection, slots, i):
    """(chosen model, rejected model, reason) of instruction i."""
    return (
        NAMES[slots[i, selection.chosen[i]]],
        NAMES[slots[i, selection.rejected[i]]],
        Skip(int(selection.reason[i])),
    )


def test_k_score_takes_the_two_best_models():
    slots = rows((C, A, D, B))
    assert picked(pairing.k_score(slots, ORDER, 0.1), slots, 0) == ("a", "b", Skip.none)


def test_k_score_below_tau_and_tie_are_skipped():
    slots = rows((E, A), (D, C), (E, D, C))
    sel = pairing.k_score(slots, ORDER, 0.1)
    assert Skip(int(sel.reason[0])) is Skip.below_tau  # kinship(a, e) = 0.05
    assert Skip(int(sel.reason[1])) is Skip.s_pref_tie  # c and d share S_pref 0.5
    assert Skip(int(sel.reason[2])) is Skip.s_pref_tie  # top two are c, d again


def test_k_sim_takes_the_most_similar_pair_chosen_by_s_pref():
    slots = rows((A, B, C, D), (C, E, D))
    sel = pairing.k_sim(slots, ORDER, 0.1)
    assert picked(sel, slots, 0) == ("b", "d", Skip.none)  # kinship 0.99
    assert picked(sel, slots, 1) == ("d", "e", Skip.none)  # 0.8 beats c-e 0.7 and c-d 0.4


def test_k_sim_ties_go_to_higher_summed_s_pref_then_name():
    kin = kinship(ab=0.1, ac=0.9, ad=0.2, ae=0.2, bc=0.2, bd=0.2, be=0.9, cd=0.2, ce=0.7, de=0.7)
    order = pairing.model_order(NAMES, S_PREF, kin)
    slots = rows((E, B, C, A), (E, D, C))
    sel = pairing.k_sim(slots, order, 0.1)
    # a-c (1.4) and b-e (0.9) tie on kinship 0.9: the higher summed S_pref wins.
    assert picked(sel, slots, 0) == ("a", "c", Skip.none)
    # c-e and d-e tie on kinship and on summed S_pref: the names decide (c before d).
    assert picked(sel, slots, 1) == ("c", "e", Skip.none)


def test_k_sim_best_pair_below_tau_skips():
    slots = rows((A, E))
    assert Skip(int(pairing.k_sim(slots, ORDER, 0.1).reason[0])) is Skip.below_tau
    assert Skip(int(pairing.k_sim(slots, ORDER, 0.01).reason[0])) is Skip.none


def test_k_score_sim_pairs_the_best_model_with_its_closest_kin():
    slots = rows((D, B, C, A), (E, C, B, D))
    sel = pairing.k_score_sim(slots, ORDER, 0.1)
    assert picked(sel, slots, 0) == ("a", "c", Skip.none)  # a's closest is c (0.95)
    assert picked(sel, slots, 1) == ("b", "d", Skip.none)  # b's closest is d (0.99)


def test_k_score_sim_partner_tie_goes_to_higher_s_pref():
    kin = kinship(ab=0.7, ac=0.7, ad=0.7, ae=0.7, bc=0.5, bd=0.5, be=0.5, cd=0.5, ce=0.5, de=0.5)
    order = pairing.model_order(NAMES, S_PREF, kin)
    slots = rows((E, D, C, B, A))
    assert picked(pairing.k_score_sim(slots, order, 0.1), slots, 0) == ("a", "b", Skip.none)


def test_unusable_completions_leave_fewer_than_two():
    slots = rows((A, -1, -1), (-1, -1, -1))
    for strategy in ("k_score", "k_sim", "k_score_sim"):
        sel = getattr(pairing, strategy)(slots, ORDER, 0.1)
        assert [Skip(int(r)) for r in sel.reason] == [Skip.fewer_than_2_usable_completions] * 2


def test_rlaif_best_rating_against_a_strictly_lower_draw():
    slots = rows((A, B, C, D))
    ratings = np.array([[3.0, 5.0, 4.0, 3.0]])
    low = pairing.rlaif(slots, ratings, ORDER, np.array([0.0]), 0.1)
    high = pairing.rlaif(slots, ratings, ORDER, np.array([0.999]), 0.1)
    # Candidates strictly below 5, in name order: a, c, d.
    assert picked(low, slots, 0) == ("b", "a", Skip.none)
    assert picked(high, slots, 0) == ("b", "d", Skip.none)


def test_rlaif_skips_ties_missing_ratings_and_non_kin():
    slots = rows((A, B, C), (A, B, C), (A, E, -1))
    ratings = np.array([[4.0, 4.0, 4.0], [np.nan, 4.0, np.nan], [5.0, 1.0, np.nan]])
    sel = pairing.rlaif(slots, ratings, ORDER, np.array([0.5, 0.5, 0.5]), 0.1)
    assert [Skip(int(r)) for r in sel.reason] == [
        Skip.all_ratings_tied,
        Skip.fewer_than_2_rated_completions,
        Skip.below_tau,
    ]


def test_rlaif_rating_tie_for_best_goes_to_name_order():
    slots = rows((C, A, B))
    ratings = np.array([[5.0, 5.0, 1.0]])
    sel = pairing.rlaif(slots, ratings, ORDER, np.array([0.0]), 0.1)
    assert picked(sel, slots, 0) == ("a", "b", Skip.none)


@pytest.mark.parametrize("strategy", ["k_score", "k_sim", "k_score_sim"])
def test_result_does_not_depend_on_completion_order(strategy):
    rng = np.random.default_rng(0)
    base = np.array([A, B, C, D, E])
    chosen = set()
    for _ in range(10):
        slots = rng.permutation(base)[None, :]
        sel = getattr(pairing, strategy)(slots, ORDER, 0.1)
        chosen.add(picked(sel, slots, 0))
    assert len(chosen) == 1


# --- a leaderboard-sized table: orders over the pool's models only ------------------------------
def _old_partner_rank(names, s_pref, kinship) -> np.ndarray:
    """The per-model loop that ``model_order`` replaced, kept as the reference."""
    m = len(names)
    name_rank = np.empty(m, np.int64)
    name_rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(m)
    ranks = np.full((m, m), np.iinfo(np.int64).max, np.int64)
    for a in range(m):
        others = np.array([b for b in range(m) if b != a], np.int64)
        ranked = others[np.lexsort((name_rank[others], -s_pref[others], -kinship[a, others]))]
        ranks[a, ranked] = np.arange(len(ranked))
    return ranks


def _tied_models(m: int, seed: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """``m`` models whose score vectors repeat, so S_pref and kinship have exact ties."""
    from karma_plugin.core.kinship import cosine_kinship, preference_scores

    rng = np.random.default_rng(seed)
    vectors = rng.integers(0, 4, (m // 3 + 1, 3)).astype(float) / 3.0
    normalized = vectors[rng.integers(0, len(vectors), m)]
    names = tuple(f"model-{i:03d}" for i in rng.permutation(m))
    return names, preference_scores(normalized), cosine_kinship(normalized)


def test_partner_rank_matches_the_per_model_loop():
    names, s_pref, kin = _tied_models(60, seed=1)
    order = pairing.model_order(names, s_pref, kin)
    np.testing.assert_array_equal(order.partner_rank, _old_partner_rank(names, s_pref, kin))


def _same_order(sub: np.ndarray, full: np.ndarray) -> None:
    """``sub`` and ``full`` (already restricted to the same items) sort them alike."""
    np.testing.assert_array_equal(np.argsort(sub, kind="stable"), np.argsort(full, kind="stable"))


def test_orders_over_a_subset_rank_it_as_the_full_orders_do():
    names, s_pref, kin = _tied_models(90, seed=2)
    full = pairing.model_order(names, s_pref, kin)
    subset = np.sort(np.random.default_rng(3).choice(90, 14, replace=False))
    sub = pairing.model_order(
        tuple(names[i] for i in subset), s_pref[subset], kin[np.ix_(subset, subset)]
    )
    _same_order(sub.score_rank, full.score_rank[subset])
    _same_order(sub.name_rank, full.name_rank[subset])
    p, q = np.triu_indices(len(subset), k=1)
    _same_order(sub.pair_rank[p, q], full.pair_rank[subset[p], subset[q]])
    for a in range(len(subset)):
        others = np.delete(np.arange(len(subset)), a)
        _same_order(sub.partner_rank[a, others], full.partner_rank[subset[a], subset[others]])


def test_strategies_pick_the_same_pairs_with_orders_over_the_pool_models_only():
    """What binarize does (orders over the models that answered) against the orders over the
    whole table, on instructions drawn from 12 of 400 models with ties in S_pref and kinship."""
    names, s_pref, kin = _tied_models(400, seed=4)
    rng = np.random.default_rng(5)
    pool_models = rng.choice(400, 12, replace=False)
    n, k = 3000, 4
    slots = np.array([rng.choice(pool_models, k, replace=False) for _ in range(n)], np.int64)
    slots[rng.random((n, k)) < 0.2] = -1
    ratings = np.where(rng.random((n, k)) < 0.1, np.nan, rng.integers(1, 6, (n, k)).astype(float))
    draws = rng.random(n)

    full = pairing.model_order(names, s_pref, kin)
    present = np.unique(slots[slots >= 0])
    local = np.full(400, -1, np.int64)
    local[present] = np.arange(len(present))
    local_slots = np.where(slots >= 0, local[np.maximum(slots, 0)], -1)
    sub = pairing.model_order(
        tuple(names[i] for i in present), s_pref[present], kin[np.ix_(present, present)]
    )
    for tau in (0.1, 0.6):
        for strategy in ("k_score", "k_sim", "k_score_sim"):
            want = getattr(pairing, strategy)(slots, full, tau)
            got = getattr(pairing, strategy)(local_slots, sub, tau)
            for field in ("chosen", "rejected", "reason"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        want = pairing.rlaif(slots, ratings, full, draws, tau)
        got = pairing.rlaif(local_slots, ratings, sub, draws, tau)
        for field in ("chosen", "rejected", "reason"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        assert (want.reason == 0).sum() > 1000  # pairs were formed, not only skips
