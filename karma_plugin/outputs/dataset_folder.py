"""Write the Hub-ready folder (docs/design.md): parquet per config and split, kinship.json, card."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from karma_plugin.core.kinship import Kinship
from karma_plugin.outputs.card import render_card
from karma_plugin.outputs.matrix import MATRIX_FILE, write_matrix

MAX_SHARD_BYTES = 500 * 1024 * 1024  # the same default as datasets' push_to_hub
ROW_GROUP_ROWS = 2_000
DICTIONARY_COLUMNS = ["chosen_model", "rejected_model", "source"]


def shard_names(split: str, nbytes: int) -> list[str]:
    n = max(1, math.ceil(nbytes / MAX_SHARD_BYTES))
    return [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


class _SplitWriter:
    """One split's shards, written from tables that arrive in order, in row groups of
    ROW_GROUP_ROWS counted from each shard's start (the last one of a shard shorter)."""

    def __init__(self, folder: Path, split: str, rows: int, nbytes: int, schema: pa.Schema):
        self.folder, self.rows, self.schema = folder, rows, schema
        self.names = shard_names(split, nbytes)
        self.per = max(1, math.ceil(rows / len(self.names)))
        self.done = 0
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.shard = -1
        self.writer: pq.ParquetWriter | None = None

    def _open(self, shard: int) -> None:
        if self.writer is not None:
            self.writer.close()
        self.shard = shard
        self.writer = pq.ParquetWriter(
            self.folder / self.names[shard],
            self.schema,
            compression="snappy",
            # Dictionary pages only where values repeat: for free text they cost time.
            use_dictionary=DICTIONARY_COLUMNS,
        )

    def append(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        while self.done < self.rows:
            shard = self.done // self.per
            need = min(ROW_GROUP_ROWS, min((shard + 1) * self.per, self.rows) - self.done)
            if self.buffered < need:
                return
            whole = pa.concat_tables(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
            group, rest = whole.slice(0, need).combine_chunks(), whole.slice(need)
            if rest.num_rows < ROW_GROUP_ROWS:  # a copy: a slice would keep all of ``whole``
                rest = rest.take(pa.array(range(rest.num_rows), pa.int64()))
            self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows
            if shard != self.shard:
                self._open(shard)
            assert self.writer is not None
            self.writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            self.done += need

    def discard(self) -> None:
        """Close the open shard without a word: the run failed (a full disk, most often) and
        its staging folder goes. Left open, pyarrow's writer would close itself when garbage
        collected, after the error line, and print the second ENOSPC as a traceback."""
        writer, self.writer = self.writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
            writer.is_open = False  # closed or not: its __del__ must not try again

    def close(self) -> list[str]:
        if self.done != self.rows or self.buffered:
            raise RuntimeError(f"{self.names[0]}: {self.done} of {self.rows} rows written")
        # Shards no row reached (an empty split) still get a file: the schema, no row group
        # (datasets cannot size a batch from an empty one).
        for shard in range(self.shard + 1, len(self.names)):
            self._open(shard)
        if self.writer is not None:
            self.writer.close()
        return self.names


def _link_copies(folder: Path, names: list[str], split: str, copy: str) -> list[str]:
    """Hard links (else copies) of ``split``'s shards as ``copy``'s: the SFT splits hold the
    same rows as the preference splits, byte-identical, so the Hub stores them once too."""
    copies = [copy + name[len(split) :] for name in names]
    for original, linked in zip(names, copies, strict=True):
        try:
            os.link(folder / original, folder / linked)
        except OSError:
            shutil.copyfile(folder / original, folder / linked)
    return copies


@dataclass(frozen=True)
class Written:
    """What ``write_hub_folder`` wrote, per config and split: rows, files (paths relative to
    the folder) and bytes; and the name of the full kinship matrix file, if it wrote one."""

    rows: dict[str, dict[str, int]]
    files: dict[str, dict[str, list[str]]]
    nbytes: dict[str, dict[str, int]]
    matrix: str | None = None


def write_hub_folder(
    folder: str | os.PathLike[str],
    sizes: Mapping[str, Mapping[str, tuple[int, int]]],
    windows: Iterable[Mapping[str, Iterator[tuple[str, pa.Table]]]],
    schema: pa.Schema,
    matrix: Kinship | None = None,
    copies: Mapping[str, str] | None = None,
) -> Written:
    """Write the data into ``folder``, an empty staging folder from ``staging.staged``
    (which moves it into place whole once the run succeeds), and say what was written;
    ``write_manifest`` then adds kinship.json and the card.

    ``sizes``: per config and split, its rows and about its bytes (which set the shard
    count); ``windows``: per part of the output, for each config, its ``(split, table)``
    pieces in order, written as they come (two configs at a time, in threads: building and
    encoding release the GIL), so a config never sits whole in memory; ``copies``: splits
    written as links of another (``{"train_prefs": "train_sft"}``). ``matrix``: a kinship
    whose full matrix goes to ``kinship_matrix.parquet`` (a table too large for kinship.json
    to list).
    """
    stage = Path(folder)
    copies = dict(copies or {})
    if matrix is not None:
        write_matrix(stage / MATRIX_FILE, matrix.models, matrix.kinship)
    writers: dict[str, dict[str, _SplitWriter]] = {}
    for config, splits in sizes.items():
        (stage / config).mkdir()
        writers[config] = {
            split: _SplitWriter(stage / config, split, rows, nbytes, schema)
            for split, (rows, nbytes) in splits.items()
        }
    total = sum(rows for splits in sizes.values() for rows, _ in splits.values())
    lock = threading.Lock()

    def drain(config: str, pieces: Iterator[tuple[str, pa.Table]], bar: tqdm) -> None:
        for split, table in pieces:
            writers[config][split].append(table)
            with lock:
                bar.update(table.num_rows)

    try:
        with (
            tqdm(total=total, desc="writing", unit=" rows", disable=None, leave=False) as bar,
            ThreadPoolExecutor(max_workers=2) as workers,
        ):
            for parts in windows:
                jobs = [workers.submit(drain, c, pieces, bar) for c, pieces in parts.items()]
                for job in jobs:
                    job.result()  # the first failure, raised here (the other job finishes)
        files: dict[str, dict[str, list[str]]] = {}
        rows: dict[str, dict[str, int]] = {}
        for config, config_writers in writers.items():
            files[config], rows[config] = {}, {}
            for split, writer in config_writers.items():
                names = writer.close()
                files[config][split] = names
                rows[config][split] = writer.rows
                if split in copies:
                    files[config][copies[split]] = _link_copies(
                        stage / config, names, split, copies[split]
                    )
                    rows[config][copies[split]] = writer.rows
            order = [*config_writers, *(copies[s] for s in config_writers if s in copies)]
            files[config] = {s: [f"{config}/{n}" for n in files[config][s]] for s in order}
            rows[config] = {s: rows[config][s] for s in order}
    except BaseException:
        for config_writers in writers.values():
            for writer in config_writers.values():
                writer.discard()
        raise
    return Written(
        rows=rows,
        files=files,
        nbytes={
            config: {
                s: sum((stage / f).stat().st_size for f in names) for s, names in split.items()
            }
            for config, split in files.items()
        },
        matrix=MATRIX_FILE if matrix is not None else None,
    )


def write_manifest(folder: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """``kinship.json`` (``doc``, from ``outputs.manifest``) and the card rendered from it."""
    stage = Path(folder)
    (stage / "kinship.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (stage / "README.md").write_text(render_card(doc), encoding="utf-8")
