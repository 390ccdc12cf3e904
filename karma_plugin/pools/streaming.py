"""Stream a json/jsonl pool or a Hub dataset in record batches, in memory that does not grow
with the pool.

Both go through ``datasets``' streaming mode (``load_dataset(..., streaming=True)``), the same
loaders that read them whole, so a pool reads with the same schema either way: the json loader
parses 10 MB chunks with pyarrow's json reader and casts each to the schema found in the
first, and a Hub dataset's parquet or json files are read in pieces over HTTP. Measured on a
1 GB jsonl pool (datasets 4.8 and 5.2 alike): a flat peak of about 0.55 GB RSS (0.18 GB of it
is importing ``datasets``), whatever the file's size, at about 14,000 UltraFeedback rows/s.
pyarrow's own streaming reader (``pyarrow.json.open_json``) is faster and leaner (0.28 GB,
38,000 rows/s there) but fixes the schema from its first block: a later row with a key or a
type the first block lacked fails, where ``datasets`` keeps such fields as JSON text.

A JSON-array ``.json`` file is the exception: the json loader reads it whole (it cannot find
row boundaries in it without parsing it all), so such a pool costs its size in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from karma_plugin.errors import InputError, RemoteError


@contextlib.contextmanager
def datasets_quiet() -> Iterator[None]:
    """datasets logs a failed load (and notes such as a missing card) on stderr before it
    raises; the error is ours to report, in one line.

    Inside, datasets also takes torch for absent: a streaming dataset otherwise imports torch
    wherever it is installed (the `train` extra, the test environment), only to share an epoch
    counter with torch's data-loader workers, which karma-build never uses; that import cost
    2 to 5 s of CPU and about 300 MB on every binarize of a json or Hub pool. Only for the
    calls made inside: the flag is restored for the rest of the process."""
    from datasets import config
    from datasets.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity(logging.CRITICAL)
    torch_available, config.TORCH_AVAILABLE = config.TORCH_AVAILABLE, False
    try:
        yield
    finally:
        config.TORCH_AVAILABLE = torch_available
        logging.set_verbosity(level)


@contextlib.contextmanager
def _read_retries(tries: int, wait_s: float) -> Iterator[None]:
    """``datasets``' own retries of a streamed read set to ``tries`` tries ``wait_s`` apart
    while it works for us (its defaults: 20 tries, 5 to 60 s apart, which with the Hub
    client's retries under them keep a user waiting many minutes on a Hub that is down)."""
    from datasets import config

    names = [
        "STREAMING_READ_MAX_RETRIES",
        "STREAMING_OPEN_MAX_RETRIES",
        "STREAMING_READ_RETRY_INTERVAL",
        "STREAMING_READ_SERVER_UNAVAILABLE_RETRY_INTERVAL",
        "STREAMING_READ_RATE_LIMIT_RETRY_INTERVAL",
        "STREAMING_OPEN_RETRY_INTERVAL",
    ]
    saved = {name: getattr(config, name) for name in names}
    for name in names:
        setattr(config, name, tries if name.endswith("MAX_RETRIES") else wait_s)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


def _batches(
    tables: Iterator[Any], step: Callable[[Callable[[], Any]], Any]
) -> Iterator[pa.RecordBatch]:
    """The record batches of ``tables`` (tables or batches), each table read inside ``step``
    (which quiets ``datasets`` and judges its errors) one at a time, so that what the caller
    does between two batches runs with its own logging and warnings."""
    while (table := step(lambda: next(tables, None))) is not None:
        # A table of the rebatched stream may span two chunks of the file: no copy to join
        # them, two batches instead.
        parts = table.to_batches() if isinstance(table, pa.Table) else [table]
        yield from (part for part in parts if part.num_rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def bad_json_line(files: list[Path]) -> str | None:
    """Where the first line that is not JSON lies, as ``FILE: line N (why)``, in the JSON
    Lines ``files``; None if there is none (a JSON-array file is not looked into).

    pyarrow's json reader names only the row inside the 10 MB block it was parsing
    ("in row 1937"); this pass over the files, made only once a read has failed, names the
    file's own line."""
    import json

    for file in files:
        try:
            with file.open("rb") as handle:
                if handle.read(1 << 16).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
                    continue
                handle.seek(0)
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        json.loads(line)
                    except ValueError as exc:
                        why = str(exc).split(": line 1 column")[0]
                        return f"{file.name}: line {number} is not JSON ({why})"
        except OSError:
            return None
    return None


def stream_json(
    spec: str, files: list[Path], split: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The local json/jsonl ``files`` of the pool ``spec`` in file order, in batches of at most
    ``batch_rows`` rows with the files' own columns. A file that cannot be read is an
    ``InputError`` naming ``spec``, raised where the reader meets it."""
    import datasets

    datasets.disable_progress_bars()

    def step(call: Callable[[], Any]) -> Any:
        try:
            with datasets_quiet():
                return call()
        # The json loader's errors come raw here (a whole load wraps them in
        # DatasetGenerationError): the line is the same either way. pa.ArrowInvalid is a
        # ValueError; a file that vanished or cannot be opened is the pool's too.
        except (ValueError, pa.ArrowNotImplementedError, OSError) as exc:
            found = bad_json_line(files) if "JSON parse error" in str(exc) else None
            raise InputError(f"cannot read pool {spec!r}: {found or _first_line(exc)}") from None

    data_files = {split: [str(f) for f in files]}
    dataset = step(
        lambda: datasets.load_dataset("json", data_files=data_files, split=split, streaming=True)
    )
    tables = step(lambda: iter(dataset.with_format("arrow").iter(batch_size=batch_rows)))
    yield from _batches(tables, step)


def stream_hub(
    repo_id: str, split: str, batch_rows: int, revision: str | None = None, what: str = "pool"
) -> Iterator[pa.RecordBatch]:
    """The split ``split`` of the Hub dataset ``repo_id`` at one commit (``revision``'s, by
    default main's), in batches of at most ``batch_rows`` rows, with a progress bar on a
    terminal. Every Hub fault, before or during the download, is one line (``with_retries``):
    a missing repo or revision an ``InputError``, the rest a ``RemoteError``; ``what`` the
    dataset is (a pool, a table) in the messages.

    Offline (HF_HUB_OFFLINE), nothing can stream: the dataset is read from ``datasets``'
    cache as before (memory-mapped Arrow files, which the page cache holds, not the heap).
    """
    import datasets
    from tqdm.auto import tqdm

    from karma_plugin.hub.faults import DEFAULT_RETRIES, offline, retry_wait, with_retries
    from karma_plugin.hub.pull import load_hub_dataset, resolve_revision

    datasets.disable_progress_bars()

    def step(call: Callable[[], Any], what: str, retries: int, reads: int) -> Any:
        """``call`` with Hub faults told as ``with_retries`` tells them (after ``retries``
        more tries of the whole call, ``reads`` tries of each read of a file), other errors
        of ``datasets`` as the pool's."""
        try:
            with datasets_quiet(), _read_retries(reads, retry_wait()):
                return with_retries(call, f"{what} {repo_id}", repo_id, retries)
        except datasets.exceptions.DatasetNotFoundError as exc:
            raise InputError(f"{what} {repo_id!r} not found: {_first_line(exc)}") from None
        except (datasets.exceptions.DatasetGenerationError, pa.ArrowInvalid) as exc:
            cause = exc.__cause__ or exc
            raise InputError(f"cannot read {what} {repo_id!r}: {_first_line(cause)}") from None
        except (ValueError, FileNotFoundError) as exc:  # no such split, no data files
            raise InputError(f"cannot read {what} {repo_id!r}: {_first_line(exc)}") from None
        except (ConnectionError, OSError) as exc:
            raise RemoteError(f"{what} {repo_id} failed: {_first_line(exc)}") from None

    # Before the first row, the whole load is tried again on a transient fault; once rows
    # have been read it cannot start over, but datasets can try a broken read again at its
    # offset in the file. Either way, DEFAULT_RETRIES more tries, then one line.
    if offline():
        whole = step(
            lambda: load_hub_dataset(repo_id, split=split, revision=revision), "loading", 0, 1
        )
        tables: Iterator[Any] = iter(whole.data.table.to_batches(max_chunksize=batch_rows))
        total: int | None = whole.num_rows
    else:
        commit = resolve_revision(repo_id, revision)  # one commit for every file read
        dataset = step(
            lambda: datasets.load_dataset(repo_id, split=split, revision=commit, streaming=True),
            "loading",
            DEFAULT_RETRIES,
            1,
        )
        info = (dataset.info.splits or {}).get(split)
        total = info.num_examples if info and info.num_examples else None
        tables = iter(dataset.with_format("arrow").iter(batch_size=batch_rows))
    batches = _batches(tables, lambda call: step(call, "streaming", 0, DEFAULT_RETRIES + 1))
    # disable=None: a bar on a terminal, silence in logs and pipes.
    bar = tqdm(total=total, desc=f"reading {repo_id}", unit=" rows", disable=None, leave=False)
    with bar:
        for batch in batches:
            bar.update(batch.num_rows)
            yield batch
