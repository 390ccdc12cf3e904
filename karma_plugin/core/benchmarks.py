"""The six benchmark keys, their categories, and how users name subsets of them."""

from __future__ import annotations

import re

from karma_plugin.errors import InputError

BENCHMARKS: tuple[str, ...] = (
    "ifeval",
    "mmlu_stem",
    "mmlu_pro",
    "hellaswag",
    "arc_easy",
    "arc_challenge",
)

# Items behind a full-size score of each benchmark (the splits the karma tasks evaluate, and
# the authors' table): the n of `--bootstrap`'s binomial noise model where a table gives none.
ITEMS: dict[str, int] = {
    "ifeval": 541,
    "mmlu_stem": 3_153,
    "mmlu_pro": 12_032,
    "hellaswag": 10_042,
    "arc_easy": 2_376,
    "arc_challenge": 1_172,
}

# The paper's RQ4 grouping.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "knowledge": ("mmlu_stem", "mmlu_pro"),
    "reasoning": ("arc_easy", "arc_challenge", "hellaswag"),
    "instruction_following": ("ifeval",),
}

# Column headers seen in the wild (the authors' CSV, lm-eval task names) -> our keys.
# Headers are compared after lower-casing and dropping everything but letters and digits.
_ALIASES: dict[str, str] = {
    "ifeval": "ifeval",
    "instructionfollowingevaluationifeval": "ifeval",
    "instructionfollowingevaluation": "ifeval",
    "mmlu": "mmlu_stem",
    "mmlustem": "mmlu_stem",
    "mmlupro": "mmlu_pro",
    "hellaswag": "hellaswag",
    "arceasy": "arc_easy",
    "arcchallenge": "arc_challenge",
}


def canonical_benchmark(header: str) -> str | None:
    """Map a column header or task name to a benchmark key, or None if it is not one."""
    squashed = re.sub(r"[^a-z0-9]", "", header.lower())
    squashed = squashed.removeprefix("karma")
    return _ALIASES.get(squashed)


def resolve_benchmarks(spec: str | None) -> tuple[str, ...]:
    """Turn ``--benchmarks`` (comma-separated keys and/or category names) into keys.

    ``None``, ``""`` and ``"all"`` mean all six. The result keeps the canonical order.
    """
    if spec is None or spec.strip() in ("", "all"):
        return BENCHMARKS
    wanted: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key = part.lower().replace("-", "_").replace(" ", "_")
        if key in ("instruction", "if"):
            key = "instruction_following"
        if key in CATEGORIES:
            wanted.update(CATEGORIES[key])
            continue
        canonical = canonical_benchmark(part)
        if canonical is None:
            choices = ", ".join([*BENCHMARKS, *CATEGORIES])
            raise InputError(f"unknown benchmark or category {part!r} (choose from: {choices})")
        wanted.add(canonical)
    return tuple(b for b in BENCHMARKS if b in wanted)
