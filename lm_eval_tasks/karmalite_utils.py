"""The karmalite_* tasks: the karma_* tasks on the documents listed in karmalite_ids.json.

Each ``process_*`` runs the full task's own ``process_docs`` (utils.py) and then keeps the
listed documents, in dataset order, each with a ``karma_doc_id`` field: its position (lm-eval
``doc_id``) in the full ``karma_*`` task, so that a karmalite sample can be matched with the
same item of a full run. How the list was drawn: scripts/make_karmalite_ids.py.

lm-eval loads this file by path (``!function karmalite_utils.x``) on 0.4.11 and 0.4.13 alike,
so it imports nothing of this folder by name: utils.py and the list are found beside it.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
IDS = HERE / "karmalite_ids.json"
DOC_ID = "karma_doc_id"


@lru_cache(maxsize=1)
def _utils() -> Any:
    spec = importlib.util.spec_from_file_location("karma_task_utils", HERE / "utils.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def load_ids(path: str | Path = IDS) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _mismatch(benchmark: str, what: str, spec: dict[str, Any]) -> ValueError:
    return ValueError(
        f"karmalite_{benchmark}: {what}, but karmalite_ids.json was drawn for "
        f"{spec['documents']} documents of {spec['dataset']} ({spec['split']} split, the "
        f"revision of {spec['task']}): its ids would pick other items here. Run the full "
        f"{spec['task']} instead, or draw a list for this data (scripts/make_karmalite_ids.py)."
    )


def positions(values: list[Any], spec: dict[str, Any], benchmark: str) -> list[int]:
    """The positions (in ``values``, one entry per document of the full task) that the list
    ``spec`` selects; ``values`` are the documents' strata (ignored when not stratified).
    ValueError when the documents are not those the list was drawn for."""
    if len(values) != spec["documents"]:
        raise _mismatch(benchmark, f"the data has {len(values)} documents", spec)
    if "strata" not in spec:
        return sorted(spec["ids"])
    found = Counter(values)
    expected = {name: stratum["documents"] for name, stratum in spec["strata"].items()}
    if found != expected:
        differ = sorted(set(found) | set(expected), key=str)
        name = next(n for n in differ if found.get(n, 0) != expected.get(n, 0))
        what = f"its {spec['stratum']} {name!r} has {found.get(name, 0)} documents"
        raise _mismatch(benchmark, what, spec)
    wanted = {name: set(stratum["ids"]) for name, stratum in spec["strata"].items()}
    seen: Counter[Any] = Counter()
    keep = []
    for position, value in enumerate(values):
        if seen[value] in wanted[value]:
            keep.append(position)
        seen[value] += 1
    return keep


def select(dataset: Any, benchmark: str, ids: str | Path = IDS) -> Any:
    """The listed documents of ``dataset`` (the full task's processed documents)."""
    spec = load_ids(ids)["benchmarks"][benchmark]
    field = spec.get("stratum")
    values = list(dataset[field]) if field else [None] * len(dataset)
    keep = positions(values, spec, benchmark)
    return dataset.select(keep).add_column(DOC_ID, keep)


def process_ifeval(dataset):
    return select(_utils().process_ifeval(dataset), "ifeval")


def process_mmlu_stem(dataset):
    return select(_utils().process_mmlu_stem(dataset), "mmlu_stem")


def process_mmlu_pro(dataset):
    return select(_utils().process_mmlu_pro(dataset), "mmlu_pro")


def process_hellaswag(dataset):
    return select(_utils().process_hellaswag(dataset), "hellaswag")


def process_arc_easy(dataset):
    return select(_utils().process_arc(dataset), "arc_easy")


def process_arc_challenge(dataset):
    return select(_utils().process_arc(dataset), "arc_challenge")
