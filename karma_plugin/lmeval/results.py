"""Read lm-eval ``results_*.json`` files (0.4.11 and 0.4.13 layouts) into a score table.

By default the six benchmarks are read from the ``karma_*`` leaf tasks or their ``karmalite_*``
twins (the small group: the same tasks on fewer documents); everything else in a results file
is ignored. The metric per benchmark is a ``"<metric>,<filter>"`` key of ``results[task]``
(DEFAULT_METRICS, overridable). ``--benchmark NAME=TASK[:METRIC[,FILTER]]`` maps any task's
results to a benchmark (``Source``). Each score comes with the number of documents it rests on,
lm-eval's ``n-samples`` (``effective``: after ``--limit``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core.benchmarks import BENCHMARKS
from karma_plugin.core.score_table import ScoreTable
from karma_plugin.errors import InputError

TASK_PREFIX = "karma_"
LITE_PREFIX = "karmalite_"

# IFEval: prompt-level strict accuracy, the strictest of IFEval's four numbers (every instruction
# of a prompt followed, no loosening of the response) and the one the Open LLM Leaderboard and
# most papers quote. The multiple-choice tasks: accuracy of the headline filter `answer-is`
# (the LAST "The answer is (X)" in the response); `final-letter` and the `invalid` rate are
# diagnostics next to it in the same results file.
DEFAULT_METRICS: dict[str, str] = {
    "ifeval": "prompt_level_strict_acc,none",
    "mmlu_stem": "exact_match,answer-is",
    "mmlu_pro": "exact_match,answer-is",
    "hellaswag": "exact_match,answer-is",
    "arc_easy": "exact_match,answer-is",
    "arc_challenge": "exact_match,answer-is",
}

# results_2026-11-27T00-07-13.186587.json (also run_<timestamp>.json when --output_path ends
# in .json): lm-eval replaces ':' by '-' in an ISO timestamp.
RESULTS_STAMP = re.compile(r"_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.json$")


def task_name(benchmark: str) -> str:
    return f"{TASK_PREFIX}{benchmark}"


@dataclass(frozen=True)
class Source:
    """Where a benchmark's score is read: a task of the results file and a metric key
    (``"<metric>,<filter>"``; None: the task's only metric)."""

    task: str
    metric: str | None = None
    option: str = "--benchmark"  # the option that chooses the metric, for messages


def parse_source(spec: str) -> Source:
    """``TASK[:METRIC[,FILTER]]`` (FILTER defaults to lm-eval's ``none``)."""
    task, _, metric = (part.strip() for part in spec.partition(":"))
    if not task:
        raise InputError(f"--benchmark: no task in {spec!r} (expected NAME=TASK[:METRIC[,FILTER]])")
    if not metric:
        return Source(task)
    name, _, filter_name = (part.strip() for part in metric.partition(","))
    if not name:
        raise InputError(f"--benchmark: no metric in {spec!r} (expected TASK:METRIC[,FILTER])")
    return Source(task, f"{name},{filter_name or 'none'}")


def default_sources(metrics: Mapping[str, str] | None = None) -> dict[str, tuple[Source, ...]]:
    """The six benchmarks, each read from its ``karma_*`` task or its ``karmalite_*`` twin."""
    chosen = {**DEFAULT_METRICS, **(metrics or {})}
    return {
        bench: (
            Source(task_name(bench), metric, "--metric"),
            Source(f"{LITE_PREFIX}{bench}", metric, "--metric"),
        )
        for bench, metric in chosen.items()
    }


def sources_for(
    metrics: Mapping[str, str] | None = None, benchmarks: Mapping[str, Source] | None = None
) -> dict[str, tuple[Source, ...]]:
    """The default sources with ``metrics`` applied, and ``benchmarks`` (``--benchmark``)
    added or replacing a default one."""
    given = dict(benchmarks or {})
    both = sorted(set(metrics or {}) & set(given))
    if both:
        raise InputError(
            f"--metric and --benchmark both name {both[0]}: give the metric in --benchmark "
            f"({both[0]}=TASK:METRIC,FILTER)"
        )
    sources = default_sources(metrics)
    sources.update({bench: (source,) for bench, source in given.items()})
    return sources


@dataclass(frozen=True)
class Reading:
    """One benchmark's score in one results file: its value, the task and metric key it was
    read from, and the documents it rests on (None when the file does not say)."""

    value: float
    task: str
    metric: str
    items: int | None
    stderr: float | None = None  # lm-eval's <metric>_stderr,<filter> ("N/A" and absent: None)


def find_run_files(
    paths: Iterable[str | os.PathLike[str]], pattern: str, suffix: str, kind: str
) -> list[Path]:
    """Files named by ``paths``: folders are searched recursively for ``pattern``; a file is
    taken as it is if it ends in ``suffix``. InputError if a path is missing or none is found."""
    found: list[Path] = []
    given = list(paths)
    for spec in given:
        path = Path(spec)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(pattern) if p.is_file()))
        elif path.is_file():
            if path.suffix != suffix:
                raise InputError(f"{str(path)!r} is not an lm-eval {kind} file (*{suffix})")
            found.append(path)
        else:
            raise InputError(f"{kind} path {str(path)!r} not found")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        where = ", ".join(repr(str(p)) for p in given) or "(no paths given)"
        raise InputError(f"no lm-eval {kind} files ({pattern}) found in {where}")
    return unique


def find_results_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Results files named by ``paths``: folders are searched recursively for ``results_*.json``;
    a file is taken as it is (any ``*.json``). Samples files (``samples_*.jsonl``) never match."""
    return find_run_files(paths, "results_*.json", ".json", "results")


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed results document; InputError naming the file if it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{str(path)!r} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{str(path)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise InputError(f"{str(path)!r} is not an lm-eval results file (no 'results' object)")
    return doc


def _parse_model_args(text: str) -> dict[str, str]:
    """``"pretrained=org/m,dtype=bfloat16"`` -> dict (0.4.11 may record model_args so)."""
    pairs = (part.split("=", 1) for part in text.split(",") if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs}


def run_model_name(doc: Mapping[str, Any]) -> str:
    """The model a run evaluated: ``config.model_args`` ``pretrained``, else ``model_name``."""
    config = doc.get("config") or {}
    args = config.get("model_args") if isinstance(config, Mapping) else None
    if isinstance(args, str):
        args = _parse_model_args(args)
    if isinstance(args, Mapping) and args.get("pretrained"):
        return str(args["pretrained"])
    if doc.get("model_name"):
        return str(doc["model_name"])
    raise InputError("results file names no model (no config.model_args pretrained, no model_name)")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _metric_keys(entry: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in entry if "," in k and "_stderr" not in k)


def _items(doc: Mapping[str, Any], task: str) -> int | None:
    """The documents a task's score rests on: ``n-samples`` ``effective`` (after ``--limit``),
    else ``original``."""
    counts = doc.get("n-samples")
    found = counts.get(task) if isinstance(counts, Mapping) else None
    if isinstance(found, Mapping):
        for key in ("effective", "original"):
            value = _number(found.get(key))
            if value is not None and value >= 1:
                return int(value)
    return None


def read_benchmarks(
    doc: Mapping[str, Any], sources: Mapping[str, tuple[Source, ...]]
) -> dict[str, Reading]:
    """The benchmarks of ``sources`` that ``doc`` holds, each as a Reading.

    A task that is present but lacks the chosen metric is an error (a wrong ``--metric`` or a
    changed task), not a silent gap; so is a file holding two tasks of one benchmark (a full
    task and its karmalite twin): which one counts is the user's choice (``--benchmark``).
    """
    results = doc["results"]
    readings: dict[str, Reading] = {}
    for bench, options in sources.items():
        present = [s for s in options if isinstance(results.get(s.task), Mapping)]
        if not present:
            continue
        if len(present) > 1:
            tasks = " and ".join(s.task for s in present)
            raise InputError(
                f"the file holds {tasks}, both read as {bench}: keep one per results file, or "
                f"name the one to read with --benchmark {bench}={present[0].task}"
            )
        (source,) = present
        entry = results[source.task]
        metric = source.metric
        if metric is None:
            keys = _metric_keys(entry)
            if len(keys) != 1:
                raise InputError(
                    f"task {source.task} has {len(keys)} metrics ({', '.join(keys) or 'none'}): "
                    f"name one with --benchmark {bench}={source.task}:METRIC,FILTER"
                )
            metric = keys[0]
        value = _number(entry.get(metric))
        if value is None:
            have = _metric_keys(entry)
            raise InputError(
                f"task {source.task} has no numeric {metric!r} "
                f"(it has: {', '.join(have) or 'no metrics'}); choose one with {source.option}"
            )
        error = _number(entry.get(stderr_key(metric)))
        readings[bench] = Reading(
            value,
            source.task,
            metric,
            _items(doc, source.task),
            error if error is not None and error >= 0 else None,
        )
    return readings


def benchmark_scores(
    doc: Mapping[str, Any], metrics: Mapping[str, str] | None = None
) -> tuple[dict[str, float], list[str]]:
    """Scores of the six benchmarks in ``doc`` (from their karma_* or karmalite_* task), and
    the karma tasks it lacks."""
    readings = read_benchmarks(doc, default_sources(metrics))
    scores = {bench: r.value for bench, r in readings.items()}
    missing = [task_name(b) for b in BENCHMARKS if b not in scores]
    return scores, missing


def stderr_key(metric: str) -> str:
    """lm-eval's key of a metric's standard error: ``exact_match,answer-is`` ->
    ``exact_match_stderr,answer-is``."""
    name, sep, filter_name = metric.partition(",")
    return f"{name}_stderr{sep}{filter_name}"


def run_timestamp(path: Path, doc: Mapping[str, Any]) -> float:
    """When a run happened: the file name's timestamp, else ``date``, else the file's mtime."""
    match = RESULTS_STAMP.search(path.name)
    if match:
        stamp = datetime.strptime(match.group(1).split(".")[0], "%Y-%m-%dT%H-%M-%S")
        fraction = float("0." + match.group(1).split(".")[1]) if "." in match.group(1) else 0.0
        return stamp.replace(tzinfo=UTC).timestamp() + fraction
    date = _number(doc.get("date"))
    return date if date is not None else path.stat().st_mtime


@dataclass(frozen=True)
class Run:
    path: Path
    model: str
    timestamp: float
    scores: dict[str, float]
    stderr: dict[str, float] = field(default_factory=dict)  # benchmark -> standard error
    n_items: dict[str, int] = field(default_factory=dict)  # benchmark -> items scored


def model_for_run(run_name: str, path: Path, names: Mapping[str, str]) -> str:
    """The name a run goes by: ``names`` may rename it by the model lm-eval recorded or by
    the folder lm-eval made from it (model_name_sanitized), which holds ``path``."""
    for key in (run_name, path.parent.name):
        if key in names:
            return names[key]
    return run_name


def read_runs(
    paths: Iterable[str | os.PathLike[str]],
    names: Mapping[str, str] | None = None,
    metrics: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    benchmarks: Mapping[str, Source] | None = None,
) -> list[Run]:
    """Every results file under ``paths`` that holds a benchmark's task, as a Run."""
    sources = sources_for(metrics, benchmarks)
    runs: list[Run] = []
    for path in find_results_files(paths):
        doc = load_results(path)
        try:
            model = model_for_run(run_model_name(doc), path, names or {})
            readings = read_benchmarks(doc, sources)
        except InputError as exc:
            raise InputError(f"{str(path)!r}: {exc}") from None
        if not readings:
            if warn:
                warn(f"{str(path)!r} has no {_wanted(sources)} results; skipped")
            continue
        scores = {bench: r.value for bench, r in readings.items()}
        stderr = {bench: r.stderr for bench, r in readings.items() if r.stderr is not None}
        n_items = {bench: r.items for bench, r in readings.items() if r.items is not None}
        runs.append(Run(path, model, run_timestamp(path, doc), scores, stderr, n_items))
    return runs


def _wanted(sources: Mapping[str, tuple[Source, ...]]) -> str:
    """The tasks ``sources`` read, for messages: ``karma_*`` for the six defaults."""
    defaults = default_sources()
    own = [
        s.task
        for bench, options in sources.items()
        for s in options
        if bench not in defaults or options[0].option != "--metric"
    ]
    return ", ".join(["karma_*/karmalite_* task", *own]) if own else "karma_* task"


def runs_by_model(runs: Iterable[Run]) -> dict[str, list[Run]]:
    """``runs`` grouped by model, models in the order they first occur."""
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.model, []).append(run)
    return grouped


def newest_runs(runs: Iterable[Run]) -> dict[str, Run]:
    """Per benchmark, the newest of ``runs`` that has it. Of runs equally new, the last one
    read wins (``>=``: the order of ``find_results_files``)."""
    newest: dict[str, Run] = {}
    for run in runs:
        for bench in run.scores:
            if bench not in newest or run.timestamp >= newest[bench].timestamp:
                newest[bench] = run
    return newest


def newest_scores(runs: Iterable[Run]) -> dict[str, tuple[float, float]]:
    """Per benchmark, ``(timestamp, score)`` of the newest of ``runs`` that has it
    (``newest_runs``)."""
    return {b: (run.timestamp, run.scores[b]) for b, run in newest_runs(runs).items()}


def read_score_table(
    paths: Iterable[str | os.PathLike[str]],
    names: Mapping[str, str] | None = None,
    metrics: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    benchmarks: Mapping[str, Source] | None = None,
) -> ScoreTable:
    """One row per model: for each benchmark, the score of the newest run that has it.

    Benchmarks no model has are left out; a model missing some of the others gets NaN there
    and a warning naming the missing tasks. The six come first, in their usual order, then
    those of ``benchmarks`` in the order given.
    """
    paths = list(paths)
    sources = sources_for(metrics, benchmarks)
    runs = read_runs(paths, names, metrics, warn, benchmarks)
    if not runs:
        raise InputError(f"no {_wanted(sources)} results in the given results files")
    latest = {model: newest_runs(own) for model, own in runs_by_model(runs).items()}
    order = [*BENCHMARKS, *(b for b in sources if b not in BENCHMARKS)]
    keys = tuple(b for b in order if any(b in row for row in latest.values()))
    models = tuple(latest)
    values = np.full((len(models), len(keys)), np.nan)
    stderr = np.full((len(models), len(keys)), np.nan)
    counts: dict[str, set[int]] = {b: set() for b in keys}
    for i, model in enumerate(models):
        for j, bench in enumerate(keys):
            run = latest[model].get(bench)
            if run is not None:
                values[i, j] = run.scores[bench]
                stderr[i, j] = run.stderr.get(bench, np.nan)
                if bench in run.n_items:
                    counts[bench].add(run.n_items[bench])
        absent = [sources[b][0].task for b in order if b not in latest[model]]
        if absent and warn:
            warn(f"{model}: no results for {', '.join(absent)}")
    # One n per benchmark (the table's n_items row): the models' runs must agree on it (a
    # karmalite run beside a full one, or lm-eval --limit, do not).
    n_items = {b: next(iter(c)) for b, c in counts.items() if len(c) == 1}
    uneven = [b for b, c in counts.items() if len(c) > 1]
    if uneven and warn:
        warn(
            f"the models were scored on different numbers of items for {', '.join(uneven)} "
            "(lm-eval --limit, or karma_* beside karmalite_*?): no n_items for it in the table"
        )
    return ScoreTable(
        models,
        keys,
        values,
        source=", ".join(str(p) for p in paths),
        stderr=stderr if np.isfinite(stderr).any() else None,
        n_items=n_items or None,
    )
