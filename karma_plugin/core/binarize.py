"""Turn a response pool and a kinship result into preference tables, one per strategy."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.core import pairing
from karma_plugin.core.defaults import DEFAULT_SEED, DEFAULT_TEST_SIZE
from karma_plugin.core.kinship import DEFAULT_TAU, Kinship
from karma_plugin.core.pairing import KARMA_STRATEGIES, STRATEGIES, Selection, Skip
from karma_plugin.errors import InputError
from karma_plugin.pools.reader import Pool

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
    prompt_ids: np.ndarray  # per pool row
    flat_model: np.ndarray  # per completion: index into the kinship models (-1: not in them)
    dropped: dict[str, Any] = field(default_factory=dict)
    in_pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # usable models


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
    known = pa.array([m.strip().lower() for m in kin.models], pa.string())
    lookup = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(pool.model)), value_set=known)
    flat_model = pc.fill_null(lookup, -1).to_numpy().astype(np.int64)
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

    counted = pool.model.filter(pa.array(unknown & ~drop_rows[row]))
    unknown_names = {
        str(v["values"]): int(v["counts"]) for v in pc.value_counts(counted).to_pylist()
    }
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
    prompt_ids: np.ndarray,
    flat_model: np.ndarray,
    rows: np.ndarray,
    chosen: np.ndarray,
    rejected: np.ndarray,
) -> pa.Table:
    """The docs/design.md columns for the pairs (pool ``rows``, flat ``chosen``/``rejected``).

    One table serves every split, because a `datasets` config has one schema for all its
    splits (a split with other columns fails to load). So it carries both of TRL's
    conversational layouts: `prompt` with `chosen`/`rejected` (preference; `trl dpo`) and
    `prompt` with `completion` (prompt-completion; `trl sft` then trains on the answer only),
    all of them lists of messages, never null: TRL's `is_conversational` looks at whichever
    of these columns a set yields first.
    """

    def text(indices: np.ndarray) -> pa.Array:
        return pc.utf8_trim_whitespace(pool.take_responses(indices)).cast(pa.string())

    chosen_text, rejected_text = text(chosen), text(rejected)
    answer = _messages("assistant", chosen_text)
    instruction = pool.instruction.take(pa.array(rows)).cast(pa.string())
    user = pc.utf8_trim_whitespace(instruction)
    c_model, r_model = flat_model[chosen], flat_model[rejected]
    names = np.array(kin.models, dtype=object)
    return pa.table(
        {
            "prompt_id": pa.array(prompt_ids[rows], pa.string()),
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
            "source": pool.source.take(pa.array(rows)),
            "score_chosen": _nullable(pool.rating[chosen]),
            "score_rejected": _nullable(pool.rating[rejected]),
        }
    )


@dataclass(frozen=True)
class PairSplit:
    """One split of one config, built into Arrow in slices while it is written."""

    pool: Pool
    kin: Kinship
    result: Result
    rows: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        """About the size written, which sets the shard count: the chosen text three times
        (chosen, completion, messages), the rejected text once, and a flat 300 bytes a row for
        the rest (the instruction text is not counted; counting it would change the shard count
        of folders already made)."""
        text = self.pool.response_bytes
        return int(3 * text[self.chosen].sum() + text[self.rejected].sum()) + 300 * len(self.rows)

    def slice_table(self, lo: int, hi: int) -> pa.Table:
        return preference_table(
            self.pool,
            self.kin,
            self.result.prompt_ids,
            self.result.flat_model,
            self.rows[lo:hi],
            self.chosen[lo:hi],
            self.rejected[lo:hi],
        )


def split_tables(pool: Pool, kin: Kinship, result: Result, config: str) -> dict[str, PairSplit]:
    """The four splits of one config; the SFT splits hold the same rows as the preference ones
    (one schema per config: see ``preference_table``)."""
    pairs = result.pairs[config]
    train, test = (
        PairSplit(pool, kin, result, pairs.rows[m], pairs.chosen[m], pairs.rejected[m])
        for m in (~pairs.test, pairs.test)
    )
    return {"train_prefs": train, "test_prefs": test, "train_sft": train, "test_sft": test}


def _order(pool: Pool, digests: np.ndarray, names: np.ndarray, rows, chosen, rejected):
    """Sort pairs by content, so the files do not depend on the pool's row order."""
    hi, lo = digests[rows, 0], digests[rows, 1]
    tiebreak = np.zeros(len(rows), dtype="U64")
    key = hi ^ _mix(lo)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    for i in np.flatnonzero(counts[inverse] > 1):  # repeated instructions only: rare
        both = "\0".join(pool.take_responses(np.array([chosen[i], rejected[i]])).to_pylist())
        tiebreak[i] = hashlib.sha256(both.encode("utf-8")).hexdigest()
    return np.lexsort((tiebreak, names[rejected], names[chosen], lo, hi))


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


def binarize(pool: Pool, kin: Kinship, options: Options) -> Result:
    """Pick one pair per instruction for each strategy in ``options`` (indices only)."""
    if not 0.0 <= options.test_size < 1.0:
        raise InputError(f"--test-size must be in [0, 1), got {options.test_size}")
    raw = pool.prompt_digests()
    prompt_ids = np.array([d.hex() for d in raw], dtype="U64")
    # The first 16 bytes of each digest as two integers: sort keys and random seeds.
    digests = np.frombuffer(b"".join(d[:16] for d in raw), dtype=">u8").reshape(-1, 2)
    digests = digests.astype(np.uint64)
    split_u, draw_u = _uniforms(digests, options.seed)
    test = split_u < options.test_size

    source = pool.source.to_numpy(zero_copy_only=False)
    instruction_blank = pc.match_substring_regex(pool.instruction, r"^\s*$").to_numpy(
        zero_copy_only=False
    )
    forced = np.zeros(pool.n_rows, np.int64)
    forced[instruction_blank] = Skip.empty_instruction
    forced[np.isin(source, list(options.exclude_sources))] = Skip.excluded_source
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
    order = pairing.model_order(
        tuple(kin.models[i] for i in ordered),
        kin.s_pref[ordered],
        kin.kinship[np.ix_(ordered, ordered)],
    )
    # Names as their alphabetical rank, so that sorting compares integers, not strings; only
    # paired completions are sorted, and their models are all in the pool's order.
    flat_local = np.where(flat_model >= 0, local[np.maximum(flat_model, 0)], -1)
    flat_name = np.where(flat_local >= 0, order.name_rank[np.maximum(flat_local, 0)], -1)

    rows_all = np.arange(pool.n_rows)
    pairs, counts, agreement = {}, {}, {}
    for strategy in options.strategies:
        if strategy == "rlaif":
            ratings = np.where(mask, pool.rating[flat_index], np.nan)
            selection = pairing.rlaif(slots, ratings, order, draw_u, options.tau)
        else:
            selection = getattr(pairing, strategy)(slots, order, options.tau)
        keep = (selection.reason == 0) & (forced == 0)
        rows = rows_all[keep]
        chosen = flat_index[rows, selection.chosen[keep]]
        rejected = flat_index[rows, selection.rejected[keep]]
        final = _order(pool, digests, flat_name, rows, chosen, rejected)
        rows, chosen, rejected = rows[final], chosen[final], rejected[final]
        pairs[strategy] = Pairs(rows, chosen, rejected, test[rows])
        counts[strategy] = _counts(strategy, selection, forced)
        if strategy in KARMA_STRATEGIES:
            agreement[strategy] = _agreement(pool, chosen, rejected)
    return Result(pairs, counts, agreement, prompt_ids, flat_model, dropped, in_pool)
