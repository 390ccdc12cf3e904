"""Write the Hub-ready folder of DESIGN.md: parquet per config and split, kinship.json, card."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from karma_plugin import atomic
from karma_plugin.dataset_card import render_card

SPLITS: tuple[str, ...] = ("train_prefs", "test_prefs", "train_sft", "test_sft")
MAX_SHARD_BYTES = 500 * 1024 * 1024  # the same default as datasets' push_to_hub
ROW_GROUP_ROWS = 2_000


def split_tables(table: pa.Table) -> dict[str, pa.Table]:
    """The four splits of one config; the SFT splits hold the same pairs as the preference ones."""
    test = table["_test"]
    data = table.drop_columns(["_test"])
    train_t, test_t = data.filter(pc.invert(test)), data.filter(test)
    return {"train_prefs": train_t, "test_prefs": test_t, "train_sft": train_t, "test_sft": test_t}


def shard_names(split: str, table: pa.Table) -> list[str]:
    n = max(1, math.ceil(table.nbytes / MAX_SHARD_BYTES))
    return [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _write_shards(folder: Path, split: str, table: pa.Table) -> list[str]:
    names = shard_names(split, table)
    per = math.ceil(table.num_rows / len(names)) if table.num_rows else 0
    if not table.num_rows:
        # No row group at all: datasets' parquet reader cannot size a batch from an empty one.
        pq.ParquetWriter(folder / names[0], table.schema).close()
        return names
    for i, name in enumerate(names):
        part = table.slice(i * per, per)
        pq.write_table(part, folder / name, row_group_size=ROW_GROUP_ROWS, compression="snappy")
    return names


def write_hub_folder(
    out: str | os.PathLike[str],
    tables: dict[str, pa.Table],
    doc: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write everything into a staging folder, then move it to ``out`` in one rename.

    ``doc`` is the kinship.json document; its ``splits`` and ``files`` are filled in here.
    """
    with atomic.staged_dir(out, overwrite) as stage:
        jobs = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for config, table in tables.items():
                folder = stage / config
                folder.mkdir()
                for split, part in split_tables(table).items():
                    jobs.append(
                        (
                            config,
                            split,
                            part.num_rows,
                            pool.submit(_write_shards, folder, split, part),
                        )
                    )
        doc["splits"] = {c: {} for c in tables}
        doc["files"] = {c: {} for c in tables}
        for config, split, rows, job in jobs:
            doc["splits"][config][split] = rows
            doc["files"][config][split] = [f"{config}/{name}" for name in job.result()]
        (stage / "kinship.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(render_card(doc), encoding="utf-8")
    return Path(out)
