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
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from karma_plugin.core.binarize import PoolArrays
from karma_plugin.core.prompts import prompt_digest
from karma_plugin.errors import InputError, RemoteError
from karma_plugin.fs.paths import DATA_FILE_BUILDERS, locate
from karma_plugin.pools import DEFAULT_RATING
from karma_plugin.pools.layout import Layout, Request
from karma_plugin.pools.schema import (
    check_utf8,
    plain_schema,
    provenance_of,
    without_dictionaries,
    without_json,
)
from karma_plugin.pools.store import INSTRUCTION, RESPONSE, TextStore, release_memory
from karma_plugin.pools.streaming import datasets_quiet, stream_hub, stream_json

# A streamed batch is held whole, as Arrow and on its way there: at UltraFeedback's ~14 KB of
# JSON a row, 1,024 rows are about one of the json loader's 10 MB chunks.
_BATCH_ROWS = 1_024
_JOINED_ROWS, _JOINED_BYTES = 8_192, 32 * 1024 * 1024


@dataclass(frozen=True)
class Pool(PoolArrays):
    """The pool as read: its small columns (``core.binarize.PoolArrays``: what the method
    takes), the text in ``store`` (see ``pools.store``; ``keys`` find it), the layout it was
    in, and what `karma-build pool` recorded in it (``provenance``; a single parquet file)."""

    store: TextStore
    layout: str = "ultrafeedback"
    provenance: dict[str, Any] | None = None


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance `karma-build pool` stored in a pool parquet file, or None."""
    import pyarrow.parquet as pq

    return provenance_of(pq.read_schema(path).metadata)


def _parquet_columns(handle: Any, spec: str, request: Request) -> tuple[Layout, list[str]]:
    """The file's layout and the leaf paths to decode: only the fields KARMA uses."""
    layout = request.resolve(plain_schema(handle.schema_arrow), spec)
    top = set(layout.top_columns(handle.schema_arrow.names))
    fields = layout.completion_fields()
    completions = request.name("completions")
    paths = []
    for column in handle.schema:  # leaf columns, e.g. completions.list.element.model
        parts = column.path.split(".")
        if layout.kind == "ultrafeedback" and parts[0] == completions and len(parts) > 3:
            if tuple(parts[3:]) in fields:  # after "completions.list.element" (or ".item")
                paths.append(column.path)
        elif parts[0] in top and (len(parts) == 1 or parts[0] != completions):
            paths.append(column.path)
    return layout, paths


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


def _one_format(folder: Path) -> None:
    """Refuse a pool folder that holds data files of another format, or of two formats, in
    any split or sub-folder: ``datasets`` would read the folder as its commoner format alone
    (train.jsonl beside test.parquet: one split of the two) and skip the others silently.
    Hidden files, Markdown (a card, notes) and files without an extension are left alone."""
    found: dict[str, Path] = {}
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith((".", "__")))
        for name in sorted(names):
            suffix = Path(name).suffix.lower()
            if name.startswith((".", "__")) or suffix in ("", ".md"):
                continue
            file = Path(root) / name
            builder = DATA_FILE_BUILDERS.get(suffix)
            if builder is None:
                raise InputError(
                    f"pool folder {str(folder)!r} holds {str(file.relative_to(folder))!r}: "
                    "expected .json, .jsonl or .parquet files only (the folder is read whole "
                    "or not at all: keep only the pool's files in it)"
                )
            found.setdefault(builder, file)
    if len(found) > 1:
        raise InputError(
            f"pool folder {str(folder)!r} mixes json and parquet files "
            f"({found['json'].relative_to(folder)}, {found['parquet'].relative_to(folder)}); "
            "it is read whole or not at all: keep one format in it"
        )


def _local_files(path: Path, split: str) -> tuple[str, list[Path]]:
    """The pool files at ``path`` (a file or a folder) and their one format, json or parquet.

    A folder mixing formats is refused: ``datasets`` would read only its commoner format, that
    is half the pool, without a word.
    """
    if not path.is_file() and not path.is_dir():
        raise InputError(f"pool {str(path)!r} is neither a file nor a folder")
    if path.is_dir():
        _one_format(path)
    files = [path] if path.is_file() else _split_files(path, split)
    first: dict[str, Path] = {}
    for file in files:
        builder = DATA_FILE_BUILDERS.get(file.suffix.lower())
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
    spec: str,
    split: str = "train",
    request: Request | None = None,
    metadata: list[Any] | None = None,
) -> Iterator[tuple[str, Layout, pa.RecordBatch]]:
    """Record batches of the pool at ``spec`` (a path or a Hub dataset id), each with the file
    (or dataset) it comes from, for messages, and its layout. The schema is checked before the
    first batch, and only the columns the layout uses are read. A pool that is one parquet file
    appends its schema metadata to ``metadata`` as it is opened (read once, not twice)."""
    request = request or Request()
    path = Path(spec)
    if path.is_file() and split != "train":
        raise InputError(
            f"--split {split}: pool {spec!r} is a single file, which holds one split; --split "
            "picks a split of a folder (train*, test*, ... files) or of a Hub dataset"
        )
    where = locate(spec)
    if where == "local":
        builder, files = _local_files(path, split)
        if builder == "parquet":
            one_file = metadata if path.is_file() else None
            for file in files:
                yield from _parquet_row_groups(file, request, one_file)
            return
        streamed = stream_json(spec, files, split, _BATCH_ROWS)
    elif where == "missing":  # data/pool.jsonl is a missing file, not a Hub id to look for
        raise InputError(f"pool {spec!r} not found")
    else:
        streamed = stream_hub(spec, split, _BATCH_ROWS)

    def checked(batch: pa.RecordBatch) -> tuple[Layout, pa.Table]:
        table = without_json(without_dictionaries(pa.Table.from_batches([batch])), spec)
        layout = request.resolve(table.schema, spec)
        table = layout.project(table)
        check_utf8(table, spec)
        return layout, table

    # The streamed batches are small (whole JSON rows, critiques and all); the rows KARMA keeps
    # of them go on in batches of _JOINED_ROWS: the pool's text store sorts each batch.
    held: tuple[Layout, list[pa.Table]] | None = None
    for batch in streamed:
        layout, table = checked(batch)
        if held is not None and held[1][0].schema != table.schema:
            yield from _joined(spec, *held)
            held = None
        held = (layout, [*held[1], table]) if held is not None else (layout, [table])
        if (
            sum(t.num_rows for t in held[1]) >= _JOINED_ROWS
            or sum(t.nbytes for t in held[1]) >= _JOINED_BYTES
        ):
            yield from _joined(spec, *held)
            held = None
    if held is not None:
        yield from _joined(spec, *held)


def _joined(
    spec: str, layout: Layout, parts: list[pa.Table]
) -> Iterator[tuple[str, Layout, pa.RecordBatch]]:
    for batch in pa.concat_tables(parts).combine_chunks().to_batches():
        yield spec, layout, batch


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


def _parquet_row_groups(
    path: Path, request: Request, metadata: list[Any] | None = None
) -> Iterator[tuple[str, Layout, pa.RecordBatch]]:
    """Row groups decoded two at a time (decoding the responses dominates reading), in
    bounded memory: the next group is not decoded before this one is taken."""
    import pyarrow.parquet as pq

    def read(group: int) -> pa.Table:
        table = pq.ParquetFile(path).read_row_group(group, columns=columns, use_threads=False)
        table = without_dictionaries(table)  # pandas' categoricals: their text, as text
        check_utf8(table, str(path))  # here, in the decoding threads
        return table

    try:
        handle = pq.ParquetFile(path)
        if metadata is not None:
            metadata.append(handle.schema_arrow.metadata)
        layout, columns = _parquet_columns(handle, str(path), request)
        with ThreadPoolExecutor(max_workers=2) as workers:
            ahead = deque(workers.submit(read, g) for g in range(min(2, handle.num_row_groups)))
            for group in range(handle.num_row_groups):
                table = ahead.popleft().result()
                if group + 2 < handle.num_row_groups:
                    ahead.append(workers.submit(read, group + 2))
                for batch in table.to_batches():
                    yield str(path), layout, batch
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


def _answer_digests(text: pa.Array) -> np.ndarray:
    """The first 8 bytes of the sha256 of each text, as big-endian integers (their order is
    the digests' order)."""
    digests = b"".join(
        hashlib.sha256(t or b"").digest()[:8] for t in text.cast(pa.binary()).to_pylist()
    )
    return np.frombuffer(digests, ">u8").astype(np.uint64)


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


class _Names:
    """Distinct strings as int32 codes (models, sources: few names, many rows)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, values: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(values)
        local = np.array(
            [self.codes.setdefault(v, len(self.codes)) for v in encoded.dictionary.to_pylist()],
            np.int32,
        )
        return local[encoded.indices.to_numpy(zero_copy_only=False)]

    @property
    def names(self) -> list[str]:
        return list(self.codes)


def read_pool(
    spec: str,
    rating: str = DEFAULT_RATING,
    split: str = "train",
    request: Request | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
) -> Pool:
    """Read the pool at ``spec`` once, in batches: the small columns into memory, the text
    into a ``TextStore`` (spilling beside ``spill_dir`` when large)."""
    request = request or Request(rating=rating)
    store = TextStore(spill_dir)
    try:
        pool = _read(spec, split, request, store)
    except BaseException:
        store.close()
        raise
    release_memory()  # the batches' arrays, now joined
    return pool


def _read(spec: str, split: str, request: Request, store: TextStore) -> Pool:
    metadata: list[Any] = []  # a single parquet file's schema metadata, as it is opened
    digests: list[np.ndarray] = []
    blank_rows, sources, row_of = [], [], []
    models, empties, sizes, ratings, raw_ratings, overall = [], [], [], [], [], []
    answers: list[np.ndarray] = []  # long layout: a digest of each answer (see below)
    model_names, source_names = _Names(), _Names()
    seen: dict[bytes, int] = {}  # long layout: an instruction's entry
    n_entries = n_responses = 0
    layout_kind = ""
    where, first_row = "", 0  # the file a batch comes from and its first row there
    # disable=None: a bar on a terminal, silence in logs and pipes.
    batches = tqdm(
        iter_batches(spec, split, request, metadata),
        desc="reading pool",
        unit=" batches",
        disable=None,
        leave=False,
    )
    for origin, layout, batch in batches:
        if origin != where:
            where, first_row = origin, 0
        if layout_kind and layout.kind != layout_kind:
            raise InputError(
                f"pool {spec!r}: {origin!r} is in the {layout.kind} layout, the files before "
                f"it in the {layout_kind} one"
            )
        layout_kind = layout.kind
        units = layout.units(batch, where, first_row)
        first_row += batch.num_rows
        texts = units.instruction.to_pylist()
        hashes = [prompt_digest(t) for t in texts]
        row_bucket = np.frombuffer(b"".join(h[:1] for h in hashes), np.uint8)
        if layout.kind == "long":
            # One entry per distinct instruction; its text is kept from its first row.
            entry = np.array([seen.setdefault(h, len(seen)) for h in hashes], np.int64)
            distinct, first = np.unique(entry, return_index=True)
            fresh = first[distinct >= n_entries]
        else:
            entry = np.arange(n_entries, n_entries + len(texts), dtype=np.int64)
            fresh = np.arange(len(texts))
        if len(fresh):
            at = pa.array(fresh)
            block = np.frombuffer(b"".join(hashes[i] for i in fresh), np.uint8).reshape(-1, 32)
            digests.append(block)
            instruction = units.instruction.take(at)
            store.add(row_bucket[fresh], entry[fresh], INSTRUCTION, instruction)
            blank = pc.match_substring_regex(instruction, r"^\s*$")
            blank_rows.append(blank.to_numpy(zero_copy_only=False))
            sources.append(source_names.encode(units.source.take(at)))
            n_entries += len(fresh)
        counts = np.diff(units.offsets)
        owner = np.repeat(entry, counts)
        row_of.append(owner)
        keys = np.arange(n_responses, n_responses + len(owner), dtype=np.int64)
        n_responses += len(owner)
        buckets = np.repeat(row_bucket, counts)
        store.add(buckets, keys, RESPONSE, units.response)
        blank, lengths = _blank(units.response)
        empties.append(blank)
        sizes.append(lengths)
        models.append(model_names.encode(units.model))
        ratings.append(units.rating)
        raw_ratings.append(units.raw_rating)
        overall.append(units.overall)
        if layout.kind == "long":
            answers.append(_answer_digests(units.response))
    if n_entries == 0:
        raise InputError(f"pool {spec!r} has no rows")
    empty = np.concatenate(empties).astype(bool) if empties else np.zeros(0, bool)
    if empty.all():
        raise InputError(f"pool {spec!r} has no response: every 'response' is null or empty")
    owner = np.concatenate(row_of)
    # Each entry's responses together (the long layout's rows of one instruction may lie
    # anywhere in the pool); UltraFeedback's layout has them so already. Within an entry the
    # long layout's responses go by the sha256 of their text (then the rating), not by row
    # order: of a model that answered an instruction twice, the first usable answer counts,
    # and "first" must not depend on how the rows were shuffled. Which position a response
    # has changes nothing else (docs/design.md §6).
    grouped = layout_kind == "long"
    if grouped:
        tie = np.nan_to_num(np.concatenate(ratings), nan=np.inf)
        order = np.lexsort((tie, np.concatenate(answers), owner))
    else:
        order = np.arange(len(owner))

    def flat(parts: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(parts)
        return joined[order] if grouped else joined

    rating = flat(ratings)
    # The same ratings under three names, unless they differ: one array (a million rows).
    raw_rating = rating if request.better == "higher" else flat(raw_ratings)
    same = request.rating_field == "overall_score"
    return Pool(
        digests=np.concatenate(digests),
        instruction_blank=np.concatenate(blank_rows).astype(bool),
        source=np.concatenate(sources),
        source_names=source_names.names,
        offsets=np.searchsorted(owner[order] if grouped else owner, np.arange(n_entries + 1)),
        model=flat(models),
        model_names=model_names.names,
        keys=order.astype(np.int64),
        empty=empty[order] if grouped else empty,
        response_bytes=flat(sizes).astype(np.int64),
        rating=rating,
        raw_rating=raw_rating,
        overall=raw_rating if same else flat(overall),
        store=store,
        layout=layout_kind,
        provenance=provenance_of(metadata[0]) if metadata else None,
    )
