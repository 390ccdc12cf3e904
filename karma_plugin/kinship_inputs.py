"""The kinship a run asks for, from its inputs: a score table and, optionally, lm-eval samples.

What the kinship options of every command name (``--scores``, ``--benchmarks``, ``--tau``,
``--samples``, ``--metric``, ``--name``), as one ``KinshipOptions``, for Python callers as for
the CLI::

    from karma_plugin import KinshipOptions
    kin = KinshipOptions("scores.csv", "knowledge", tau=0.2).kinship()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from karma_plugin.core.benchmarks import (
    BENCHMARKS,
    ITEMS,
    categories_for,
    category_key,
    resolve_benchmarks,
)
from karma_plugin.core.kinship import DEFAULT_TAU, Kinship, Listing, compute_kinship
from karma_plugin.core.score_table import PAPER, ScoreTable, read_scores
from karma_plugin.core.uncertainty import NoiseSource, Uncertainty, bootstrap, noise_source
from karma_plugin.errors import InputError, KarmaError
from karma_plugin.lmeval.samples import METRICS as SAMPLE_METRICS
from karma_plugin.lmeval.samples import TooFewModels, kinship_with_samples, read_samples

METRICS = ("cosine", *SAMPLE_METRICS)  # the benchmark cosine, or agreement on samples


def kinship_from_options(
    scores: str | os.PathLike[str] = PAPER,
    benchmarks: str = "all",
    tau: float = DEFAULT_TAU,
    samples: Iterable[str | os.PathLike[str]] = (),
    metric: str | None = None,
    names: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    bootstrap: bool = False,
    categories: Mapping[str, Iterable[str]] | None = None,
) -> Kinship:
    """The kinship the options ask for: benchmark cosine, or sample-level ec/capa.

    ``scores``: ``"paper"`` (the authors' table) or a CSV path; ``benchmarks``: keys or a
    category, comma-separated; ``samples``: lm-eval ``--log_samples`` output; ``metric`` None
    means cosine without samples and ``ec`` with them; ``names``: samples run -> score-table
    name; ``warn`` hears what is ignored on the way. With ``bootstrap`` (``--bootstrap N``)
    the samples may serve the error bars alone (``--metric cosine --samples DIR``).
    ``categories``: the user's benchmark categories (``--category NAME=B1,B2``), which
    ``benchmarks`` may then name.
    """
    samples = tuple(samples)
    chosen = metric or ("ec" if samples else "cosine")
    if chosen not in METRICS:
        raise InputError(f"unknown kinship metric {chosen!r} (choose from: {', '.join(METRICS)})")
    table = read_scores(scores)
    cats = categories_for(table.benchmarks, categories)
    keys = resolve_benchmarks(benchmarks, table.benchmarks, cats)
    if chosen == "cosine":
        if samples and not bootstrap:
            raise InputError(
                "--samples needs --metric ec or capa, or --bootstrap N (cosine uses only the "
                "scores; --bootstrap resamples the samples' items)"
            )
        columns = [table.benchmarks.index(b) for b in keys if b in table.benchmarks]
        complete = ~np.isnan(table.values[:, columns]).any(axis=1) if columns else []
        check_matrix_fits(int(np.count_nonzero(complete)))
        kin = compute_kinship(table, keys, tau)
    elif not samples:
        raise InputError(f"--metric {chosen} needs --samples DIR (lm-eval --log_samples output)")
    else:
        kin = kinship_with_samples(table, keys, tau, samples, chosen, names or {}, warn=warn)
    if categories:
        kin = replace(kin, categories={category_key(n): cats[category_key(n)] for n in categories})
    return kin


def available_memory() -> int | None:
    """The bytes this machine could give the run now (Linux: MemAvailable and free swap), or
    None when it cannot tell."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        kib = int(fields["MemAvailable"].split()[0]) + int(
            fields.get("SwapFree", "0 kB").split()[0]
        )
        return kib * 1024
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_matrix_fits(n_models: int) -> None:
    """Refuse (exit 1), before it is computed, a kinship matrix that this machine cannot hold:
    n x n float64 values, 8 n^2 bytes (1.4 TB for 418,000 models), held at once."""
    need = 8 * n_models * n_models
    available = available_memory()
    if available is not None and need > available:
        raise KarmaError(
            f"the kinship matrix of {n_models:,} models needs {_size(need)} of memory and "
            f"this machine has {_size(available)} available: keep the models you need in the "
            "score table (a matrix of 10,000 models takes 0.8 GB), or use a machine with more "
            "memory"
        )


def kinship_inputs(
    scores: str | os.PathLike[str], samples: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """The local paths the kinship options read (never to be replaced by an output)."""
    return [*map(str, samples), *([str(scores)] if str(scores) != PAPER else [])]


def noise_from_options(
    kin: Kinship,
    scores: str | os.PathLike[str] = PAPER,
    samples: Iterable[str | os.PathLike[str]] = (),
    items: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> NoiseSource:
    """Where ``--bootstrap``'s noise comes from for ``kin`` (docs/design.md §5.1), best first:
    the per-item results in ``samples`` (a paired item bootstrap), the score table's
    ``<benchmark>_stderr`` columns, else a proportion of n items, n from ``items``
    (``--items BENCH=N``), the table's ``n_items`` row, or the full size of the karma task
    (``core.benchmarks.ITEMS``), in that order."""
    table = read_scores(scores)
    unknown = [b for b in (items or {}) if b not in table.benchmarks]
    if unknown:
        raise InputError(
            f"--items: the score table has no benchmark {unknown[0]!r} "
            f"(it has: {', '.join(table.benchmarks)})"
        )
    per_item: dict[str, np.ndarray] = {}
    samples = tuple(samples)
    if samples:
        try:
            found = read_samples(samples, kin.benchmarks, names, only=kin.models)
        except TooFewModels as exc:
            raise InputError(
                f"--bootstrap: fewer than 2 models have both scores and samples ({exc}); "
                "use --name RUN=MODEL to give runs their score-table names"
            ) from None
        rows = [kin.models.index(m) for m in found.models]
        for bench, task in found.tasks.items():
            results = np.full((len(kin.models), len(task.doc_ids)), np.nan)
            results[rows] = task.correct.astype(np.float64)
            per_item[bench] = results
    stderr = table.noise_of(kin.models, kin.benchmarks)
    # The full-size n only where a score needs it (a column with every standard error known
    # reports the n the table or --items gave, else none: it may come from a --limit run).
    needed = {
        b: ITEMS[b]
        for j, b in enumerate(kin.benchmarks)
        if b in ITEMS and not np.isfinite(stderr[:, j]).all()
    }
    n_items = {**needed, **(table.n_items or {}), **(items or {})}
    return noise_source(
        kin.scores,
        kin.benchmarks,
        stderr=stderr,
        n_items=n_items,
        per_item=per_item,
        origin="--samples" if per_item else "",
    )


def uncertainty_from_options(
    kin: Kinship,
    listing: Listing | None,
    draws: int,
    seed: int,
    scores: str | os.PathLike[str] = PAPER,
    samples: Iterable[str | os.PathLike[str]] = (),
    items: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> Uncertainty:
    """``--bootstrap N --seed S``: the error bars of ``kin`` for the ``listing`` (the
    ``uncertainty`` key of kinship.json), the noise as ``noise_from_options`` finds it."""
    source = noise_from_options(kin, scores, samples, items, names)
    return bootstrap(kin, draws, seed, source, listing)


@dataclass(frozen=True)
class KinshipOptions:
    """The kinship options of a run, together: every command that computes kinship takes one
    (``--scores``, ``--benchmarks``, ``--tau``, ``--samples``, ``--metric``, ``--name``).

    ``scores``: ``"paper"`` (the authors' table, shipped) or a score-table CSV; ``benchmarks``:
    keys or a category, comma-separated; ``tau``: the kinship threshold, the only tau of a run
    (pairing reads it from the ``Kinship``); ``samples``: lm-eval ``--log_samples`` output for
    sample-level kinship (``metric`` ``ec``/``capa``) or the error bars; ``names``: samples
    run -> score-table name; ``categories``: the user's benchmark categories
    (``--category NAME=B1,B2``), which ``benchmarks`` may then name.
    """

    scores: str | os.PathLike[str] = PAPER
    benchmarks: str = "all"
    tau: float = DEFAULT_TAU
    samples: tuple[str | os.PathLike[str], ...] = ()
    metric: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, Iterable[str]] = field(default_factory=dict)

    def score_table(self) -> ScoreTable:
        return read_scores(self.scores)

    def kinship(
        self, warn: Callable[[str], None] | None = None, bootstrap: bool = False
    ) -> Kinship:
        """``kinship_from_options`` of these options."""
        return kinship_from_options(
            self.scores, self.benchmarks, self.tau, self.samples, self.metric, self.names,
            warn=warn, bootstrap=bootstrap, categories=self.categories or None,
        )  # fmt: skip

    def inputs(self) -> list[str]:
        """The local paths these options read (never to be replaced by an output)."""
        return kinship_inputs(self.scores, self.samples)

    def noise(self, kin: Kinship, items: Mapping[str, int] | None = None) -> NoiseSource:
        """``noise_from_options`` of these options for ``kin``."""
        return noise_from_options(kin, self.scores, self.samples, items, self.names)

    def uncertainty(
        self,
        kin: Kinship,
        listing: Listing | None,
        draws: int,
        seed: int,
        items: Mapping[str, int] | None = None,
    ) -> Uncertainty:
        """``uncertainty_from_options`` of these options for ``kin``."""
        return uncertainty_from_options(
            kin, listing, draws, seed, self.scores, self.samples, items, self.names
        )


MAX_EXCLUSION_WARNINGS = 10  # a leaderboard table can leave out thousands of models


def excluded_messages(
    excluded: Mapping[str, str], pool_models: Iterable[str] | None = None
) -> list[str]:
    """The warnings about the models and benchmarks left out of the kinship, at most
    ``MAX_EXCLUSION_WARNINGS`` and a count of the rest. With ``pool_models`` (the pool's model
    names), a left-out model is named only when the pool has its answers: a score row nothing
    in the pool uses changes nothing (kinship.json still lists it)."""
    if pool_models is not None:
        in_pool = {name.strip().lower() for name in pool_models}
        excluded = {
            name: reason
            for name, reason in excluded.items()
            if name in BENCHMARKS or name.strip().lower() in in_pool
        }
    items = list(excluded.items())
    messages = [f"left out {name}: {reason}" for name, reason in items[:MAX_EXCLUSION_WARNINGS]]
    if len(items) > MAX_EXCLUSION_WARNINGS:
        more = len(items) - MAX_EXCLUSION_WARNINGS
        messages.append(f"left out {more} more (kinship.json lists every one under 'excluded')")
    return messages
