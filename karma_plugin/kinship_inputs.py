"""The kinship a run asks for, from its inputs: a score table and, optionally, lm-eval samples.

What the kinship options of every command name (``--scores``, ``--benchmarks``, ``--tau``,
``--samples``, ``--metric``, ``--name``), for Python callers as for the CLI::

    from karma_plugin.kinship_inputs import kinship_from_options
    kin = kinship_from_options("scores.csv", "knowledge", tau=0.2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from karma_plugin.core.benchmarks import categories_for, category_key, resolve_benchmarks
from karma_plugin.core.kinship import DEFAULT_TAU, Kinship, compute_kinship
from karma_plugin.core.score_table import PAPER, read_scores
from karma_plugin.errors import InputError
from karma_plugin.lmeval.samples import METRICS as SAMPLE_METRICS
from karma_plugin.lmeval.samples import kinship_with_samples

METRICS = ("cosine", *SAMPLE_METRICS)  # the benchmark cosine, or agreement on samples


def kinship_from_options(
    scores: str | os.PathLike[str] = PAPER,
    benchmarks: str = "all",
    tau: float = DEFAULT_TAU,
    samples: Iterable[str | os.PathLike[str]] = (),
    metric: str | None = None,
    names: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    categories: Mapping[str, Iterable[str]] | None = None,
) -> Kinship:
    """The kinship the options ask for: benchmark cosine, or sample-level ec/capa.

    ``scores``: ``"paper"`` (the authors' table) or a CSV path; ``benchmarks``: keys or a
    category, comma-separated; ``samples``: lm-eval ``--log_samples`` output; ``metric`` None
    means cosine without samples and ``ec`` with them; ``names``: samples run -> score-table
    name; ``warn`` hears what is ignored on the way; ``categories``: the user's benchmark
    categories (``--category NAME=B1,B2``), which ``benchmarks`` may then name.
    """
    samples = tuple(samples)
    chosen = metric or ("ec" if samples else "cosine")
    if chosen not in METRICS:
        raise InputError(f"unknown kinship metric {chosen!r} (choose from: {', '.join(METRICS)})")
    table = read_scores(scores)
    cats = categories_for(table.benchmarks, categories)
    keys = resolve_benchmarks(benchmarks, table.benchmarks, cats)
    if chosen == "cosine":
        if samples:
            raise InputError("--samples needs --metric ec or capa (cosine uses only the scores)")
        kin = compute_kinship(table, keys, tau)
    elif not samples:
        raise InputError(f"--metric {chosen} needs --samples DIR (lm-eval --log_samples output)")
    else:
        kin = kinship_with_samples(table, keys, tau, samples, chosen, names or {}, warn=warn)
    if categories:
        kin = replace(kin, categories={category_key(n): cats[category_key(n)] for n in categories})
    return kin


def kinship_inputs(
    scores: str | os.PathLike[str], samples: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """The local paths the kinship options read (never to be replaced by an output)."""
    return [*map(str, samples), *([str(scores)] if str(scores) != PAPER else [])]
