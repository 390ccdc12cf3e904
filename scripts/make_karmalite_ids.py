"""Regenerate lm_eval_tasks/karmalite_ids.json: which documents the karmalite_* tasks evaluate.

The karmalite_* tasks are the karma_* tasks (same datasets at the same revisions, same prompts,
filters and scorers) on a fixed subset of each benchmark's documents. This script draws the
subsets from the benchmarks' documented sizes alone, with no dataset at hand (the Hub cannot be
reached from the machines this project is built on):

- a document id is the document's position in the FULL task's documents, that is its lm-eval
  ``doc_id`` in the ``karma_*`` task (for MMLU-STEM: among the 3,153 STEM rows of ``cais/mmlu``
  ``all``, in dataset order);
- MMLU-STEM and MMLU-Pro are stratified, by ``subject`` and ``category``: each stratum gets its
  share of the items (largest-remainder rounding of ``items * stratum size / total``, ties to
  the alphabetically first stratum), and a stratum's ids are positions WITHIN the stratum (its
  k-th document in dataset order). So the list needs only the strata sizes, not the order in
  which the strata follow one another in the dataset;
- the others are a seeded draw over positions; IFEval is taken whole by default (541 items);
- the draw ranks the positions of a benchmark (of a stratum) by
  ``sha256("karmalite:<seed>:<benchmark>:<stratum>:<position>")`` and keeps the smallest: it is
  the same on every machine and Python or numpy version, and a smaller draw is a subset of a
  larger one with the same seed (250 items are the first 250 of the 500).

The task code (lm_eval_tasks/karmalite_utils.py) checks at run time that the data has exactly
the documented sizes (per stratum too) and refuses to run otherwise: ids drawn for one dataset
are meaningless on another.

Sizes (the public split sizes; the Hub was not reachable to recount them here):
IFEval train 541; MMLU test, the 19 STEM subjects of lm-eval's mmlu_stem group, 3,153 (per
subject below); MMLU-Pro test 12,032 (per category below); HellaSwag validation 10,042;
ARC-Easy test 2,376; ARC-Challenge test 1,172. Sum: 29,316.

Usage:
    python scripts/make_karmalite_ids.py                 # the shipped list (karmalite_sizes.json)
    python scripts/make_karmalite_ids.py --items 250 --items ifeval=all --out my_ids.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "lm_eval_tasks" / "karmalite_ids.json"

# The 19 STEM subjects of lm-eval's mmlu_stem group, with their test-split sizes (MMLU's
# per-subject test sizes as lm-eval reports them in each mmlu_<subject> task's sample count).
MMLU_STEM = {
    "abstract_algebra": 100,
    "anatomy": 135,
    "astronomy": 152,
    "college_biology": 144,
    "college_chemistry": 100,
    "college_computer_science": 100,
    "college_mathematics": 100,
    "college_physics": 102,
    "computer_security": 100,
    "conceptual_physics": 235,
    "electrical_engineering": 145,
    "elementary_mathematics": 378,
    "high_school_biology": 310,
    "high_school_chemistry": 203,
    "high_school_computer_science": 100,
    "high_school_mathematics": 270,
    "high_school_physics": 151,
    "high_school_statistics": 216,
    "machine_learning": 112,
}
# MMLU-Pro's 14 categories, test split (the dataset card's per-category counts).
MMLU_PRO = {
    "biology": 717,
    "business": 789,
    "chemistry": 1132,
    "computer science": 410,
    "economics": 844,
    "engineering": 969,
    "health": 818,
    "history": 381,
    "law": 1101,
    "math": 1351,
    "other": 924,
    "philosophy": 499,
    "physics": 1299,
    "psychology": 798,
}

# benchmark -> (the full task, its dataset, its split, the stratum field or None, size or strata)
BENCHMARKS: dict[str, tuple[str, str, str, str | None, int | dict[str, int]]] = {
    "ifeval": ("karma_ifeval", "google/IFEval", "train", None, 541),
    "mmlu_stem": ("karma_mmlu_stem", "cais/mmlu (all)", "test", "subject", MMLU_STEM),
    "mmlu_pro": ("karma_mmlu_pro", "TIGER-Lab/MMLU-Pro", "test", "category", MMLU_PRO),
    "hellaswag": ("karma_hellaswag", "Rowan/hellaswag", "validation", None, 10042),
    "arc_easy": ("karma_arc_easy", "allenai/ai2_arc (ARC-Easy)", "test", None, 2376),
    "arc_challenge": ("karma_arc_challenge", "allenai/ai2_arc (ARC-Challenge)", "test", None, 1172),
}
# The sizes come from the budget study (benchmarks/stage1_budget.py --sizes-out): the smallest
# allocation it found with every config's pair stability within 3 points of the full set's.
SIZES_FILE = Path(__file__).resolve().parent.parent / "lm_eval_tasks" / "karmalite_sizes.json"
DEFAULT_ITEMS = 500  # per benchmark, only where the sizes file names none
DEFAULT_SEED = 0
ALL = "all"


def draw(seed: int, benchmark: str, stratum: str, size: int, k: int) -> list[int]:
    """``k`` of the positions ``0..size-1``, by their hash; sorted."""

    def key(position: int) -> bytes:
        return hashlib.sha256(
            f"karmalite:{seed}:{benchmark}:{stratum}:{position}".encode()
        ).digest()

    return sorted(sorted(range(size), key=key)[: min(k, size)])


def allocate(strata: dict[str, int], items: int) -> dict[str, int]:
    """Items per stratum, proportional to its size, summing to ``min(items, total)``."""
    total = sum(strata.values())
    items = min(items, total)
    exact = {name: items * size / total for name, size in strata.items()}
    share = {name: int(value) for name, value in exact.items()}
    # Largest remainders first; equal remainders in name order.
    rest = sorted(strata, key=lambda name: (-(exact[name] - share[name]), name))
    for name in rest[: items - sum(share.values())]:
        share[name] += 1
    return share


def make_ids(items: dict[str, int | None], seed: int) -> dict[str, dict]:
    """The ``benchmarks`` part of the file: ``items[b]`` None means the whole benchmark."""
    out: dict[str, dict] = {}
    for bench, (task, dataset, split, field, sizes) in BENCHMARKS.items():
        total = sum(sizes.values()) if isinstance(sizes, dict) else sizes
        wanted = total if items[bench] is None else min(int(items[bench] or 0), total)
        entry: dict = {"task": task, "dataset": dataset, "split": split, "documents": total}
        if wanted == total:
            entry["draw"] = ALL
        elif field is None:
            entry["draw"] = "seeded"
        else:
            entry["draw"] = "stratified"
        entry["items"] = wanted
        if isinstance(sizes, dict):
            entry["stratum"] = field
            share = allocate(sizes, wanted)
            entry["strata"] = {
                name: {"documents": size, "ids": draw(seed, bench, name, size, share[name])}
                for name, size in sizes.items()
            }
        else:
            entry["ids"] = draw(seed, bench, "", sizes, wanted)
        out[bench] = entry
    return out


def parse_items(specs: list[str]) -> dict[str, int | None]:
    """``--items N`` (every benchmark) and ``--items BENCH=N|all`` (one); IFEval whole unless
    named."""
    sizes = json.loads(SIZES_FILE.read_text(encoding="utf-8")) if SIZES_FILE.exists() else {}
    items: dict[str, int | None] = {b: int(sizes.get(b, DEFAULT_ITEMS)) for b in BENCHMARKS}
    if "ifeval" not in sizes:
        items["ifeval"] = None
    for spec in specs:
        bench, sep, value = spec.rpartition("=")
        count = None if value == ALL else int(value)
        if count is not None and count < 1:
            raise SystemExit(f"--items {spec}: need at least 1 item")
        if not sep:
            items.update({b: count for b in BENCHMARKS if b != "ifeval"})
        elif bench in BENCHMARKS:
            items[bench] = count
        else:
            raise SystemExit(
                f"--items {spec}: unknown benchmark (choose from {', '.join(BENCHMARKS)})"
            )
    return items


def format_doc(doc: dict) -> str:
    """Indented JSON with each list of ids on one line (a few thousand numbers, not lines)."""
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    return (
        re.sub(
            r"\[([\d\s,]*)\]",
            lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]",
            text,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--items",
        action="append",
        default=[],
        metavar="N|BENCH=N|BENCH=all",
        help="items per benchmark (default: lm_eval_tasks/karmalite_sizes.json); repeatable",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    items = parse_items(args.items)
    benchmarks = make_ids(items, args.seed)
    shown = ["python", "scripts/make_karmalite_ids.py", "--seed", str(args.seed)]
    for spec in args.items:
        shown += ["--items", spec]
    doc = {
        "about": (
            "Document ids of the karmalite_* lm-eval tasks: per benchmark, positions in the "
            "full karma_* task's documents (its lm-eval doc_id), or, for a stratified "
            "benchmark, positions within each stratum in dataset order. Made by "
            "scripts/make_karmalite_ids.py, which says how; do not edit by hand."
        ),
        "command": shlex.join(shown),
        "seed": args.seed,
        "items": sum(b["items"] for b in benchmarks.values()),
        "documents": sum(b["documents"] for b in benchmarks.values()),
        "benchmarks": benchmarks,
    }
    args.out.write_text(format_doc(doc), encoding="utf-8")
    counts = ", ".join(f"{b} {e['items']}" for b, e in benchmarks.items())
    print(
        f"wrote {args.out}: {doc['items']} of {doc['documents']} items ({counts})", file=sys.stderr
    )


if __name__ == "__main__":
    main()
