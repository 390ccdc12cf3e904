"""Stage 0 output -> a pool: the ``karmagen`` samples files of several model runs become
one response pool in UltraFeedback's schema, which ``karma-build binarize`` reads as it is.

A prompt is identified by its text (``prompt_id`` = sha256 of the instruction, as binarize
computes it), never by lm-eval's ``doc_id``: runs made on different days or machines join as long
as they answered the same prompt set. One row per prompt, the models in a stable order (by name);
empty or whitespace-only responses count as missing and are left out of ``completions``; rows
with fewer than two responses are kept and counted (binarize skips and counts them again).

Everything that is not one clean run per model is refused (``InputError``, exit 2) before a byte
is written: samples of another task, lines that are truncated or not UTF-8, a run whose model
cannot be named, two runs claiming one model, different prompt sets, prompts that differ only in
whitespace, runs without samples.

A Stage-0 task is ``karmagen`` (shipped) or ``karmagen_<name>`` (``karma-build responses-task``);
samples of any of them are read, and the pool records which task each run answered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from karma_plugin._version import __version__
from karma_plugin.core.prompts import prompt_id
from karma_plugin.errors import InputError
from karma_plugin.fs.atomic import UNCHECKED, Found
from karma_plugin.lmeval.responses import (
    INSTRUCTION_FIELD,
    SOURCE_FIELD,
    TASK,
    is_generation_task,
    shorten_prompt,
    whitespace_variants,
)
from karma_plugin.lmeval.results import (
    RESULTS_STAMP,
    find_run_files,
    load_results,
    model_for_run,
    run_model_name,
)
from karma_plugin.lmeval.samples import SAMPLES_FILE, sample_lines
from karma_plugin.pools.schema import PROVENANCE_KEY

POOL_FORMAT = 1
ROW_GROUP_ROWS = 2_000  # binarize decodes row groups in parallel: keep each one modest
# The usual types; the responses (and the lists) switch to 64-bit offsets past 2 GiB.
COMPLETION = pa.struct(
    [
        ("model", pa.string()),
        ("response", pa.string()),
        # UltraFeedback's per-completion fields; no annotator has rated these responses.
        ("principle", pa.string()),
        ("custom_system_prompt", pa.string()),
        ("critique", pa.string()),
        ("overall_score", pa.float64()),
        ("fine-grained_score", pa.float64()),
    ]
)
SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("instruction", pa.string()),
        ("models", pa.list_(pa.string())),
        ("completions", pa.list_(COMPLETION)),
        ("prompt_id", pa.string()),
    ]
)


# 32-bit offsets hold 2 GiB of text and 2**31 list items; a larger pool gets 64-bit ones
# (binarize reads both).
_MAX_STRING_BYTES = 2**31 - 1
_MAX_LIST_ITEMS = 2**31 - 1


def _text_array(values: list[str]) -> pa.Array:
    size = sum(map(len, values))
    if size * 4 > _MAX_STRING_BYTES:  # only then count the bytes exactly
        size = sum(len(v.encode("utf-8")) for v in values)
    return pa.array(values, pa.large_string() if size > _MAX_STRING_BYTES else pa.string())


# --- runs ---------------------------------------------------------------------------------------


@dataclass
class ResponseRun:
    """One model's answers to the prompt set, from one ``samples_karmagen*_<stamp>`` file."""

    model: str
    samples: Path
    results: Path | None
    # instruction -> response, in doc_id order; a repeated instruction keeps its first
    # non-blank response
    responses: dict[str, str]
    sources: dict[str, str]
    duplicates: int = 0  # documents whose instruction repeats an earlier one
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        return sum(1 for r in self.responses.values() if not r.strip())


def merge_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``--name RUN=MODEL`` pairs as a dict; the same RUN named twice differently is refused."""
    names: dict[str, str] = {}
    for run, model in pairs:
        if names.setdefault(run, model) != model:
            raise InputError(
                f"duplicate model names: --name {run}= is given as both {names[run]!r} "
                f"and {model!r}"
            )
    return names


def _samples_task(path: Path) -> tuple[str, str] | None:
    match = SAMPLES_FILE.match(path.name)
    return (match["task"], match["stamp"]) if match else None


def _results_stamp(path: Path) -> str | None:
    # results_<stamp>.json, or NAME_<stamp>.json when --output_path ended in .json
    match = RESULTS_STAMP.search(path.name)
    return match.group(1) if match else None


def _generation_tasks(doc: Mapping[str, Any]) -> list[str]:
    """The Stage-0 tasks a results file reports, in its order."""
    names = [n for key in ("results", "configs") for n in (doc.get(key) or {})]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and is_generation_task(n)]


def _mentions_task(doc: Mapping[str, Any]) -> bool:
    return bool(_generation_tasks(doc))


# How messages name the Stage-0 tasks (the shipped one and the ones responses-task writes).
_STAGE0 = f"{TASK} (or {TASK}_<name>)"


def find_samples(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The Stage-0 samples files named by ``paths`` (folders searched recursively,
    samples files, or a run's results file standing for its samples)."""
    found: list[Path] = []
    for spec in paths:
        path = Path(spec)
        if path.is_file() and path.suffix == ".json":
            found.append(_samples_of_results(path))
            continue
        try:
            files = find_run_files([spec], "samples_*.jsonl", ".jsonl", "samples")
        except InputError:
            if path.is_dir():
                _check_every_run_has_samples(path, [])  # the likelier cause, if it is one
            raise
        ours = [f for f in files if is_generation_task((_samples_task(f) or ("", ""))[0])]
        if path.is_file() and not ours:
            named = _samples_task(path)
            if named is None:
                raise InputError(
                    f"{str(path)!r} is not named like an lm-eval samples file "
                    f"(samples_<task>_<timestamp>.jsonl)"
                )
            raise InputError(
                f"{str(path)!r} holds samples of task {named[0]}, not {_STAGE0} (Stage 0 responses)"
            )
        if not ours:
            others = sorted({t[0] for f in files if (t := _samples_task(f))})
            raise InputError(
                f"no {_STAGE0} samples in {str(path)!r} (found samples of: "
                f"{', '.join(others) or 'none'}); run lm_eval --tasks {TASK} --log_samples"
            )
        if path.is_dir():
            _check_every_run_has_samples(path, ours)
        found.extend(ours)
    return list(dict.fromkeys(found))


def _samples_of_results(path: Path) -> Path:
    doc = load_results(path)
    stamp = _results_stamp(path)
    tasks = _generation_tasks(doc)
    if not tasks:
        raise InputError(f"{str(path)!r} is not a run of task {_STAGE0} (Stage 0 responses)")
    siblings = [path.parent / f"samples_{task}_{stamp}.jsonl" for task in tasks]
    found = [s for s in siblings if s.is_file()]
    if stamp is None or not found:
        raise InputError(
            f"the {tasks[0]} run {str(path)!r} has no samples file beside it "
            f"(samples_{tasks[0]}_<its timestamp>.jsonl): run lm_eval with --log_samples"
        )
    if len(found) > 1:
        raise InputError(
            f"the run {str(path)!r} answered {len(found)} Stage-0 tasks "
            f"({', '.join(tasks)}): pass the samples file of the one to use"
        )
    return found[0].resolve()


def _check_every_run_has_samples(folder: Path, samples: list[Path]) -> None:
    have = {(p.parent, _samples_task(p)[1]) for p in samples}  # type: ignore[index]
    for results in sorted(folder.rglob("results_*.json")):
        stamp = _results_stamp(results)
        if stamp is None or (results.parent.resolve(), stamp) in have:
            continue
        try:
            doc = load_results(results)
        except InputError:
            continue
        if _mentions_task(doc):
            raise InputError(
                f"the {_generation_tasks(doc)[0]} run {str(results)!r} has no samples file "
                "beside it: "
                "run lm_eval with --log_samples (or pass only the runs to use)"
            )


def _response(row: Mapping[str, Any]) -> str | None:
    """The raw generation; "" (missing) where a chat API returned no content (null)."""
    resps = row.get("resps")
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0]:
        first = resps[0][0]
        if first is None:
            return ""
        return first if isinstance(first, str) else None
    return None


def _generation_kwargs(row: Mapping[str, Any]) -> Any:
    args = row.get("arguments")
    if isinstance(args, dict):
        first = args.get("gen_args_0")
        if isinstance(first, dict):
            return first.get("arg_1")
    return None


def read_samples_file(path: Path) -> tuple[dict[str, str], dict[str, str], int, Any]:
    """``(responses, sources, duplicates, generation kwargs)`` of one samples file."""
    by_doc: dict[int, tuple[str, str, str]] = {}
    generation = None
    for number, row in sample_lines(path):
        found = row.get("doc")
        doc: dict[str, Any] = found if isinstance(found, dict) else {}
        text = doc.get(INSTRUCTION_FIELD)
        if not isinstance(text, str) or "doc_id" not in row:
            raise InputError(
                f"{str(path)!r} line {number} is not a Stage-0 ({_STAGE0}) sample "
                f"(no doc_id, or its doc has no {INSTRUCTION_FIELD!r} text)"
            )
        if row.get("filter", "none") != "none":
            continue  # another filter's copy of the same documents
        response = _response(row)
        if response is None:
            raise InputError(f"{str(path)!r} line {number} has no generated response (resps)")
        try:
            text.encode("utf-8"), response.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                f"{str(path)!r} line {number} holds text that is not valid Unicode "
                "(a lone surrogate escape)"
            ) from None
        doc_id = row["doc_id"]
        if not isinstance(doc_id, int) or doc_id in by_doc:
            raise InputError(f"{str(path)!r} line {number}: doc_id {doc_id!r} repeats or is odd")
        source = doc.get(SOURCE_FIELD)
        by_doc[doc_id] = (text, response, source if isinstance(source, str) else "")
        if generation is None:
            generation = _generation_kwargs(row)
    if not by_doc:
        raise InputError(f"{str(path)!r} has no {_STAGE0} samples")
    responses: dict[str, str] = {}
    sources: dict[str, str] = {}
    for doc_id in sorted(by_doc):
        text, response, source = by_doc[doc_id]
        if not responses.get(text, "").strip():
            responses[text] = response
        sources.setdefault(text, source)
    return responses, sources, len(by_doc) - len(responses), generation


def _results_of(samples: Path, stamp: str) -> tuple[Path | None, dict[str, Any] | None]:
    """The results file of the same run: same folder, same timestamp (``results_`` or, with
    ``--output_path x.json``, any ``*_<stamp>.json``). lm-eval may have failed to write it."""
    for candidate in sorted(samples.parent.glob(f"*_{stamp}.json")):
        try:
            return candidate, load_results(candidate)
        except InputError:
            continue
    return None, None


_CONFIG_KEYS = (
    "model",
    "model_args",
    "batch_size",
    "device",
    "limit",
    "gen_kwargs",
    "random_seed",
    "numpy_seed",
    "torch_seed",
    "model_dtype",
    "model_revision",
    "model_sha",
    "model_num_parameters",
)
_RUN_KEYS = (
    "lm_eval_version",
    "transformers_version",
    "model_source",
    "system_instruction",
    "system_instruction_sha",
    "fewshot_as_multiturn",
    "chat_template_sha",
    "date",
)
_PROMPT_SET_KEYS = ("dataset_path", "dataset_name", "dataset_kwargs", "test_split")
_TASK_KEYS = (*_PROMPT_SET_KEYS, "metadata")


def run_provenance(doc: Mapping[str, Any] | None, task_name: str = TASK) -> dict[str, Any]:
    """What a results file says about how the responses to ``task_name`` were made."""
    if not doc:
        return {}
    found = doc.get("config")
    config: Mapping[str, Any] = found if isinstance(found, dict) else {}
    out: dict[str, Any] = {k: config[k] for k in _CONFIG_KEYS if k in config}
    if "model" in out:
        out["backend"] = out.pop("model")  # lm-eval's --model (hf, vllm, ...)
    out.update({k: doc[k] for k in _RUN_KEYS if doc.get(k) is not None})
    out["chat_template_applied"] = bool(doc.get("chat_template"))
    task = (doc.get("configs") or {}).get(task_name)
    if isinstance(task, dict):
        out["task"] = {k: task[k] for k in _TASK_KEYS if k in task}
        if "generation_kwargs" in task:
            out["task"]["generation_kwargs"] = task["generation_kwargs"]
    samples = (doc.get("n-samples") or {}).get(task_name)
    if samples:
        out["n_samples"] = samples
    return json.loads(json.dumps(out, default=str))  # JSON-safe, whatever lm-eval recorded


def read_runs(
    paths: Iterable[str | os.PathLike[str]], names: Mapping[str, str] | None = None
) -> list[ResponseRun]:
    """One ResponseRun per Stage-0 samples file under ``paths``, each named."""
    names = dict(names or {})
    used: set[str] = set()
    runs: list[ResponseRun] = []
    for samples in find_samples(paths):
        task_name, stamp = _samples_task(samples)  # type: ignore[misc]
        # The content first: a file of another task says so before any naming question.
        responses, sources, duplicates, generation = read_samples_file(samples)
        results, doc = _results_of(samples, stamp)
        try:
            recorded = run_model_name(doc) if doc else None
        except InputError:
            recorded = None
        keys = [k for k in (recorded, samples.parent.name) if k]
        key = next((k for k in keys if k in names), None)
        if key is None and recorded is None:
            raise InputError(
                f"cannot tell which model wrote {str(samples)!r}: no results file of the same "
                f"run (*_{stamp}.json) names it; give it with --name {samples.parent.name}=MODEL"
            )
        used.update(k for k in keys if k in names)
        # The same lookup as `karma-build scores`, so pool and score table agree on names.
        model = model_for_run(recorded or samples.parent.name, samples, names)
        provenance = {
            **run_provenance(doc, task_name),
            "model": model,  # the pool's name for it
            "task_name": task_name,  # the Stage-0 task it answered
            "lm_eval_model": recorded,  # what lm-eval recorded (pretrained=...)
            "samples_file": str(samples),
            "results_file": str(results) if results else None,
            "generation_kwargs": generation,  # as sent with each request
        }
        runs.append(
            ResponseRun(model, samples, results, responses, sources, duplicates, provenance)
        )
    unused = sorted(set(names) - used)
    if unused:
        raise InputError(
            f"--name {unused[0]}= matches no run (a run is named by the model lm-eval recorded "
            "or by its results folder)"
        )
    _check_claims(runs)
    return sorted(runs, key=lambda r: (r.model.casefold(), r.model))


def _check_claims(runs: list[ResponseRun]) -> None:
    # binarize matches completions to score-table models by trimmed, case-insensitive name
    claimed: dict[str, ResponseRun] = {}
    for run in runs:
        first = claimed.setdefault(run.model.strip().casefold(), run)
        if first is run:
            continue
        if first.model == run.model:
            raise InputError(
                f"two runs claim model {run.model!r}: {str(first.samples)!r} and "
                f"{str(run.samples)!r}; pass only the run to use (a samples file can be given "
                "directly) or tell them apart with --name"
            )
        raise InputError(
            f"duplicate model names: {first.model!r} and {run.model!r} are one model to "
            "binarize (names match case-insensitively); rename one with --name"
        )


# --- the pool -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSummary:
    prompts: int
    models: tuple[str, ...]
    responses: dict[str, int]
    missing: dict[str, int]
    fewer_than_2: int  # rows with fewer than two responses (kept; binarize skips them)
    duplicate_prompts: int


def _check_prompt_sets(runs: list[ResponseRun]) -> None:
    first = runs[0]
    reference = set(first.responses)
    for run in runs[1:]:
        other = set(run.responses)
        if other == reference:
            continue
        only_first = sorted(reference - other, key=prompt_id)
        only_run = sorted(other - reference, key=prompt_id)
        example = (only_first or only_run)[0]
        raise InputError(
            f"mismatched prompt sets: {first.model} answered {len(reference)} prompts, "
            f"{run.model} {len(other)}; {len(only_first)} only in {first.model}'s, "
            f"{len(only_run)} only in {run.model}'s (e.g. {shorten_prompt(example)!r}); run every "
            "model on the same prompt set (same task files and --limit)"
        )
    clash = whitespace_variants(first.responses)
    if clash:
        raise InputError(clash)


def build_pool(runs: list[ResponseRun]) -> tuple[pa.Table, PoolSummary]:
    """The pool table (SCHEMA, provenance in its metadata) and what it holds."""
    if len(runs) < 2:
        found = ", ".join(r.model for r in runs) or "none"
        raise InputError(f"a pool needs the responses of at least 2 models, found {found}")
    _check_prompt_sets(runs)
    prompts = list(runs[0].responses)
    models = [r.model for r in runs]
    system = [r.provenance.get("system_instruction") for r in runs]
    counts = np.zeros(len(prompts), np.int32)
    flat_model: list[str] = []
    flat_response: list[str] = []
    flat_system: list[str | None] = []
    for i, text in enumerate(prompts):
        for m, run in enumerate(runs):
            response = run.responses[text]
            if response.strip():
                flat_model.append(models[m])
                flat_response.append(response)
                flat_system.append(system[m])
                counts[i] += 1
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    n = len(flat_model)
    names = pa.array(flat_model, pa.string())
    columns = {
        "model": names,
        "response": _text_array(flat_response),
        "principle": pa.nulls(n, pa.string()),
        "custom_system_prompt": pa.array(flat_system, pa.string()),
        "critique": pa.nulls(n, pa.string()),
        "overall_score": pa.nulls(n, pa.float64()),
        "fine-grained_score": pa.nulls(n, pa.float64()),
    }
    completions = pa.StructArray.from_arrays(list(columns.values()), names=list(columns))
    as_list = pa.LargeListArray if n > _MAX_LIST_ITEMS else pa.ListArray
    list_offsets = offsets if n > _MAX_LIST_ITEMS else offsets.cast(pa.int32())
    sources = runs[0].sources
    table = pa.Table.from_arrays(
        [
            pa.array([sources.get(t, "") for t in prompts], pa.string()),
            pa.array(prompts, pa.string()),
            as_list.from_arrays(list_offsets, names),
            as_list.from_arrays(list_offsets, completions),
            pa.array([prompt_id(t) for t in prompts], pa.string()),
        ],
        names=SCHEMA.names,
    )
    summary = PoolSummary(
        prompts=len(prompts),
        models=tuple(models),
        responses={r.model: len(prompts) - r.missing for r in runs},
        missing={r.model: r.missing for r in runs},
        fewer_than_2=int((counts < 2).sum()),
        duplicate_prompts=max(r.duplicates for r in runs),
    )
    prompt_sets = [
        {k: v for k, v in r.provenance["task"].items() if k in _PROMPT_SET_KEYS}
        for r in runs
        if "task" in r.provenance
    ]
    provenance = {
        "format": POOL_FORMAT,
        # where the prompts came from, as lm-eval recorded the task (None: no results file)
        "prompt_set": prompt_sets[0] if prompt_sets else None,
        "prompt_set_same_in_every_run": all(p == prompt_sets[0] for p in prompt_sets),
        "tool": "karma-build pool",
        "karma_plugin": __version__,
        # the Stage-0 task(s) the runs answered (one name, or names joined by ", ")
        "task": ", ".join(sorted({r.provenance["task_name"] for r in runs})),
        "prompts": summary.prompts,
        "models": list(summary.models),
        "responses": summary.responses,
        "missing_responses": summary.missing,
        "rows_with_fewer_than_2_responses": summary.fewer_than_2,
        "duplicate_prompts": summary.duplicate_prompts,
        "runs": [r.provenance for r in runs],
    }
    metadata = {PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode("utf-8")}
    return table.replace_schema_metadata(metadata), summary


def is_pool_file(path: str | os.PathLike[str]) -> bool:
    """``path`` is a pool `karma-build pool` wrote (its parquet metadata holds the
    provenance)."""
    from karma_plugin.pools.reader import read_provenance

    try:
        return read_provenance(path) is not None
    except (OSError, ValueError, pa.ArrowException):
        return False


def write_pool(table: pa.Table, path: str | os.PathLike[str], found: Found = UNCHECKED) -> None:
    """Write the pool atomically: a complete parquet file appears, or nothing (where
    ``check_file_output`` saw ``found``)."""
    import pyarrow.parquet as pq

    from karma_plugin.fs.atomic import write_file

    write_file(
        path, lambda tmp: pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS), found=found
    )
