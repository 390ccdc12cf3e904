"""Turn a response pool and a kinship result into preference tables, one per strategy."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.core import pairing, uncertainty
from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.core.kinship import DEFAULT_TAU, Kinship
from karma_plugin.core.pairing import KARMA_STRATEGIES, STRATEGIES, Selection, Skip
from karma_plugin.errors import InputError
from karma_plugin.pools.reader import Pool
from karma_plugin.pools.store import TextStore, Window

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
class Options:
    strategies: tuple[str, ...] = STRATEGIES
    tau: float = DEFAULT_TAU
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
    # With a Resample (--bootstrap): per config, core.uncertainty.pair_stability's figures.
    stability: dict[str, float | None] = field(default_factory=dict)
    sure_pairs: dict[str, float | None] = field(default_factory=dict)


def _named(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def parse_strategies(spec: str) -> tuple[str, ...]:
    names = _named(spec)
    if not names or names == ["all"]:
        return STRATEGIES
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise InputError(
            f"unknown strategy {unknown[0]!r} (choose from: {', '.join(STRATEGIES)}, all)"
        )
    return tuple(s for s in STRATEGIES if s in names)


def without_unrated_rlaif(
    strategies: tuple[str, ...], spec: str, pool: Pool, rating: str
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
    key = _mix(np.asarray(np.uint64(seed % 2**64) + np.uint64(0x9E3779B97F4A7C15)))
    scale = 2.0**-53
    split = (_mix(digests[:, 0] ^ key) >> np.uint64(11)).astype(np.float64) * scale
    draw = (_mix(digests[:, 1] ^ key) >> np.uint64(11)).astype(np.float64) * scale
    return split, draw


def completion_slots(
    pool: Pool, kin: Kinship, drop_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The ``(n, K)`` matrices of model indices (-1: unusable) and of flat completion indices,
    the model index of every completion (-1: not in the table), and what was dropped."""
    known: dict[str, int] = {}
    for i, m in enumerate(kin.models):
        known.setdefault(m.strip().lower(), i)  # the first of equal names, as before
    # Each distinct name of the pool looked up once (a pool has a handful, a table thousands).
    name_index = np.array(
        [known.get(name.strip().lower(), -1) for name in pool.model_names], np.int64
    )
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


def _messages(role: str, content: pa.Array) -> pa.Array:
    roles = pa.array([role] * len(content), pa.string())
    items = pa.StructArray.from_arrays([roles, content], names=["role", "content"])
    return pa.ListArray.from_arrays(pa.array(np.arange(len(content) + 1, dtype=np.int32)), items)


def _dialogue(user: pa.Array, assistant: pa.Array) -> pa.Array:
    n = len(user)
    interleave = np.empty(2 * n, np.int64)
    interleave[0::2] = np.arange(n)
    interleave[1::2] = np.arange(n) + n
    content = pc.take(pa.concat_arrays([user, assistant]), pa.array(interleave))
    roles = pa.array(["user", "assistant"] * n, pa.string())
    items = pa.StructArray.from_arrays([roles, content], names=["role", "content"])
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), items)


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def preference_table(
    pool: Pool,
    kin: Kinship,
    flat_model: np.ndarray,
    window: Window,
    rows: np.ndarray,
    chosen: np.ndarray,
    rejected: np.ndarray,
) -> pa.Table:
    """The docs/design.md columns for the pairs (pool ``rows``, flat ``chosen``/``rejected``),
    their text from ``window``.

    One table serves every split, because a `datasets` config has one schema for all its
    splits (a split with other columns fails to load). So it carries both of TRL's
    conversational layouts: `prompt` with `chosen`/`rejected` (preference; `trl dpo`) and
    `prompt` with `completion` (prompt-completion; `trl sft` then trains on the answer only),
    all of them lists of messages, never null: TRL's `is_conversational` looks at whichever
    of these columns a set yields first.
    """

    def text(indices: np.ndarray) -> pa.Array:
        return pc.utf8_trim_whitespace(window.response(pool.keys[indices])).cast(pa.string())

    chosen_text, rejected_text = text(chosen), text(rejected)
    answer = _messages("assistant", chosen_text)
    instruction = window.instruction(rows).cast(pa.string())
    user = pc.utf8_trim_whitespace(instruction)
    c_model, r_model = flat_model[chosen], flat_model[rejected]
    names = np.array(kin.models, dtype=object)
    sources = np.array(pool.source_names, dtype=object)
    return pa.table(
        {
            "prompt_id": pool.prompt_ids(rows),
            "instruction": instruction,
            "prompt": _messages("user", user),
            "chosen": answer,
            "rejected": _messages("assistant", rejected_text),
            "completion": answer,
            "messages": _dialogue(user, chosen_text),
            "chosen_model": pa.array(names[c_model], pa.string()),
            "rejected_model": pa.array(names[r_model], pa.string()),
            "chosen_s_pref": pa.array(kin.s_pref[c_model], pa.float64()),
            "rejected_s_pref": pa.array(kin.s_pref[r_model], pa.float64()),
            "kinship": pa.array(kin.kinship[c_model, r_model], pa.float64()),
            "source": pa.array(sources[pool.source[rows]], pa.string()),
            "score_chosen": _nullable(pool.raw_rating[chosen]),
            "score_rejected": _nullable(pool.raw_rating[rejected]),
        }
    )


def empty_table(kin: Kinship) -> pa.Table:
    """The table of no pairs: the schema of every split."""
    none = np.zeros(0, np.int64)
    window = Window(0, 0, pa.array([], pa.large_string()), none, none, none, none)
    digests = np.zeros((0, 32), np.uint8)
    nothing = np.zeros(0)
    pool = Pool(
        digests=digests,
        instruction_blank=np.zeros(0, bool),
        source=np.zeros(0, np.int32),
        source_names=[],
        offsets=np.zeros(1, np.int64),
        model=np.zeros(0, np.int32),
        model_names=[],
        keys=none,
        empty=np.zeros(0, bool),
        response_bytes=none,
        rating=nothing,
        raw_rating=nothing,
        overall=nothing,
        store=TextStore(),
    )
    return preference_table(pool, kin, none, window, none, none, none)


def split_sizes(pool: Pool, result: Result, config: str) -> dict[str, tuple[int, int]]:
    """Rows and about the bytes written (which set the shard count) of each split of a config:
    the chosen text three times (chosen, completion, messages), the rejected text once, and a
    flat 300 bytes a row for the rest (the instruction text is not counted; counting it would
    change the shard count of folders already made). The SFT splits hold the same rows as the
    preference ones (one schema per config: see ``preference_table``)."""
    pairs = result.pairs[config]
    text = pool.response_bytes
    sizes = {}
    for split, mask in (("train_prefs", ~pairs.test), ("test_prefs", pairs.test)):
        chosen, rejected = pairs.chosen[mask], pairs.rejected[mask]
        nbytes = int(3 * text[chosen].sum() + text[rejected].sum()) + 300 * len(chosen)
        sizes[split] = (len(chosen), nbytes)
    return sizes


SFT_OF = {"train_prefs": "train_sft", "test_prefs": "test_sft"}
SLICE_ROWS = 8_000  # rows built at a time while writing


def _tiebreak(
    pool: Pool, flat_model: np.ndarray, window: Window, pairs: Pairs, lo: int, hi: int
) -> np.ndarray:
    """The order of pairs ``lo:hi`` (a window's, already sorted by prompt and models): pairs of
    a repeated instruction with the same two models are ordered by the sha256 of their texts,
    so that the files do not depend on the pool's row order."""
    order = np.arange(lo, hi)
    rows, chosen, rejected = pairs.rows[lo:hi], pairs.chosen[lo:hi], pairs.rejected[lo:hi]
    same = np.zeros(hi - lo, bool)
    if hi - lo > 1:
        d = pool.digests[rows]
        same[1:] = (
            (d[1:] == d[:-1]).all(axis=1)
            & (flat_model[chosen[1:]] == flat_model[chosen[:-1]])
            & (flat_model[rejected[1:]] == flat_model[rejected[:-1]])
        )
    if not same.any():
        return order
    run_id = np.cumsum(~same)
    for run in np.unique(run_id[same]):
        members = np.flatnonzero(run_id == run)
        keys = pool.keys[np.concatenate([chosen[members], rejected[members]])]
        texts = window.response(keys).to_pylist()
        half = len(members)
        digests = [
            hashlib.sha256(f"{texts[i]}\0{texts[half + i]}".encode()).hexdigest()
            for i in range(half)
        ]
        order[members] = order[members][np.argsort(np.array(digests), kind="stable")]
    return order


def preference_tables(
    pool: Pool, kin: Kinship, result: Result
) -> Iterator[dict[str, Iterator[tuple[str, pa.Table]]]]:
    """Every config's rows, window by window of the pool's text store (so only one window of
    text is in memory): per window, for each config, its ``(split, table)`` pieces in the
    split's final order. The configs of a window can be built side by side."""
    bucket = {c: pool.digests[p.rows, 0] for c, p in result.pairs.items()}

    def pieces(window: Window, pairs: Pairs, lo: int, hi: int) -> Iterator[tuple[str, pa.Table]]:
        order = _tiebreak(pool, result.flat_model, window, pairs, lo, hi)
        test = pairs.test[order]
        for split, picked in (("train_prefs", order[~test]), ("test_prefs", order[test])):
            for start in range(0, len(picked), SLICE_ROWS):
                at = picked[start : start + SLICE_ROWS]
                yield split, preference_table(
                    pool, kin, result.flat_model, window,
                    pairs.rows[at], pairs.chosen[at], pairs.rejected[at],
                )  # fmt: skip

    for window in pool.store.windows():
        parts = {}
        for config, pairs in result.pairs.items():
            lo, hi = np.searchsorted(bucket[config], [window.lo, window.hi])
            parts[config] = pieces(window, pairs, int(lo), int(hi))
        yield parts


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


def _agreement(pool: Pool, chosen: np.ndarray, rejected: np.ndarray) -> float | None:
    """How often the chosen side also has UltraFeedback's higher overall_score (ties left out)."""
    a, b = pool.overall[chosen], pool.overall[rejected]
    comparable = ~np.isnan(a) & ~np.isnan(b) & (a != b)
    if not comparable.any():
        return None
    return round(float((a[comparable] > b[comparable]).mean()), 6)


def binarize(
    pool: Pool, kin: Kinship, options: Options, resample: uncertainty.Resample | None = None
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
        drawn = uncertainty.PairingDraws(
            order_names, order, draws.s_pref, draws.kinship, options.tau
        )
    # Only rlaif reads ratings (an n x K matrix: not built for nothing on a million rows).
    rlaif = "rlaif" in options.strategies
    ratings = np.where(mask, pool.rating[flat_index], np.nan) if rlaif else np.zeros((0, 0))
    rows_all = np.arange(pool.n_rows)
    pairs, counts, agreement, stability, sure = {}, {}, {}, {}, {}
    for strategy in options.strategies:
        if strategy == "rlaif":
            selection = pairing.rlaif(slots, ratings, order, draw_u, options.tau)
        else:
            selection = getattr(pairing, strategy)(slots, order, options.tau)
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
