"""Write the Hub-ready folder of DESIGN.md: parquet per config and split, kinship.json, card."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from karma_plugin import atomic
from karma_plugin.dataset_card import render_card

SPLITS: tuple[str, ...] = ("train_prefs", "test_prefs", "train_sft", "test_sft")
MAX_SHARD_BYTES = 500 * 1024 * 1024  # the same default as datasets' push_to_hub
ROW_GROUP_ROWS = 2_000
DICTIONARY_COLUMNS = ["chosen_model", "rejected_model", "source"]


def shard_names(split: str, table: pa.Table) -> list[str]:
    n = max(1, math.ceil(table.nbytes / MAX_SHARD_BYTES))
    return [f"{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _write_shards(folder: Path, splits: list[str], table: pa.Table) -> dict[str, list[str]]:
    """Write ``table`` once as the shards of ``splits[0]``; the other splits get copies.

    The SFT splits hold the same rows as the preference splits: their files are hard links
    (byte-identical, so the Hub stores them once too).
    """
    names = shard_names(splits[0], table)
    if not table.num_rows:
        # No row group at all: datasets' parquet reader cannot size a batch from an empty one.
        pq.ParquetWriter(folder / names[0], table.schema).close()
    else:
        per = math.ceil(table.num_rows / len(names))
        for i, name in enumerate(names):
            part = table.slice(i * per, per)
            pq.write_table(
                part,
                folder / name,
                row_group_size=ROW_GROUP_ROWS,
                compression="snappy",
                # Dictionary pages only where values repeat: for free text they cost time.
                use_dictionary=DICTIONARY_COLUMNS,
            )
    written = {splits[0]: names}
    for split in splits[1:]:
        written[split] = [split + name[len(splits[0]) :] for name in names]
        for source, target in zip(names, written[split], strict=True):
            try:
                os.link(folder / source, folder / target)
            except OSError:
                shutil.copyfile(folder / source, folder / target)
    return written


def write_hub_folder(
    out: str | os.PathLike[str],
    configs: Iterable[tuple[str, dict[str, pa.Table]]],
    doc: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write everything into a staging folder, then move it to ``out`` in one rename.

    ``configs`` yields ``(config, {split: table})`` lazily, so only about two configs are in
    memory at once while the previous one is written. ``doc`` is the kinship.json document;
    its ``splits`` and ``files`` are filled in here.
    """
    with atomic.staged_dir(out, overwrite) as stage:
        doc["splits"], doc["files"] = {}, {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: list[tuple[str, Any]] = []
            for config, splits in configs:
                # Wait for the config before last: bounds memory to about two configs.
                while len({c for c, _ in pending}) > 1:
                    _collect(doc, *pending.pop(0))
                folder = stage / config
                folder.mkdir()
                doc["splits"][config] = {split: t.num_rows for split, t in splits.items()}
                doc["files"][config] = {}
                same: dict[int, list[str]] = {}
                for split, table in splits.items():
                    same.setdefault(id(table), []).append(split)
                for group in same.values():
                    job = pool.submit(_write_shards, folder, group, splits[group[0]])
                    pending.append((config, job))
            while pending:
                _collect(doc, *pending.pop(0))
        for config, files in doc["files"].items():
            doc["files"][config] = {split: files[split] for split in doc["splits"][config]}
        (stage / "kinship.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(render_card(doc), encoding="utf-8")
    return Path(out)


def _collect(doc: dict[str, Any], config: str, job: Any) -> None:
    for split, names in job.result().items():
        doc["files"][config][split] = [f"{config}/{name}" for name in names]
