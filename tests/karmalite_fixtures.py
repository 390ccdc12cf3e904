"""Data at the benchmarks' full documented sizes, for the karmalite_* tasks.

The karmalite tasks select documents by position in the full karma_* task (stratified ones by
position within a subject or category) and refuse data of any other size, so the small
hand-made fixtures of tests/fixtures/lmeval cannot feed them. `full_size_data` writes, for each
benchmark, a JSON-lines file in the real Hub schema with exactly the documented number of
documents (per stratum too, from the shipped karmalite_ids.json): every row is a copy of one of
the hand-made rows, cycled, its question starting with a marker `{POSITION}` (stratified:
`{POSITION STRATUM:RANK}`) that says which document of the full task it is. The strata are
interleaved, not in blocks, so a test sees that the selection does not rely on their order.

`derived_lite_tasks` writes YAMLs that `include:` the shipped karmalite_* (and karma_*) files by
absolute path and swap only the dataset, as lmeval_helpers.derived_tasks does.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from itertools import cycle
from pathlib import Path
from typing import Any

import yaml
from lmeval_helpers import FIXTURES, shipped_dir

LITE = (
    "karmalite_ifeval",
    "karmalite_mmlu_stem",
    "karmalite_mmlu_pro",
    "karmalite_hellaswag",
    "karmalite_arc_easy",
    "karmalite_arc_challenge",
)
# benchmark -> (hand-made fixture, split of the shipped task, field that carries the marker)
SOURCES = {
    "ifeval": ("ifeval.jsonl", "train", "prompt"),
    "mmlu_stem": ("mmlu_all.jsonl", "test", "question"),
    "mmlu_pro": ("mmlu_pro.jsonl", "test", "question"),
    "hellaswag": ("hellaswag.jsonl", "validation", "ctx_a"),
    "arc_easy": ("arc_easy.jsonl", "test", "question"),
    "arc_challenge": ("arc_challenge.jsonl", "test", "question"),
}
MARKER = re.compile(r"\{(\d+)(?: ([^:{}]+):(\d+))?\}")
STEM_FIXTURE_SUBJECTS = {"abstract_algebra", "college_physics", "machine_learning"}


def shipped_ids() -> dict[str, Any]:
    return json.loads((shipped_dir() / "karmalite_ids.json").read_text(encoding="utf-8"))


def _rows(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def interleaved(strata: dict[str, int]) -> list[tuple[str, int]]:
    """(stratum, rank) of every document, the strata taking turns (round-robin)."""
    left = dict(strata)
    seen = dict.fromkeys(strata, 0)
    order = []
    while any(left.values()):
        for name in strata:
            if left[name]:
                order.append((name, seen[name]))
                seen[name] += 1
                left[name] -= 1
    return order


def full_size_rows(benchmark: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    fixture, _, field = SOURCES[benchmark]
    base = _rows(fixture)
    if benchmark == "mmlu_stem":
        # The `all` configuration: STEM rows (the hand-made STEM ones, cycled) among others.
        stem = [r for r in base if r["subject"] in STEM_FIXTURE_SUBJECTS]
        other = [r for r in base if r["subject"] not in STEM_FIXTURE_SUBJECTS]
        base = stem
    strata = {n: s["documents"] for n, s in spec["strata"].items()} if "strata" in spec else None
    slots = interleaved(strata) if strata else [(None, i) for i in range(spec["documents"])]
    rows = []
    for position, ((stratum, rank), row) in enumerate(zip(slots, cycle(base), strict=False)):
        row = copy.deepcopy(row)
        mark = f"{{{position}}}" if stratum is None else f"{{{position} {stratum}:{rank}}}"
        row[field] = f"{mark} {row[field]}"
        if stratum is not None:
            row[spec["stratum"]] = stratum
        if benchmark == "ifeval":
            row["key"] = 1000 + position
        if "id" in row:
            row["id"] = f"{row['id']}-{position}"
        rows.append(row)
        if benchmark == "mmlu_stem" and position % 10 == 0:
            rows.append(copy.deepcopy(other[position % len(other)]))  # filtered out
    return rows


def full_size_data(out: Path) -> dict[str, Path]:
    """One JSON-lines file per benchmark, at the sizes of the shipped karmalite_ids.json."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for bench, spec in shipped_ids()["benchmarks"].items():
        path = out / f"{bench}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in full_size_rows(bench, spec):
                handle.write(json.dumps(row) + "\n")
        paths[bench] = path
    return paths


def marker(text: str) -> tuple[int, str | None, int | None]:
    """(position, stratum, rank) from a document's marker."""
    found = MARKER.search(text)
    assert found, text
    position, stratum, rank = found.groups()
    return int(position), stratum, None if rank is None else int(rank)


def derived_lite_tasks(out: Path, data: dict[str, Path], cache: Path) -> Path:
    """karmalite_* and karma_* task files over ``data`` (the full task on the same documents,
    to compare with), and both groups."""
    out.mkdir(parents=True, exist_ok=True)
    for bench, path in data.items():
        split = SOURCES[bench][1]
        for task in (f"karmalite_{bench}", f"karma_{bench}"):
            derived = {
                "include": str(shipped_dir() / f"{task}.yaml"),
                "task": task,
                "dataset_path": "json",
                "dataset_name": None,
                "dataset_kwargs": {"data_files": {split: str(path)}, "cache_dir": str(cache)},
            }
            (out / f"{task}.yaml").write_text(yaml.safe_dump(derived), encoding="utf-8")
    for group in ("karmalite", "karma"):
        shutil.copy(shipped_dir() / f"{group}.yaml", out / f"{group}.yaml")
    return out
