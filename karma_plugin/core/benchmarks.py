"""The benchmark keys, their categories, and how users name subsets of them.

The six benchmarks of the paper have fixed keys and categories; a score table may hold any
other benchmark too (a leaderboard's BBH, GPQA...), keyed by its column name (``benchmark_key``)
and put in a category by the user (``--category NAME=B1,B2``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

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
    """Map a column header or task name to one of the six keys, or None if it is not one."""
    squashed = re.sub(r"[^a-z0-9]", "", header.lower())
    squashed = squashed.removeprefix("karma")
    return _ALIASES.get(squashed)


def benchmark_key(header: str) -> str | None:
    """The key of a benchmark column: one of the six where the header names one (any of
    their spellings), else the header in lower case with every run of other characters than
    letters and digits made one ``_`` ("MATH Lvl 5" -> ``math_lvl_5``); None for a header
    with no letter or digit."""
    known = canonical_benchmark(header)
    if known is not None:
        return known
    return re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_") or None


def category_key(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return "instruction_following" if key in ("instruction", "if") else key


def categories_for(
    available: Iterable[str], given: Mapping[str, Iterable[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """The categories over the benchmarks ``available``: the paper's three, then the user's
    (``--category NAME=B1,B2``; one named like a paper's category replaces it). Every member
    of a user's category must be one of ``available``."""
    have = tuple(available)
    categories = dict(CATEGORIES)
    for name, members in (given or {}).items():
        if category_key(name) in have:
            raise InputError(f"--category {name}: the score table has a benchmark of that name")
        keys = []
        for member in members:
            key = benchmark_key(member)
            if key not in have:
                raise InputError(
                    f"--category {name}: {member!r} is not a benchmark of the score table "
                    f"(it has: {', '.join(have)})"
                )
            keys.append(key)
        categories[category_key(name)] = tuple(dict.fromkeys(keys))
    return categories


def resolve_benchmarks(
    spec: str | None,
    available: Iterable[str] = BENCHMARKS,
    categories: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[str, ...]:
    """Turn ``--benchmarks`` (comma-separated keys and/or category names) into keys.

    ``available``: the score table's benchmarks; ``categories``: from ``categories_for``
    (default: the paper's three). ``None``, ``""`` and ``"all"`` mean every benchmark of the
    table. The result keeps the table's order; one of the six that the table lacks is kept
    (after the others) for the caller to report as missing.
    """
    have = tuple(available)
    cats = dict(CATEGORIES if categories is None else categories)
    if spec is None or spec.strip() in ("", "all"):
        return have
    wanted: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key = category_key(part)
        if key in cats:
            wanted.update(cats[key])
            continue
        bench = benchmark_key(part)
        if bench is None or (bench not in have and bench not in BENCHMARKS):
            choices = ", ".join([*have, *cats])
            raise InputError(f"unknown benchmark or category {part!r} (choose from: {choices})")
        wanted.add(bench)
    order = [*have, *(b for b in BENCHMARKS if b not in have)]
    return tuple(b for b in order if b in wanted)
