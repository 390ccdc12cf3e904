"""Turn a response pool and a kinship result into preference tables, one per strategy."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin import pairing
from karma_plugin.errors import InputError
from karma_plugin.kinship import Kinship
from karma_plugin.pairing import KARMA_STRATEGIES, STRATEGIES, Selection, Skip
from karma_plugin.pool import Pool

DEFAULT_TEST_SIZE = 0.05
DEFAULT_SEED = 42
_ALWAYS_COUNTED = {
    "k_score": ("fewer_than_2_usable_completions", "below_tau", "s_pref_tie"),
    "k_sim": ("fewer_than_2_usable_completions", "below_tau", "s_pref_tie"),
    "k_score_sim": ("fewer_than_2_usable_completions", "below_tau", "s_pref_tie"),
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
    tau: float = 0.1
    test_size: float = DEFAULT_TEST_SIZE
    seed: int = DEFAULT_SEED
    exclude_sources: tuple[str, ...] = ()


@dataclass
class Result:
    """Per-config preference tables (sorted, with a ``_test`` flag column) and the counts."""

    tables: dict[str, pa.Table]
    counts: dict[str, dict[str, Any]]
    agreement: dict[str, float | None]
    dropped: dict[str, Any] = field(default_factory=dict)


def parse_strategies(spec: str) -> tuple[str, ...]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names or names == ["all"]:
        return STRATEGIES
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise InputError(
            f"unknown strategy {unknown[0]!r} (choose from: {', '.join(STRATEGIES)}, all)"
        )
    return tuple(s for s in STRATEGIES if s in names)


def _uniforms(prompt_ids: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers in [0, 1) per prompt id: one for the test split, one for RLAIF's draw."""
    split = np.empty(len(prompt_ids))
    draw = np.empty(len(prompt_ids))
    scale = float(2**64)
    for i, pid in enumerate(prompt_ids):
        digest = hashlib.sha256(f"karma:{seed}:{pid}".encode()).digest()
        split[i] = int.from_bytes(digest[:8], "big") / scale
        draw[i] = int.from_bytes(digest[8:16], "big") / scale
    return split, draw


def completion_slots(
    pool: Pool, kin: Kinship, drop_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The ``(n, K)`` matrix of model indices (-1: unusable) and of flat completion indices."""
    index = {m.strip().lower(): i for i, m in enumerate(kin.models)}
    flat_model = np.fromiter(
        (index.get(str(m).strip().lower(), -1) for m in pool.model), np.int64, len(pool.model)
    )
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

    unknown_names = Counter(str(m) for m in pool.model[unknown & ~drop_rows[row]])
    dropped = {
        "unknown_model": dict(sorted(unknown_names.items())),
        "empty_response": int((empty & ~drop_rows[row]).sum()),
        "duplicate_model": duplicates,
    }
    return slots, flat_index, dropped


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
    prompt_ids: pa.Array,
    test: np.ndarray,
    rows: np.ndarray,
    chosen: np.ndarray,
    rejected: np.ndarray,
    models: np.ndarray,
) -> pa.Table:
    """The DESIGN.md columns for the pairs (``rows``, flat ``chosen``/``rejected`` indices)."""
    take_rows = pa.array(rows)
    chosen_text = pc.utf8_trim_whitespace(pool.response.take(pa.array(chosen))).combine_chunks()
    rejected_text = pc.utf8_trim_whitespace(pool.response.take(pa.array(rejected))).combine_chunks()
    instruction = pool.instruction.take(take_rows).combine_chunks()
    user = pc.utf8_trim_whitespace(instruction)
    c_model, r_model = models[chosen], models[rejected]
    names = np.array(kin.models, dtype=object)
    table = pa.table(
        {
            "prompt_id": prompt_ids.take(take_rows),
            "instruction": instruction,
            "prompt": _messages("user", user),
            "chosen": _messages("assistant", chosen_text),
            "rejected": _messages("assistant", rejected_text),
            "messages": _dialogue(user, chosen_text),
            "chosen_model": pa.array(names[c_model] if len(rows) else [], pa.string()),
            "rejected_model": pa.array(names[r_model] if len(rows) else [], pa.string()),
            "chosen_s_pref": pa.array(kin.s_pref[c_model], pa.float64()),
            "rejected_s_pref": pa.array(kin.s_pref[r_model], pa.float64()),
            "kinship": pa.array(kin.kinship[c_model, r_model], pa.float64()),
            "source": pool.source.take(take_rows).combine_chunks(),
            "score_chosen": _nullable(pool.rating[chosen]),
            "score_rejected": _nullable(pool.rating[rejected]),
        }
    )
    # Sorted on content, so the files do not depend on the pool's row order.
    keys = pa.table(
        {
            "p": table["prompt_id"],
            "c": table["chosen_model"],
            "r": table["rejected_model"],
            "ct": chosen_text,
            "rt": rejected_text,
        }
    )
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])
    table = table.take(order)
    return table.append_column("_test", pa.array(test[rows]).take(order))


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
    """Pick one pair per instruction for each strategy in ``options``."""
    if not 0.0 <= options.test_size < 1.0:
        raise InputError(f"--test-size must be in [0, 1), got {options.test_size}")
    ids = pool.prompt_ids()
    split_u, draw_u = _uniforms(ids, options.seed)
    test = split_u < options.test_size

    source = pool.source.to_numpy(zero_copy_only=False)
    instruction_blank = pc.match_substring_regex(pool.instruction, r"^\s*$").to_numpy(
        zero_copy_only=False
    )
    excluded = np.isin(source, list(options.exclude_sources))
    forced = np.zeros(pool.n_rows, np.int64)
    forced[instruction_blank] = Skip.empty_instruction
    forced[excluded] = Skip.excluded_source
    slots, flat_index, dropped = completion_slots(pool, kin, forced > 0)
    flat_model = np.zeros(len(pool.model), np.int64)
    mask = slots >= 0
    flat_model[flat_index[mask]] = slots[mask]

    order = pairing.model_order(kin.models, kin.s_pref, kin.kinship)
    prompt_ids = pa.array(ids, pa.string())
    rows_all = np.arange(pool.n_rows)
    tables, counts, agreement = {}, {}, {}
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
        tables[strategy] = preference_table(
            pool, kin, prompt_ids, test, rows, chosen, rejected, flat_model
        )
        counts[strategy] = _counts(strategy, selection, forced)
        if strategy in KARMA_STRATEGIES:
            agreement[strategy] = _agreement(pool, chosen, rejected)
    return Result(tables, counts, agreement, dropped)
