"""Read a response pool in UltraFeedback's schema into flat Arrow columns.

A local parquet file (or a folder of them) is streamed with column projection (only the fields
KARMA uses are decoded, not the critiques and rationales). Local json/jsonl files and Hub
dataset ids are streamed through ``datasets``' streaming mode (``pools.streaming``), the same
code that fetches ``openbmb/UltraFeedback``. A folder is split into files as ``datasets``
splits it: one mixing json and parquet files is refused. The shape is checked before a batch
is used (``pools.schema``).
"""

from __future__ import annotations

import hashlib
import itertools
import os
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
from karma_plugin.pools import DEFAULT_RATING, RATINGS
from karma_plugin.pools.schema import ASPECTS, check_schema, check_utf8, without_json
from karma_plugin.pools.streaming import datasets_quiet, stream_hub, stream_json

_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# A streamed batch is held whole, as Arrow and on its way there: at UltraFeedback's ~14 KB of
# JSON a row, 1,024 rows are about one of the json loader's 10 MB chunks.
_BATCH_ROWS = 1_024


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


def _parquet_columns(handle: Any, spec: str, rating: str) -> list[str]:
    """Leaf paths to decode: the critiques and rationales are never read."""
    check_schema(handle.schema_arrow, spec, rating)
    fields = ["model", "response", "overall_score"]
    if rating == "fine-grained_score":
        fields.append("fine-grained_score")
    wanted: set[tuple[str, ...]] = {("instruction",), ("source",)}
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


def _first_byte(path: Path) -> bytes:
    """The first byte that is not whitespace (or a byte-order mark); b"" for a blank file."""
    with path.open("rb") as handle:
        chunk = handle.read(1 << 16).removeprefix(b"\xef\xbb\xbf")
        while chunk:
            if text := chunk.lstrip():
                return text[:1]
            chunk = handle.read(1 << 16)
    return b""


def _split_files(folder: Path, split: str) -> list[Path]:
    """The files of ``split`` in ``folder``, found as ``datasets.load_dataset(folder)`` finds
    them (train*, test*, ...; every file when no name says a split; hidden files skipped)."""
    from datasets.data_files import DataFilesDict, EmptyDatasetError, get_data_patterns

    base = str(folder.resolve())
    try:
        files = DataFilesDict.from_patterns(get_data_patterns(base), base_path=base)
    except EmptyDatasetError:
        raise InputError(f"pool folder {str(folder)!r} holds no data files") from None
    if split not in files:
        found = ", ".join(sorted(map(str, files))) or "none"
        raise InputError(f"pool folder {str(folder)!r} has no split {split!r} (found: {found})")
    return [Path(f) for f in files[split] if not f.lower().endswith(".md")]  # cards, notes


def _local_files(path: Path, split: str) -> tuple[str, list[Path]]:
    """The pool files at ``path`` (a file or a folder) and their one format, json or parquet.

    A folder mixing formats is refused: ``datasets`` would read only its commoner format, that
    is half the pool, without a word.
    """
    if not path.is_file() and not path.is_dir():
        raise InputError(f"pool {str(path)!r} is neither a file nor a folder")
    files = [path] if path.is_file() else _split_files(path, split)
    first: dict[str, Path] = {}
    for file in files:
        builder = _LOCAL_BUILDERS.get(file.suffix.lower())
        if builder is None:
            where = "pool file" if file == path else f"pool folder {str(path)!r} holds"
            raise InputError(f"{where} {str(file)!r}: expected .json, .jsonl or .parquet")
        first.setdefault(builder, file)
        try:
            start = _first_byte(file)
        except OSError as exc:
            raise InputError(f"cannot read pool file {str(file)!r}: {exc.strerror}") from None
        if not start:
            raise InputError(f"pool file {str(file)!r} is empty")
        # pyarrow's json reader crashes the process on a first line such as `null`.
        if builder == "json" and start not in (b"{", b"["):
            raise InputError(
                f"pool file {str(file)!r} does not hold JSON objects (one per line, or an "
                "array of them)"
            )
    if len(first) > 1:
        raise InputError(
            f"pool folder {str(path)!r} mixes json and parquet files ({first['json'].name}, "
            f"{first['parquet'].name}); it is read whole or not at all: keep one format in it"
        )
    return next(iter(first)), files


def iter_batches(
    spec: str, split: str = "train", rating: str = "aspects"
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Record batches of the pool at ``spec`` (a path or a Hub dataset id), each with the file
    (or dataset) it comes from, for messages. The schema is checked before the first batch."""
    path = Path(spec)
    if path.exists():
        builder, files = _local_files(path, split)
        if builder == "parquet":
            for file in files:
                for batch in _parquet_row_groups(file, rating):
                    yield str(file), batch
            return
        streamed = stream_json(spec, files, split, _BATCH_ROWS)
    elif path.suffix.lower() in _LOCAL_BUILDERS:
        # data/pool.jsonl is a missing file, not a Hub dataset to look for.
        raise InputError(f"pool {spec!r} not found")
    elif spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise InputError(f"pool {spec!r} not found")
    else:
        streamed = stream_hub(spec, split, _BATCH_ROWS)

    def checked(batch: pa.RecordBatch) -> pa.Table:
        table = without_json(pa.Table.from_batches([batch]), spec)
        check_schema(table.schema, spec, rating)
        keep = [n for n in ("instruction", "source", "completions") if n in table.schema.names]
        table = table.select(keep)
        check_utf8(table, spec)
        return table

    for batch in streamed:
        for part in checked(batch).to_batches():
            yield spec, part


def read_local_table(path: str | os.PathLike[str], split: str = "train") -> pa.Table:
    """A local json/jsonl/parquet file (or a folder of one format) as one Arrow table, checked
    as a pool file is (one format, JSON objects, UTF-8 text); for small tables such as a
    prompt set (a pool is streamed instead)."""
    import pyarrow.parquet as pq

    spec = str(path)
    builder, files = _local_files(Path(path), split)
    if builder == "parquet":
        try:
            table = pa.concat_tables([pq.read_table(f) for f in files])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read parquet file {spec!r}: {exc}") from None
    else:
        with datasets_quiet():
            table = _load_with_datasets(spec, split, files)
    table = without_json(table, spec)
    check_utf8(table, spec)
    return table


def _parquet_row_groups(path: Path, rating: str) -> Iterator[pa.RecordBatch]:
    """Row groups decoded two at a time (decoding the responses dominates reading)."""
    import pyarrow.parquet as pq

    def read(group: int) -> pa.Table:
        table = pq.ParquetFile(path).read_row_group(group, columns=columns, use_threads=False)
        check_utf8(table, str(path))  # here, in the decoding threads
        return table

    try:
        handle = pq.ParquetFile(path)
        columns = _parquet_columns(handle, str(path), rating)
        with ThreadPoolExecutor(max_workers=2) as workers:
            for table in workers.map(read, range(handle.num_row_groups)):
                yield from table.to_batches()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read parquet pool {str(path)!r}: {exc}") from None


def _load_with_datasets(spec: str, split: str, files: list[Path]) -> pa.Table:
    """The local json ``files`` through ``datasets``, whole (a pool is streamed instead)."""
    import datasets

    datasets.disable_progress_bars()
    try:
        data_files = {split: [str(f) for f in files]}
        ds = datasets.load_dataset("json", data_files=data_files, split=split)
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
    chunks: list[pa.Array] = []
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


def _text(values: pa.Array) -> pa.Array:
    """Text with nulls as empty strings (a column of nulls only has Arrow's null type)."""
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    return pc.fill_null(values, "") if values.null_count else values


def _place(offsets: np.ndarray, flat: int, first_row: int) -> str:
    """'row R, completion C' (counted from 1) of flat item ``flat`` of a batch."""
    row = int(np.searchsorted(offsets, flat, side="right")) - 1
    return f"row {first_row + row + 1}, completion {flat - int(offsets[row]) + 1}"


def read_pool(spec: str, rating: str = DEFAULT_RATING, split: str = "train") -> Pool:
    """Load the pool at ``spec`` and flatten the fields KARMA needs."""
    if rating not in RATINGS:
        raise InputError(f"unknown rating {rating!r} (choose from: {', '.join(RATINGS)})")
    instruction, source, response = [], [], []
    offsets, models, empties, sizes = [np.zeros(1, np.int64)], [], [], []
    ratings, overall = [], []
    base = 0
    where, first_row = "", 0  # the file a batch comes from and its first row there
    # disable=None: a bar on a terminal, silence in logs and pipes.
    batches = tqdm(
        iter_batches(spec, split, rating),
        desc="reading pool",
        unit=" batches",
        disable=None,
        leave=False,
    )
    for origin, batch in batches:
        if origin != where:
            where, first_row = origin, 0
        comps = batch.column("completions")
        if isinstance(comps, pa.ChunkedArray):
            comps = comps.combine_chunks()
        items = comps.flatten()
        names = {f.name for f in items.type}
        n_items = len(items)
        # A null completion list spans no items in the offsets: it counts as an empty one.
        offs = comps.offsets.to_numpy().astype(np.int64)
        offs = offs - offs[0]
        if items.null_count:
            at = _place(offs, pc.index(items.is_null(), True).as_py(), first_row)
            raise InputError(f"pool {where!r}: {at} is null, not a completion")
        model = items.field("model")
        if model.null_count:
            at = _place(offs, pc.index(model.is_null(), True).as_py(), first_row)
            raise InputError(f"pool {where!r}: {at} has no 'model'")
        offsets.append(offs[1:] + base)
        base += int(offs[-1])
        instruction.append(_text(batch.column("instruction")))
        if "source" in batch.schema.names:
            source.append(_text(batch.column("source")))
        else:
            source.append(pa.array([""] * batch.num_rows))
        resp = _text(items.field("response"))
        response.append(resp)
        blank, lengths = _blank(resp)
        empties.append(blank)
        sizes.append(lengths)
        models.append(model.cast(pa.string()))
        ratings.append(_rating(items, names, rating, n_items))
        same = rating == "overall_score"
        overall.append(ratings[-1] if same else _rating(items, names, "overall_score", n_items))
        first_row += batch.num_rows
    if len(offsets) == 1:
        raise InputError(f"pool {spec!r} has no rows")
    if all(blank.all() for blank in empties):
        raise InputError(f"pool {spec!r} has no response: every 'response' is null or empty")
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
