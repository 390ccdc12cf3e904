"""Write the Hub-ready folder (docs/design.md): parquet per config and split, kinship.json, card."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from karma_plugin.core.kinship import Kinship
from karma_plugin.outputs.card import render_card
from karma_plugin.outputs.matrix import MATRIX_FILE, write_matrix

MAX_SHARD_BYTES = 500 * 1024 * 1024  # the same default as datasets' push_to_hub
ROW_GROUP_ROWS = 2_000
SLICE_ROWS = 8_000  # rows built at a time while writing
DICTIONARY_COLUMNS = ["chosen_model", "rejected_model", "source"]


class TableSource(Protocol):
    """A table built on demand, slice by slice (see ``binarize.PairSplit``)."""

    @property
    def num_rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    def slice_table(self, lo: int, hi: int) -> pa.Table: ...


def shard_names(split: str, nbytes: int) -> list[str]:
    n = max(1, math.ceil(nbytes / MAX_SHARD_BYTES))
    return [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _write_shards(folder: Path, splits: list[str], source: TableSource) -> dict[str, list[str]]:
    """Write ``source`` once as the shards of ``splits[0]``; the other splits get copies.

    Rows are built and written a slice at a time, so a config never sits whole in memory.
    The SFT splits hold the same rows as the preference splits: their files are hard links
    (byte-identical, so the Hub stores them once too).
    """
    names = shard_names(splits[0], source.nbytes)
    per = math.ceil(source.num_rows / len(names))
    schema = source.slice_table(0, 0).schema
    for i, name in enumerate(names):
        # An empty split gets no row group at all: datasets cannot size a batch from one.
        with pq.ParquetWriter(
            folder / name,
            schema,
            compression="snappy",
            # Dictionary pages only where values repeat: for free text they cost time.
            use_dictionary=DICTIONARY_COLUMNS,
        ) as writer:
            end = min((i + 1) * per, source.num_rows)
            bounds = [(lo, min(lo + SLICE_ROWS, end)) for lo in range(i * per, end, SLICE_ROWS)]
            # Build the next slice while this one is encoded: both release the GIL.
            with ThreadPoolExecutor(max_workers=1) as builder:
                ahead = deque(builder.submit(source.slice_table, *b) for b in bounds[:1])
                for k in range(len(bounds)):
                    if k + 1 < len(bounds):
                        ahead.append(builder.submit(source.slice_table, *bounds[k + 1]))
                    # Popped, so the slice is freed once written.
                    writer.write_table(ahead.popleft().result(), row_group_size=ROW_GROUP_ROWS)
    written = {splits[0]: names}
    for split in splits[1:]:
        written[split] = [split + name[len(splits[0]) :] for name in names]
        for original, copy in zip(names, written[split], strict=True):
            try:
                os.link(folder / original, folder / copy)
            except OSError:
                shutil.copyfile(folder / original, folder / copy)
    return written


def _write_config(folder: Path, splits: Mapping[str, TableSource]) -> dict[str, list[str]]:
    folder.mkdir()
    same: dict[int, list[str]] = {}
    for split, source in splits.items():
        same.setdefault(id(source), []).append(split)
    files: dict[str, list[str]] = {}
    for group in same.values():
        files.update(_write_shards(folder, group, splits[group[0]]))
    return {split: files[split] for split in splits}


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
    configs: Iterable[tuple[str, Mapping[str, TableSource]]],
    matrix: Kinship | None = None,
) -> Written:
    """Write the data into ``folder``, an empty staging folder from ``staging.staged``
    (which moves it into place whole once the run succeeds), and say what was written;
    ``write_manifest`` then adds kinship.json and the card.

    Two configs are written at a time. ``matrix``: a kinship whose full matrix goes to
    ``kinship_matrix.parquet`` (a table too large for kinship.json to list).
    """
    stage = Path(folder)
    if matrix is not None:
        write_matrix(stage / MATRIX_FILE, matrix.models, matrix.kinship)
    jobs = {}
    with ThreadPoolExecutor(max_workers=2) as workers:
        for config, splits in configs:
            jobs[config] = (
                {s: t.num_rows for s, t in splits.items()},
                workers.submit(_write_config, stage / config, splits),
            )
        with tqdm(total=len(jobs), desc="writing configs", disable=None, leave=False) as bar:
            for _, job in jobs.values():
                job.add_done_callback(lambda _: bar.update())
            wait([job for _, job in jobs.values()])
    files = {
        config: {s: [f"{config}/{n}" for n in names] for s, names in job.result().items()}
        for config, (_, job) in jobs.items()
    }
    return Written(
        rows={config: rows for config, (rows, _) in jobs.items()},
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
