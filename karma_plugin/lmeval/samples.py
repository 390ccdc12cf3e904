"""Sample-level kinship: agreement of models item by item, from lm-eval ``--log_samples`` files.

Two models with the same benchmark scores can still make different mistakes; the benchmark
cosine cannot tell them apart, per-item agreement can. Metrics (one kappa per benchmark, then
the mean over benchmarks, so every benchmark weighs the same as in S_pref and the cosine):

- ``ec``: error consistency (Geirhos et al. 2020), Cohen's kappa on right/wrong. Every task
  counts, IFEval included (right = ``prompt_level_strict_acc``). If both models are right on
  every item (or both wrong on every item) kappa is 0/0; we call it 1: they behaved identically.
- ``capa``: chance-adjusted probabilistic agreement (Goel et al. 2025) from the ``lm-sim``
  package, on one-hot predictions built from the extracted letters; a response with no
  extractable letter counts as a uniform guess over the item's options. Unlike ``ec`` it
  separates two wrong answers that differ. Multiple-choice tasks only (IFEval has no options).

The reader takes the headline filter of each task (``lmeval.results.DEFAULT_METRICS``; lines
of other filters are ignored), the newest run per model and task, and matches items by task and
``doc_id`` (checking ``doc_hash`` where present). Sample lines look the same in lm-eval 0.4.11
and 0.4.13: one line per document per filter.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core.benchmarks import BENCHMARKS
from karma_plugin.core.kinship import Kinship, compute_kinship
from karma_plugin.core.score_table import ScoreTable
from karma_plugin.errors import InputError
from karma_plugin.lmeval.results import (
    DEFAULT_METRICS,
    LITE_PREFIX,
    find_run_files,
    load_results,
    model_for_run,
    run_model_name,
    task_name,
)

METRICS = ("ec", "capa")
LETTERS = "ABCDEFGHIJ"
SAMPLES_FILE = re.compile(
    r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.jsonl$"
)


@dataclass(frozen=True)
class TaskSamples:
    """One benchmark's items, answered by every model; columns sorted by ``doc_id``."""

    benchmark: str
    doc_ids: np.ndarray  # (items,)
    correct: np.ndarray  # bool (models, items)
    choice: np.ndarray  # int (models, items): option index, -1 = no answer extracted
    n_options: np.ndarray  # (items,): 0 where the item has no options (IFEval)
    gold: np.ndarray  # (items,): correct option index, -1 where none


@dataclass(frozen=True)
class SampleSet:
    models: tuple[str, ...]
    tasks: dict[str, TaskSamples]  # benchmark -> items
    ignored: tuple[str, ...] = ()  # models found in the files but not asked for

    def subset(self, models: Iterable[str]) -> SampleSet:
        wanted = list(models)
        rows = [self.models.index(m) for m in wanted]
        return SampleSet(
            tuple(wanted),
            {
                b: dataclasses.replace(t, correct=t.correct[rows], choice=t.choice[rows])
                for b, t in self.tasks.items()
            },
        )


# --- pure maths ---------------------------------------------------------------------------


def error_consistency(correct: np.ndarray) -> np.ndarray:
    """Cohen's kappa on right/wrong for every pair of rows of a (models, items) bool matrix."""
    right = correct.astype(float)
    n = right.shape[1]
    if n == 0:
        raise InputError("error consistency needs at least one item")
    observed = (right @ right.T + (1 - right) @ (1 - right).T) / n
    acc = right.mean(axis=1)
    expected = np.outer(acc, acc) + np.outer(1 - acc, 1 - acc)
    denom = 1.0 - expected
    # expected == 1 only when both models are constant and equal: identical behaviour.
    kappa = np.divide(observed - expected, denom, out=np.ones_like(observed), where=denom > 1e-12)
    np.fill_diagonal(kappa, 1.0)
    return kappa


def one_hot(choice: np.ndarray, n_options: np.ndarray) -> list[np.ndarray]:
    """Per item a probability vector: one-hot on the chosen option, uniform if none."""
    vectors = []
    for c, k in zip(choice, n_options, strict=True):
        v = np.full(int(k), 1.0 / k) if c < 0 else np.eye(int(k))[int(c)]
        vectors.append(v)
    return vectors


def capa(choice: np.ndarray, n_options: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """lm-sim's CAPA (kappa_p) for every pair of rows of a (models, items) choice matrix."""
    try:
        from lmsim.metrics import CAPA
    except ImportError:
        raise InputError("--metric capa needs the lm-sim package: pip install lm-sim") from None
    if (n_options < 2).any():
        raise InputError("CAPA needs multiple-choice items with at least 2 options")
    outputs = [one_hot(row, n_options) for row in choice]
    gt = [int(g) for g in gold]
    m = len(outputs)
    kappa = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            # prob=True: the product of one-hot vectors is exact agreement, and a uniform
            # "no answer" vector agrees with anything at chance (1/k), not with certainty.
            kappa[i, j] = kappa[j, i] = float(CAPA(prob=True).compute_k(outputs[i], outputs[j], gt))
    return kappa


def sample_kinship(samples: SampleSet, metric: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The mean over benchmarks of the per-benchmark kappa matrices, and those matrices."""
    if metric not in METRICS:
        raise InputError(
            f"unknown sample-level metric {metric!r} (choose from: {', '.join(METRICS)})"
        )
    per: dict[str, np.ndarray] = {}
    for bench, t in samples.tasks.items():
        if metric == "ec":
            per[bench] = error_consistency(t.correct)
        elif (t.n_options >= 2).all():
            per[bench] = capa(t.choice, t.n_options, t.gold)
    if not per:
        raise InputError(
            f"no task usable for {metric}: CAPA needs multiple-choice karma_* tasks "
            f"(found only {', '.join(task_name(b) for b in samples.tasks) or 'none'})"
        )
    return np.mean(list(per.values()), axis=0), per


# --- reading lm-eval samples files ----------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    model: str
    stamp: str
    path: Path


class TooFewModels(InputError):
    """Fewer than 2 models have samples (of those asked for): nothing to relate."""


def find_samples_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    return find_run_files(paths, "samples_*.jsonl", ".jsonl", "samples")


def _run_model(path: Path, stamp: str, names: Mapping[str, str]) -> str:
    """The model of a samples file: the results file of the same run names it (``results_`` or,
    with ``--output_path x.json``, any ``*_<stamp>.json``); else the folder lm-eval made."""
    name = path.parent.name
    for candidate in sorted(path.parent.glob(f"*_{stamp}.json")):
        try:
            name = run_model_name(load_results(candidate))
            break
        except InputError:
            continue
    return model_for_run(name, path, names)


def _as_correct(value: Any, path: Path, line: int, metric: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) >= 0.5
    raise InputError(f"{str(path)!r} line {line}: {metric!r} is not a number or boolean")


def sample_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, sample) for every non-blank line of an lm-eval ``--log_samples`` file;
    InputError naming the file and line for anything that is not a JSON object (not UTF-8,
    not JSON, cut short). Which keys a sample needs is for the caller to check."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"{str(path)!r} line {number} is not UTF-8 text") from None
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"{str(path)!r} line {number} is not JSON ({exc.msg}): a truncated file?"
                    ) from None
                if not isinstance(row, dict):
                    raise InputError(f"{str(path)!r} line {number} is not an lm-eval sample")
                yield number, row
    except OSError as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc.strerror}") from None


def _read_task_file(path: Path, bench: str) -> dict[int, dict[str, Any]]:
    """doc_id -> {correct, choice, n_options, gold, doc_hash} for the headline filter."""
    metric, filter_name = DEFAULT_METRICS[bench].split(",", 1)
    items: dict[int, dict[str, Any]] = {}
    for number, row in sample_lines(path):
        doc_id = row.get("doc_id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, int):
            raise InputError(f"{str(path)!r} line {number} is not an lm-eval sample")
        if row.get("filter") != filter_name:
            continue
        if metric not in row:
            raise InputError(f"{str(path)!r} line {number} has no {metric!r}")
        if doc_id in items:
            raise InputError(
                f"{str(path)!r}: doc_id {doc_id} appears twice for filter {filter_name!r}"
            )
        doc = row["doc"] if isinstance(row.get("doc"), dict) else {}
        options = doc.get("mc_options")
        n_options = len(options) if isinstance(options, list) else 0
        letters = LETTERS[:n_options]
        resps = row.get("filtered_resps") or [""]
        answer = str(resps[0]).strip() if n_options and isinstance(resps, list) else ""
        target = str(row.get("target", "")).strip()
        items[doc_id] = {
            "correct": _as_correct(row[metric], path, number, metric),
            "choice": letters.index(answer) if answer and answer in letters else -1,
            "n_options": n_options,
            "gold": letters.index(target) if n_options and target in letters else -1,
            "doc_hash": row.get("doc_hash"),
        }
    if not items:
        raise InputError(f"{str(path)!r} has no lines for filter {filter_name!r}")
    return items


def read_samples(
    paths: Iterable[str | os.PathLike[str]],
    benchmarks: Iterable[str] = BENCHMARKS,
    names: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> SampleSet:
    """Every model's newest samples per karma_* task under ``paths``, matched item by item.

    With ``only``, models outside it are dropped before matching (listed in ``ignored``)."""
    # A benchmark's samples come from its karma_* task or its karmalite_* twin (the newest
    # run's); every model must then have answered the same items (checked below).
    wanted = {name: b for b in benchmarks for name in (task_name(b), f"{LITE_PREFIX}{b}")}
    newest: dict[tuple[str, str], _Run] = {}
    for path in find_samples_files(paths):
        match = SAMPLES_FILE.match(path.name)
        if not match or match["task"] not in wanted:
            continue
        bench = wanted[match["task"]]
        run = _Run(_run_model(path, match["stamp"], names or {}), match["stamp"], path)
        key = (run.model, bench)
        if key not in newest or run.stamp > newest[key].stamp:
            newest[key] = run
    if not newest:
        raise InputError(
            "no samples of the chosen karma_* tasks "
            f"({', '.join(wanted)}) in the given paths (run lm_eval with --log_samples)"
        )
    found = sorted({m for m, _ in newest})
    allowed = None if only is None else set(only)
    models = tuple(m for m in found if allowed is None or m in allowed)
    ignored = tuple(m for m in found if m not in models)
    if len(models) < 2:
        raise TooFewModels(
            f"sample-level kinship needs at least 2 models, found {list(models)}"
            + (f" (ignored: {', '.join(ignored)})" if ignored else "")
        )
    tasks: dict[str, TaskSamples] = {}
    for bench in (b for b in BENCHMARKS if b in wanted.values()):
        have = [m for m in models if (m, bench) in newest]
        if not have:
            continue
        if len(have) < len(models):
            lacking = [m for m in models if m not in have]
            raise InputError(
                f"{task_name(bench)}: samples for {', '.join(have)} but not for "
                f"{', '.join(lacking)}; every model must answer the same items"
            )
        per_model = {m: _read_task_file(newest[(m, bench)].path, bench) for m in models}
        tasks[bench] = _align(bench, per_model)
    return SampleSet(models, tasks, ignored)


def _align(bench: str, per_model: dict[str, dict[int, dict[str, Any]]]) -> TaskSamples:
    models = list(per_model)
    first = models[0]
    ids = sorted(per_model[first])
    for m in models[1:]:
        if set(per_model[m]) != set(ids):
            only_first = sorted(set(ids) - set(per_model[m]))[:3]
            only_m = sorted(set(per_model[m]) - set(ids))[:3]
            raise InputError(
                f"{task_name(bench)}: {first} and {m} did not answer the same items "
                f"({len(ids)} vs {len(per_model[m])} items; doc_ids only in {first}: "
                f"{only_first or 'none'}, only in {m}: {only_m or 'none'}); "
                "evaluate every model on the same items (same --limit and dataset)"
            )
        for doc_id in ids:
            a, b = per_model[first][doc_id], per_model[m][doc_id]
            if a["doc_hash"] and b["doc_hash"] and a["doc_hash"] != b["doc_hash"]:
                raise InputError(
                    f"{task_name(bench)} doc_id {doc_id}: {first} and {m} answered different "
                    "documents (doc_hash differs); were they run on the same dataset revision?"
                )

    def column(key: str) -> np.ndarray:
        return np.array([[per_model[m][i][key] for i in ids] for m in models])

    ref = per_model[first]
    return TaskSamples(
        benchmark=bench,
        doc_ids=np.array(ids),
        correct=column("correct").astype(bool),
        choice=column("choice").astype(int),
        n_options=np.array([ref[i]["n_options"] for i in ids], dtype=int),
        gold=np.array([ref[i]["gold"] for i in ids], dtype=int),
    )


# --- into the Kinship that binarize and the reports use --------------------------------------


def kinship_with_samples(
    table: ScoreTable,
    benchmarks: tuple[str, ...],
    tau: float,
    sample_paths: Iterable[str | os.PathLike[str]],
    metric: str,
    names: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Kinship:
    """``compute_kinship`` with the cosine replaced by sample-level ``metric``.

    S_pref still comes from the score table (it decides chosen vs rejected). Only models with
    both scores and samples take part: table models without samples are left out (recorded in
    ``excluded``), sample models missing from the table are ignored with a warning.
    """
    try:
        samples = read_samples(sample_paths, benchmarks, names, only=table.models)
    except TooFewModels as exc:
        raise InputError(
            f"fewer than 2 models have both scores and samples ({exc}); "
            "use --name RUN=MODEL to give runs their score-table names"
        ) from None
    if samples.ignored and warn:
        warn(
            f"samples of {', '.join(samples.ignored)} ignored: not in the score table "
            "(name them with --name RUN=MODEL if they are there under another name)"
        )
    common = [m for m in table.models if m in samples.models]
    no_samples = {m: "no samples for sample-level kinship" for m in table.models if m not in common}
    rows = [table.models.index(m) for m in common]
    sub = ScoreTable(tuple(common), table.benchmarks, table.values[rows], table.source)
    k = compute_kinship(sub, benchmarks, tau)
    matrix, _ = sample_kinship(samples.subset(k.models), metric)
    return dataclasses.replace(
        k, kinship=matrix, metric=metric, excluded={**no_samples, **k.excluded}
    )
