"""Pick one preference pair per instruction of a response pool, for each strategy: indices
into the pool's arrays, in the output's order, with what was skipped and why. The pool comes
in as arrays (``PoolArrays``); the tables and files are ``outputs.preference_table``'s."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from karma_plugin.core import pairing, uncertainty
from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.core.kinship import Kinship
from karma_plugin.core.pairing import KARMA_STRATEGIES, STRATEGIES, Selection, Skip
from karma_plugin.core.score_table import model_key
from karma_plugin.errors import InputError

# Skip reasons reported even when zero, so every kinship.json lists the same keys.
_KARMA_SKIPS = ("fewer_than_2_usable_completions", "below_tau", "s_pref_tie")
_ALWAYS_COUNTED = {
    **dict.fromkeys(KARMA_STRATEGIES, _KARMA_SKIPS),
    "rlaif": (
        "fewer_than_2_usable_completions",
        "fewer_than_2_rated_completions",
        "all_ratings_tied",
        "below_tau",
    ),
}


@dataclass(frozen=True)
class PoolArrays:
    """A response pool as the method sees it: one entry per instruction (per row in
    UltraFeedback's layout, per distinct instruction in the long one), its responses
    flattened, ``offsets[i]:offsets[i+1]`` being entry ``i``'s. Numbers only; the text stays
    with the reader (``pools.reader.Pool`` adds it), found again by ``keys``."""

    digests: np.ndarray  # (n, 32) uint8: sha256 of each instruction (core.prompts)
    instruction_blank: np.ndarray  # bool per entry
    source: np.ndarray  # int32 per entry, into source_names
    source_names: list[str]
    offsets: np.ndarray
    model: np.ndarray  # int32 per response, into model_names
    model_names: list[str]
    keys: np.ndarray  # int64 per response: where its text is kept
    empty: np.ndarray  # bool per response: empty or whitespace
    response_bytes: np.ndarray  # int per response: UTF-8 length
    rating: np.ndarray  # float per response, higher is better (NaN = none): for rlaif
    raw_rating: np.ndarray  # the same rating as the pool holds it: the score_* columns
    overall: np.ndarray  # float per response: UltraFeedback's overall_score (agreement rate)

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class Options:
    """How to pair. tau is the kinship's own (``Kinship.tau``): the one that kinship.json and
    the card publish is the one the pairs were formed with."""

    strategies: tuple[str, ...] = STRATEGIES
    test_size: float = DEFAULT_TEST_SIZE
    seed: int = DEFAULT_SEED
    exclude_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pairs:
    """One config's pairs in their final order: pool row and flat completion indices."""

    rows: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    test: np.ndarray  # bool per pair


@dataclass
class Result:
    pairs: dict[str, Pairs]
    counts: dict[str, dict[str, Any]]
    agreement: dict[str, float | None]
    flat_model: np.ndarray  # per completion: index into the kinship models (-1: not in them)
    dropped: dict[str, Any] = field(default_factory=dict)
    in_pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # usable models
    # With a Resample (--bootstrap): per config, core.uncertainty.PairingDraws.stability's.
    stability: dict[str, float | None] = field(default_factory=dict)
    sure_pairs: dict[str, float | None] = field(default_factory=dict)


def _named(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def parse_strategies(spec: str) -> tuple[str, ...]:
    names = _named(spec)
    if not names:
        raise InputError(
            f"--strategy names no strategy (choose from: {', '.join(STRATEGIES)}, or all)"
        )
    if names == ["all"]:
        return STRATEGIES
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise InputError(
            f"unknown strategy {unknown[0]!r} (choose from: {', '.join(STRATEGIES)}, all)"
        )
    return tuple(s for s in STRATEGIES if s in names)


def without_unrated_rlaif(
    strategies: tuple[str, ...], spec: str, pool: PoolArrays, rating: str
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The strategies that can be built from ``pool``, and why any other was left out.

    rlaif needs instance ratings; a pool with none at all (one from `karma-build pool`) cannot
    give it a single pair. Left out, with the reason recorded, when the strategy ``spec`` was
    ``all``; refused when the user named rlaif, since the run could not do what was asked.
    """
    if "rlaif" not in strategies or not np.isnan(pool.rating).all():
        return strategies, {}
    reason = (
        f"the pool has no instance ratings (--rating {rating}: none of its "
        f"{len(pool.rating)} completions has one)"
    )
    if _named(spec) not in ([], ["all"]):
        raise InputError(f"cannot build rlaif: {reason}; leave rlaif out of --strategy")
    return tuple(s for s in strategies if s != "rlaif"), {"rlaif": reason}


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-mixed 64-bit function of a 64-bit seed."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _uniforms(digests: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers in [0, 1) per prompt, from its sha256 and the seed alone.

    One for the test split, one for RLAIF's draw: neither depends on row order or sharding.
    """
    # Python integers, then one uint64: numpy would warn about the overflow of the sum.
    key = _mix(np.asarray(np.uint64((seed + 0x9E3779B97F4A7C15) % 2**64)))
    scale = 2.0**-53
    split = (_mix(digests[:, 0] ^ key) >> np.uint64(11)).astype(np.float64) * scale
    draw = (_mix(digests[:, 1] ^ key) >> np.uint64(11)).astype(np.float64) * scale
    return split, draw


def completion_slots(
    pool: PoolArrays, kin: Kinship, drop_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The ``(n, K)`` matrices of model indices (-1: unusable) and of flat completion indices,
    the model index of every completion (-1: not in the table), and what was dropped."""
    known: dict[str, int] = {}
    for i, m in enumerate(kin.models):
        known.setdefault(model_key(m), i)  # the first of equal names, as before
    # Each distinct name of the pool looked up once (a pool has a handful, a table thousands).
    name_index = np.array([known.get(model_key(name), -1) for name in pool.model_names], np.int64)
    flat_model = name_index[pool.model] if len(name_index) else np.zeros(0, np.int64)
    counts = np.diff(pool.offsets)
    n, k = pool.n_rows, int(counts.max(initial=0))
    row = np.repeat(np.arange(n), counts)
    pos = np.arange(len(flat_model)) - np.repeat(pool.offsets[:-1], counts)

    unknown = flat_model < 0
    empty = pool.empty & ~unknown
    usable = ~unknown & ~pool.empty & ~drop_rows[row]
    slots = np.full((n, k), -1, np.int64)
    flat_index = np.zeros((n, k), np.int64)
    slots[row, pos] = np.where(usable, flat_model, -1)
    flat_index[row, pos] = np.arange(len(flat_model))

    duplicates = 0
    for j in range(1, k):
        earlier = (slots[:, :j] == slots[:, j : j + 1]).any(axis=1) & (slots[:, j] >= 0)
        duplicates += int(earlier.sum())
        slots[earlier, j] = -1

    tally = np.bincount(pool.model[unknown & ~drop_rows[row]], minlength=len(pool.model_names))
    unknown_names = {pool.model_names[c]: int(tally[c]) for c in np.flatnonzero(tally)}
    dropped = {
        "unknown_model": dict(sorted(unknown_names.items())),
        "empty_response": int((empty & ~drop_rows[row]).sum()),
        "duplicate_model": duplicates,
    }
    return slots, flat_index, flat_model, dropped


def _order(digests: np.ndarray, names: np.ndarray, rows, chosen, rejected):
    """Sort pairs by content, so the files do not depend on the pool's row order (pairs of a
    repeated instruction and the same models: by their text, when written; see _tiebreak)."""
    hi, lo = digests[rows, 0], digests[rows, 1]
    return np.lexsort((names[rejected], names[chosen], lo, hi))


def _counts(strategy: str, selection: Selection, forced: np.ndarray) -> dict[str, Any]:
    reason = np.where(forced > 0, forced, selection.reason)
    tally = Counter(Skip(int(r)).name for r in reason[reason > 0])
    skipped = {name: int(tally.get(name, 0)) for name in _ALWAYS_COUNTED[strategy]}
    skipped.update({k: int(v) for k, v in tally.items()})
    return {"pairs": int((reason == 0).sum()), "skipped": skipped}


def _agreement(pool: PoolArrays, chosen: np.ndarray, rejected: np.ndarray) -> float | None:
    """How often the chosen side also has UltraFeedback's higher overall_score (ties left out)."""
    a, b = pool.overall[chosen], pool.overall[rejected]
    comparable = ~np.isnan(a) & ~np.isnan(b) & (a != b)
    if not comparable.any():
        return None
    return round(float((a[comparable] > b[comparable]).mean()), 6)


def refuse_empty(result: Result, kin: Kinship) -> None:
    """InputError when no config holds a single pair: the folder would hold no split that
    ``datasets`` can load. Says why, per config, and for a table of two models why their
    kinship is 0 (docs/design.md §5)."""
    if any(count["pairs"] for count in result.counts.values()):
        return
    reasons = "; ".join(
        f"{config}: " + (", ".join(f"{k} {v}" for k, v in count["skipped"].items() if v) or "-")
        for config, count in result.counts.items()
    )
    hint = ""
    if len(kin.models) == 2 and kin.metric == "cosine" and float(kin.kinship[0, 1]) < kin.tau:
        hint = (
            "; the score table has 2 models: min-max normalisation over two models makes "
            "each benchmark 1 for one of them and 0 for the other, so their score vectors are "
            f"orthogonal and their kinship is 0, below tau {kin.tau:g}: --tau 0 pairs them, "
            "or add a third model to the table"
        )
    elif any(count["skipped"].get("below_tau") for count in result.counts.values()):
        hint = f"; a lower --tau (now {kin.tau:g}) lets more pairs through"
    raise InputError(f"every config is empty: no instruction gave a pair ({reasons}){hint}")


def binarize(
    pool: PoolArrays,
    kin: Kinship,
    options: Options,
    resample: uncertainty.Resample | None = None,
) -> Result:
    """Pick one pair per instruction for each strategy in ``options`` (indices only); with
    ``resample``, also how stable each strategy's pairs are over the score table's draws."""
    if not 0.0 <= options.test_size < 1.0:
        raise InputError(f"--test-size must be in [0, 1), got {options.test_size}")
    # The first 16 bytes of each digest as two integers: sort keys and random seeds.
    digests = np.ascontiguousarray(pool.digests[:, :16]).view(">u8").astype(np.uint64)
    split_u, draw_u = _uniforms(digests, options.seed)
    test = split_u < options.test_size

    forced = np.zeros(pool.n_rows, np.int64)
    forced[pool.instruction_blank] = Skip.empty_instruction
    excluded = [i for i, name in enumerate(pool.source_names) if name in options.exclude_sources]
    forced[np.isin(pool.source, excluded)] = Skip.excluded_source
    slots, flat_index, flat_model, dropped = completion_slots(pool, kin, forced > 0)
    mask = slots >= 0
    # The orders over the models that answered in the pool (a handful), not over the whole
    # score table (thousands, from a leaderboard): the strategies compare only these, and an
    # order restricted to them ranks them exactly as the full one would.
    in_pool = np.unique(slots[mask])
    # A pool without any model of the table still needs one entry: unusable slots read index 0.
    ordered = in_pool if len(in_pool) else np.zeros(1, np.int64)
    local = np.full(len(kin.models), -1, np.int64)
    local[ordered] = np.arange(len(ordered))
    slots = np.where(mask, local[np.maximum(slots, 0)], -1)
    order_names = tuple(kin.models[i] for i in ordered)
    order = pairing.model_order(
        order_names,
        kin.s_pref[ordered],
        kin.kinship[np.ix_(ordered, ordered)],
    )
    # Names as their alphabetical rank, so that sorting compares integers, not strings; only
    # paired completions are sorted, and their models are all in the pool's order.
    flat_local = np.where(flat_model >= 0, local[np.maximum(flat_model, 0)], -1)
    flat_name = np.where(flat_local >= 0, order.name_rank[np.maximum(flat_local, 0)], -1)

    drawn = None
    if resample is not None:
        draws = uncertainty.pipeline_draws(
            kin, resample.source, resample.draws, resample.seed, ordered
        )
        drawn = uncertainty.PairingDraws(order_names, order, draws.s_pref, draws.kinship, kin.tau)
    # Only rlaif reads ratings (an n x K matrix: not built for nothing on a million rows).
    rlaif = "rlaif" in options.strategies
    ratings = np.where(mask, pool.rating[flat_index], np.nan) if rlaif else np.zeros((0, 0))
    rows_all = np.arange(pool.n_rows)
    pairs, counts, agreement, stability, sure = {}, {}, {}, {}, {}
    for strategy in options.strategies:
        if strategy == "rlaif":
            selection = pairing.rlaif(slots, ratings, order, draw_u, kin.tau)
        else:
            selection = getattr(pairing, strategy)(slots, order, kin.tau)
        keep = (selection.reason == 0) & (forced == 0)
        if drawn is not None:
            stability[strategy], sure[strategy] = drawn.stability(
                strategy, slots, selection, keep, ratings, draw_u
            )
        rows = rows_all[keep]
        chosen = flat_index[rows, selection.chosen[keep]]
        rejected = flat_index[rows, selection.rejected[keep]]
        final = _order(digests, flat_name, rows, chosen, rejected)
        rows, chosen, rejected = rows[final], chosen[final], rejected[final]
        pairs[strategy] = Pairs(rows, chosen, rejected, test[rows])
        counts[strategy] = _counts(strategy, selection, forced)
        if strategy in KARMA_STRATEGIES:
            agreement[strategy] = _agreement(pool, chosen, rejected)
    return Result(pairs, counts, agreement, flat_model, dropped, in_pool, stability, sure)
