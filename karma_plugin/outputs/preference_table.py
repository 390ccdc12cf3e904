"""The rows of a KARMA dataset as Arrow tables: the pairs ``core.binarize`` chose, with their
text, in the columns of docs/design.md §7 (``PREFERENCE_SCHEMA``), window by window of the
pool's text, and the sizes that set each split's shard count."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.core.binarize import Pairs, PoolArrays, Result
from karma_plugin.core.kinship import Kinship
from karma_plugin.core.prompts import prompt_ids

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
# Every split of every config, in this order: a `datasets` config has one schema for all its
# splits (see ``preference_table``).
PREFERENCE_SCHEMA = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("instruction", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
        ("completion", MESSAGES),
        ("messages", MESSAGES),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("chosen_s_pref", pa.float64()),
        ("rejected_s_pref", pa.float64()),
        ("kinship", pa.float64()),
        ("source", pa.string()),
        ("score_chosen", pa.float64()),
        ("score_rejected", pa.float64()),
    ]
)


class TextWindow(Protocol):
    """The text of a run of buckets of the pool (``pools.store.Window`` is one)."""

    @property
    def lo(self) -> int: ...

    @property
    def hi(self) -> int: ...

    def instruction(self, entries: np.ndarray) -> pa.Array: ...

    def response(self, keys: np.ndarray) -> pa.Array: ...


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
    pool: PoolArrays,
    kin: Kinship,
    flat_model: np.ndarray,
    window: TextWindow,
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
    columns = {
        "prompt_id": pa.array(prompt_ids(pool.digests[rows]), pa.string()),
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
    return pa.Table.from_arrays(list(columns.values()), schema=PREFERENCE_SCHEMA)


def split_sizes(pool: PoolArrays, result: Result, config: str) -> dict[str, tuple[int, int]]:
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
    pool: PoolArrays, flat_model: np.ndarray, window: TextWindow, pairs: Pairs, lo: int, hi: int
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
    pool: PoolArrays, kin: Kinship, result: Result, windows: Iterable[TextWindow]
) -> Iterator[dict[str, Iterator[tuple[str, pa.Table]]]]:
    """Every config's rows, window by window of the pool's text (``windows``, in bucket order:
    so only one window of text is in memory): per window, for each config, its ``(split,
    table)`` pieces in the split's final order. The configs of a window can be built side by
    side."""
    bucket = {c: pool.digests[p.rows, 0] for c, p in result.pairs.items()}

    def pieces(
        window: TextWindow, pairs: Pairs, lo: int, hi: int
    ) -> Iterator[tuple[str, pa.Table]]:
        order = _tiebreak(pool, result.flat_model, window, pairs, lo, hi)
        test = pairs.test[order]
        for split, picked in (("train_prefs", order[~test]), ("test_prefs", order[test])):
            for start in range(0, len(picked), SLICE_ROWS):
                at = picked[start : start + SLICE_ROWS]
                yield split, preference_table(
                    pool, kin, result.flat_model, window,
                    pairs.rows[at], pairs.chosen[at], pairs.rejected[at],
                )  # fmt: skip

    for window in windows:
        parts = {}
        for config, pairs in result.pairs.items():
            lo, hi = np.searchsorted(bucket[config], [window.lo, window.hi])
            parts[config] = pieces(window, pairs, int(lo), int(hi))
        yield parts
