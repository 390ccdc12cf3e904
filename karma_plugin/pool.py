"""Read a response pool in UltraFeedback's schema into flat Arrow columns.

A local parquet file is streamed with column projection (only the fields KARMA uses are
decoded, not the critiques and rationales). Anything else (json, jsonl, a folder, a Hub
dataset id) goes through ``datasets.load_dataset``, the same code that fetches
``openbmb/UltraFeedback``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from karma_plugin.errors import InputError, RemoteError

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
RATINGS = ("overall_score", "fine-grained_score", "aspects")
_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_BATCH_ROWS = 16_384


@dataclass(frozen=True)
class Pool:
    """The pool, one entry per instruction, its completions flattened.

    ``offsets[i]:offsets[i+1]`` are row ``i``'s completions in the flat arrays.
    """

    instruction: pa.Array  # contiguous arrays: take() on chunked ones is slow
    source: pa.Array
    offsets: np.ndarray
    model: pa.Array  # flat model names
    response: pa.ChunkedArray  # flat; left in its decoded chunks (see take_responses)
    empty: np.ndarray  # bool, flat: response is empty or whitespace
    response_bytes: np.ndarray  # int, flat: UTF-8 length of each response
    rating: (
        np.ndarray
    )  # float, flat: the rating chosen for rlaif and the score columns (NaN = none)
    overall: np.ndarray  # float, flat: UltraFeedback's overall_score (for the agreement rate)

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    def take_responses(self, indices: np.ndarray) -> pa.Array:
        """``response[indices]`` as one array, copying only the selected strings.

        pyarrow's take() on a chunked string array is slow and concatenating the chunks first
        copies every response: take from each chunk instead, then restore the order.
        """
        chunks = self.response.chunks
        if len(chunks) == 1:
            return chunks[0].take(pa.array(indices))
        starts = np.cumsum([0] + [len(c) for c in chunks])
        which = np.searchsorted(starts, indices, side="right") - 1
        by_chunk = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[by_chunk], np.arange(len(chunks) + 1))
        parts = [
            chunks[c].take(pa.array(indices[by_chunk[lo:hi]] - starts[c]))
            for c, (lo, hi) in enumerate(itertools.pairwise(bounds))
            if hi > lo
        ]
        if not parts:
            return pa.array([], chunks[0].type)
        gathered = pa.concat_arrays(parts)
        restore = np.empty_like(by_chunk)
        restore[by_chunk] = np.arange(len(by_chunk))
        return gathered.take(pa.array(restore))

    def prompt_digests(self) -> list[bytes]:
        """sha256 of each instruction (its hex form is the ``prompt_id``)."""
        return [hashlib.sha256(s.encode("utf-8")).digest() for s in self.instruction.to_pylist()]


def _parquet_columns(handle: Any, rating: str) -> list[str]:
    """Leaf paths to decode: the critiques and rationales are never read."""
    schema = handle.schema_arrow
    if "instruction" not in schema.names or "completions" not in schema.names:
        raise InputError(_missing_message(schema))
    kind = schema.field("completions").type
    if not pa.types.is_list(kind) and not pa.types.is_large_list(kind):
        raise InputError("pool column 'completions' is not a list of completions")
    fields = ["model", "response", "overall_score"]
    if rating == "fine-grained_score":
        fields.append("fine-grained_score")
    wanted = {("instruction",), ("source",)}
    wanted |= {(f,) for f in fields}
    if rating == "aspects":
        wanted |= {("annotations", a, "Rating") for a in ASPECTS}
    paths = []
    for column in handle.schema:  # leaf columns, e.g. completions.list.element.model
        parts = column.path.split(".")
        if parts[0] == "completions" and len(parts) > 3:
            key = tuple(parts[3:])  # after "completions.list.element" (or ".item")
        elif len(parts) == 1:
            key = tuple(parts)
        else:
            continue
        if key in wanted:
            paths.append(column.path)
    return paths


def _missing_message(schema: pa.Schema) -> str:
    return (
        "pool is not in UltraFeedback's schema: it needs columns 'instruction' and "
        f"'completions' (found: {', '.join(schema.names) or 'none'})"
    )


def iter_batches(
    spec: str, split: str = "train", rating: str = "aspects"
) -> Iterator[pa.RecordBatch]:
    """Record batches of the pool at ``spec`` (a path or a Hub dataset id)."""
    path = Path(spec)
    if path.is_file() and path.suffix == ".parquet":
        yield from _parquet_row_groups(path, rating)
        return
    table = _load_with_datasets(spec, split)
    if "instruction" not in table.schema.names or "completions" not in table.schema.names:
        raise InputError(_missing_message(table.schema))
    keep = [n for n in ("instruction", "source", "completions") if n in table.schema.names]
    yield from table.select(keep).to_batches(max_chunksize=_BATCH_ROWS)


def _parquet_row_groups(path: Path, rating: str) -> Iterator[pa.RecordBatch]:
    """Row groups decoded two at a time (decoding the responses dominates reading)."""
    import pyarrow.parquet as pq

    def read(group: int) -> pa.Table:
        return pq.ParquetFile(path).read_row_group(group, columns=columns, use_threads=False)

    try:
        handle = pq.ParquetFile(path)
        columns = _parquet_columns(handle, rating)
        with ThreadPoolExecutor(max_workers=2) as workers:
            for table in workers.map(read, range(handle.num_row_groups)):
                yield from table.to_batches()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read parquet pool {str(path)!r}: {exc}") from None


def _load_with_datasets(spec: str, split: str) -> pa.Table:
    import datasets

    path = Path(spec)
    datasets.disable_progress_bars()
    try:
        if path.is_file():
            builder = _LOCAL_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise InputError(f"pool file {spec!r}: expected .json, .jsonl or .parquet")
            ds = datasets.load_dataset(builder, data_files={split: str(path)}, split=split)
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), split=split)
        elif spec.startswith((".", "/", "~")) or spec.count("/") > 1:
            raise InputError(f"pool {spec!r} not found")
        else:
            from karma_plugin.hub_pull import load_hub_dataset

            ds = load_hub_dataset(spec, split=split)  # Hub faults: one line of its own
    except InputError:
        raise
    except (datasets.exceptions.DatasetGenerationError, pa.ArrowInvalid) as exc:
        cause = exc.__cause__ or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise InputError(f"cannot read pool {spec!r}: {first}") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise InputError(f"pool {spec!r} not found: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise InputError(f"cannot read pool {spec!r}: {str(exc).splitlines()[0]}") from None
    except (ConnectionError, OSError) as exc:
        raise RemoteError(f"cannot fetch pool {spec!r}: {str(exc).splitlines()[0]}") from None
    return ds.data.table


def _as_float(values: pa.Array) -> np.ndarray:
    """Numbers or numeric strings to float; "N/A", text and nulls to NaN."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        numeric = pc.match_substring_regex(values, r"^\s*-?\d+(\.\d+)?\s*$")
        values = pc.if_else(numeric, values, pa.scalar(None, values.type))
        values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _rating(items: pa.StructArray, names: set[str], rating: str, n: int) -> np.ndarray:
    if rating == "aspects":
        if "annotations" not in names:
            return np.full(n, np.nan)
        annotations = items.field("annotations")
        present = {f.name for f in annotations.type}
        columns = [
            _as_float(annotations.field(a).field("Rating"))
            for a in ASPECTS
            if a in present and "Rating" in {f.name for f in annotations.type.field(a).type}
        ]
        if not columns:
            return np.full(n, np.nan)
        stacked = np.vstack(columns)
        counts = (~np.isnan(stacked)).sum(axis=0)
        total = np.nansum(stacked, axis=0)
        return np.divide(total, counts, out=np.full(n, np.nan), where=counts > 0)
    if rating not in names:
        return np.full(n, np.nan)
    return _as_float(items.field(rating))


def _blank(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Empty or whitespace-only (checking only the short strings: a regex over all is slow),
    and the byte lengths."""
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False)
    blank = lengths == 0
    short = np.flatnonzero((lengths > 0) & (lengths <= 64))
    if len(short):
        candidates = text.take(pa.array(short))
        blank[short] = pc.match_substring_regex(candidates, r"^\s*$").to_numpy(zero_copy_only=False)
    return blank, lengths


def _chunks(parts: list) -> list[pa.Array]:
    """The arrays of ``parts`` (arrays or chunked arrays) in order, all of one string type."""
    chunks = []
    for part in parts:
        chunks += part.chunks if isinstance(part, pa.ChunkedArray) else [part]
    if any(pa.types.is_large_string(c.type) for c in chunks):
        chunks = [c.cast(pa.large_string()) for c in chunks]
    return chunks


def _concat(parts: list) -> pa.Array:
    """One contiguous array: ``take`` on a chunked string array is many times slower."""
    chunks = _chunks(parts)
    if not chunks:
        return pa.array([], pa.string())
    # 32-bit offsets hold 2 GiB of text; past that the column needs 64-bit ones.
    if sum(c.nbytes for c in chunks) >= 2**31 - 1:
        chunks = [c.cast(pa.large_string()) for c in chunks]
    return pa.concat_arrays(chunks)


def _chunked(parts: list) -> pa.ChunkedArray:
    chunks = _chunks(parts)
    return pa.chunked_array(chunks, chunks[0].type if chunks else pa.string())


def read_pool(spec: str, rating: str = "overall_score", split: str = "train") -> Pool:
    """Load the pool at ``spec`` and flatten the fields KARMA needs."""
    if rating not in RATINGS:
        raise InputError(f"unknown rating {rating!r} (choose from: {', '.join(RATINGS)})")
    instruction, source, response = [], [], []
    offsets, models, empties, sizes = [np.zeros(1, np.int64)], [], [], []
    ratings, overall = [], []
    base = 0
    # disable=None: a bar on a terminal, silence in logs and pipes.
    batches = tqdm(
        iter_batches(spec, split, rating),
        desc="reading pool",
        unit=" batches",
        disable=None,
        leave=False,
    )
    for batch in batches:
        comps = batch.column("completions")
        if isinstance(comps, pa.ChunkedArray):
            comps = comps.combine_chunks()
        items = comps.flatten()
        names = {f.name for f in items.type}
        missing = {"model", "response"} - names
        if missing:
            raise InputError(f"pool completions lack field(s): {', '.join(sorted(missing))}")
        n_items = len(items)
        # A null completion list spans no items in the offsets: it counts as an empty one.
        offs = comps.offsets.to_numpy().astype(np.int64)
        offs = offs - offs[0]
        offsets.append(offs[1:] + base)
        base += int(offs[-1])
        instruction.append(pc.fill_null(batch.column("instruction"), ""))
        if "source" in batch.schema.names:
            source.append(pc.fill_null(batch.column("source"), ""))
        else:
            source.append(pa.array([""] * batch.num_rows))
        resp = items.field("response")
        resp = pc.fill_null(resp, "") if resp.null_count else resp
        response.append(resp)
        blank, lengths = _blank(resp)
        empties.append(blank)
        sizes.append(lengths)
        models.append(pc.fill_null(items.field("model"), "").cast(pa.string()))
        ratings.append(_rating(items, names, rating, n_items))
        same = rating == "overall_score"
        overall.append(ratings[-1] if same else _rating(items, names, "overall_score", n_items))
    if len(offsets) == 1:
        raise InputError(f"pool {spec!r} has no rows")
    return Pool(
        instruction=_concat(instruction),
        source=_concat(source),
        offsets=np.concatenate(offsets),
        model=_concat(models),
        response=_chunked(response),
        empty=np.concatenate(empties).astype(bool),
        response_bytes=np.concatenate(sizes).astype(np.int64),
        rating=np.concatenate(ratings),
        overall=np.concatenate(overall),
    )
