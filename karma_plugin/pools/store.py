"""The pool's text (instructions and responses), kept out of the way until it is written.

The pairs are chosen from the small columns alone (models, ratings, lengths); the text is
needed only when the output is written, in the output's order: by prompt id (the sha256 of
the instruction). So each text goes into one of 256 buckets by the first byte of its
instruction's digest: bucket after bucket is then the output's order, and a run of buckets
(a window) holds every text of a contiguous part of every config. Buckets stay in memory
while they are small and spill to Arrow IPC files beside the output when they are not, so
memory does not grow with the pool: an external bucket sort.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

N_BUCKETS = 256
SPILL_BYTES = 256 * 1024 * 1024  # text held in memory before the buckets go to disk
WINDOW_BYTES = 128 * 1024 * 1024  # text of the buckets read back at a time (at least one)
INSTRUCTION, RESPONSE = 0, 1
# LZ4 on the spill: text shrinks two to four times, at a cost far below the disk's time.
_SPILL_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
_SCHEMA = pa.schema([("id", pa.int64()), ("kind", pa.int8()), ("text", pa.large_string())])


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc only; elsewhere nothing).

    A pool's many batch-sized arrays come and go; glibc keeps the freed pages in its heaps,
    and the process's resident memory then grows with the pool although the live data does
    not (measured: 1.9 GB instead of 1.2 GB at a million rows)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class Window:
    """The texts of buckets ``lo`` to ``hi - 1``: instructions by entry, responses by key."""

    lo: int
    hi: int
    text: pa.Array
    entry_ids: np.ndarray  # sorted, with ``entry_at``: where each entry's text is
    entry_at: np.ndarray
    response_ids: np.ndarray  # sorted, with ``response_at``
    response_at: np.ndarray

    def instruction(self, entries: np.ndarray) -> pa.Array:
        at = self.entry_at[np.searchsorted(self.entry_ids, entries)]
        return self.text.take(pa.array(at))

    def response(self, keys: np.ndarray) -> pa.Array:
        return self.text.take(pa.array(self.response_at[np.searchsorted(self.response_ids, keys)]))


class TextStore:
    """Texts by bucket; ``add`` while reading, then ``windows`` once, in bucket order."""

    def __init__(self, spill_dir: str | os.PathLike[str] | None = None) -> None:
        self._parent = spill_dir
        self._folder: Path | None = None
        self._pending: list[list[pa.RecordBatch]] = [[] for _ in range(N_BUCKETS)]
        self._pending_bytes = 0
        self._bytes = np.zeros(N_BUCKETS, np.int64)  # per bucket, in memory and on disk
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        # One spill writes in the background while the pool is read on (the disk and the
        # decoding overlap); the next one waits for it, so at most two loads are in memory.
        self._background = ThreadPoolExecutor(max_workers=1)
        self._spilling: Future[None] | None = None

    def add(self, buckets: np.ndarray, ids: np.ndarray, kind: int, texts: pa.Array) -> None:
        """Keep ``texts[i]`` (an instruction or a response, ``kind``) under ``ids[i]`` in
        bucket ``buckets[i]``."""
        if len(texts) == 0:
            return
        order = np.argsort(buckets, kind="stable")
        sorted_buckets = buckets[order]
        bounds = np.searchsorted(sorted_buckets, np.arange(N_BUCKETS + 1))
        batch = pa.record_batch(
            [
                pa.array(ids[order], pa.int64()),
                pa.array(np.full(len(order), kind, np.int8)),
                texts.take(pa.array(order)).cast(pa.large_string()),
            ],
            schema=_SCHEMA,
        )
        lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False)
        sizes = np.bincount(buckets, weights=lengths, minlength=N_BUCKETS).astype(np.int64)
        self._bytes += sizes
        self._pending_bytes += int(sizes.sum())
        for bucket in np.flatnonzero(np.diff(bounds)):
            lo, hi = bounds[bucket], bounds[bucket + 1]
            self._pending[bucket].append(batch.slice(lo, hi - lo))
        if self._pending_bytes > SPILL_BYTES:
            self._spill()

    def _spill(self) -> None:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=".karma-spill-", dir=self._parent))
        self._wait_spill()
        load, self._pending = self._pending, [[] for _ in range(N_BUCKETS)]
        self._pending_bytes = 0
        self._spilling = self._background.submit(self._write, self._folder, load)

    def _write(self, folder: Path, load: list[list[pa.RecordBatch]]) -> None:
        for bucket, parts in enumerate(load):
            if not parts:
                continue
            writer = self._writers.get(bucket)
            if writer is None:
                writer = pa.ipc.new_stream(
                    str(folder / f"{bucket:03d}.arrow"), _SCHEMA, options=_SPILL_OPTIONS
                )
                self._writers[bucket] = writer
            # One batch per bucket and spill: a write (and an LZ4 frame) per small slice would
            # cost more than the copy.
            writer.write_table(pa.Table.from_batches(parts).combine_chunks())
            load[bucket] = []  # freed as written

    def _wait_spill(self) -> None:
        if self._spilling is not None:
            spilling, self._spilling = self._spilling, None
            spilling.result()  # a failed write (a full disk) is raised here

    def windows(self) -> Iterator[Window]:
        """Runs of buckets of about WINDOW_BYTES of text, in bucket order, the next one read
        in the background while this one is used; the files are removed once read."""
        self._wait_spill()
        for writer in self._writers.values():
            writer.close()
        bounds, lo = [], 0
        while lo < N_BUCKETS:
            hi, total = lo + 1, int(self._bytes[lo])
            while hi < N_BUCKETS and total + self._bytes[hi] <= WINDOW_BYTES:
                total += int(self._bytes[hi])
                hi += 1
            bounds.append((lo, hi))
            lo = hi
        try:
            ahead = self._background.submit(self._read, *bounds[0])
            for following in [*bounds[1:], None]:
                window = ahead.result()
                if following is not None:
                    ahead = self._background.submit(self._read, *following)
                yield window
                del window
                release_memory()
        finally:
            self.close()

    def _read(self, lo: int, hi: int) -> Window:
        parts: list[pa.Table] = []
        for bucket in range(lo, hi):
            if self._folder is not None and bucket in self._writers:
                path = self._folder / f"{bucket:03d}.arrow"
                with pa.ipc.open_stream(str(path)) as reader:
                    parts.append(reader.read_all())
                path.unlink()
            parts.append(pa.Table.from_batches(self._pending[bucket], schema=_SCHEMA))
            self._pending[bucket] = []
        table = pa.concat_tables(parts).combine_chunks()
        kind = table.column("kind").to_numpy()
        ids = table.column("id").to_numpy()
        text = table.column("text").chunk(0) if table.num_rows else pa.array([], pa.large_string())

        def index(which: int) -> tuple[np.ndarray, np.ndarray]:
            at = np.flatnonzero(kind == which)
            order = at[np.argsort(ids[at], kind="stable")]
            return ids[order], order

        return Window(lo, hi, text, *index(INSTRUCTION), *index(RESPONSE))

    def close(self) -> None:
        """Remove the spill files (also after a failure)."""
        self._background.shutdown(wait=True, cancel_futures=True)
        for writer in self._writers.values():
            with contextlib.suppress(OSError, pa.ArrowInvalid):
                writer.close()
        self._writers.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
