"""Stage 0: the ``karmagen`` lm-eval task, in which each origin model answers a prompt set.

The task is greedy by default (sampling through ``--gen_kwargs``), bounded (``max_gen_toks``
2048), zero-shot, with the instruction as the whole user turn (so ``--apply_chat_template`` puts
it in each model's own template), and scored by lm-eval's ``bypass`` metric only: the product is
the responses that ``--log_samples`` keeps, which ``karma-build pool`` turns into a pool.

The shipped task is ``karmagen`` (it was ``karma_responses`` until 2026-12: lm-eval's glob
``karma_*`` then selected it with the six Stage-1 tasks, 63,967 long generations more than a
user asked for); ``karma-build responses-task`` names the tasks it writes ``karmagen_<name>``.
No Stage-0 name may start with ``karma_``, so ``--tasks 'karma_*'`` stays Stage 1 exactly.

Every Stage-0 document is reduced to ``{"instruction", "source"}`` by a small
``process_docs`` module written next to the task YAML. That keeps the samples files small (no
UltraFeedback completions copied into every line) and gives ``karma-build pool`` one field to
read whatever the prompt column was called. The shipped task (UltraFeedback's instructions at a
pinned revision) and every derived one (``karma-build responses-task``) come from the same two
renderers below, so they cannot drift apart (a test compares the shipped files with them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from karma_plugin.core.prompts import prompt_id
from karma_plugin.errors import InputError
from karma_plugin.fs.paths import DATA_FILE_BUILDERS

TASK = "karmagen"  # the shipped task; derived ones are karmagen_<name>
# karmagen, or karmagen_ then a name lm-eval, file names and Python modules all accept.
_TASK_NAME = re.compile(r"karmagen(?:_[A-Za-z0-9_]+)?")
TASK_VERSION = 1.0
# The doc fields every Stage-0 sample carries (see DOCS_TEMPLATE).
INSTRUCTION_FIELD = "instruction"
SOURCE_FIELD = "source"

ULTRAFEEDBACK = "openbmb/UltraFeedback"
# The commit HuggingFaceH4/ultrafeedback_binarized was built from ("the revision with the fixes to
# overall_score"), pinned by several public projects and recorded by a third-party data card as
# the repository's main on 2026-08-11 (63,967 rows, one `train` split). The Hub cannot be reached
# from the development machines, so it was not checked here: see docs/generation.md.
ULTRAFEEDBACK_REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"
ULTRAFEEDBACK_COLUMN = "instruction"

MAX_GEN_TOKS = 2048
GENERATION_KWARGS: dict[str, Any] = {
    # No stop string: a chat model ends at its end-of-turn token (lm-eval always adds EOS).
    "until": [],
    "do_sample": False,
    "temperature": 0.0,
    "max_gen_toks": MAX_GEN_TOKS,
}


@dataclass(frozen=True)
class PromptSet:
    """Where the prompts come from, as lm-eval's ``dataset_*`` keys and the prompt column."""

    dataset_path: str  # a Hub id, or lm-eval's builder ("json", "parquet") for a local file
    column: str
    split: str = "train"
    dataset_name: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = ULTRAFEEDBACK  # the pool's `source` where the data has no `source` column
    # Recorded in the task's metadata (and so in lm-eval's results file): what was pinned.
    provenance: dict[str, Any] = field(default_factory=dict)


def ultrafeedback() -> PromptSet:
    """The shipped default: UltraFeedback's 63,967 instructions at the pinned revision."""
    return PromptSet(
        dataset_path=ULTRAFEEDBACK,
        column=ULTRAFEEDBACK_COLUMN,
        dataset_kwargs={"revision": ULTRAFEEDBACK_REVISION},
        source=ULTRAFEEDBACK,
        provenance={"prompt_set": ULTRAFEEDBACK, "revision": ULTRAFEEDBACK_REVISION},
    )


# --- task names -----------------------------------------------------------------------------


def is_generation_task(name: str) -> bool:
    """Whether ``name`` is a Stage-0 task: the shipped ``karmagen`` or a ``karmagen_<name>``."""
    return _TASK_NAME.fullmatch(name) is not None


def docs_module_name(task: str) -> str:
    """The ``process_docs`` module beside a task's YAML (one per task, named after it)."""
    return f"{task}_docs"


def default_task_name(dataset: str) -> str:
    """``karmagen_<name>`` for a prompt set: the file's stem or the Hub repo's name, in lower
    case with every other character run as one ``_`` (``openbmb/UltraFeedback`` ->
    ``karmagen_ultrafeedback``, ``my prompts.jsonl`` -> ``karmagen_my_prompts``)."""
    path = Path(dataset)
    stem = path.stem if path.suffix.lower() in DATA_FILE_BUILDERS else dataset.rstrip("/")
    name = stem.replace("\\", "/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"{TASK}_{slug or 'prompts'}"


def check_task_name(name: str) -> str:
    """``name`` if it can name a Stage-0 task; else InputError saying why."""
    if name.startswith("karma_"):
        raise InputError(
            f"--task {name!r}: no Stage-0 task may start with karma_ (lm_eval --tasks "
            "'karma_*' must select the six Stage-1 tasks only); use karmagen_<name>"
        )
    if name == TASK or not is_generation_task(name):
        raise InputError(
            f"--task {name!r}: expected karmagen_<name> (letters, digits and _), the form "
            "`karma-build pool` recognises"
        )
    return name


# --- the two files of a Stage-0 task ---------------------------------------------------------

_HEADER = """\
# Stage 0 of KARMA: every origin model answers the same prompts; `karma-build pool` reads the
# responses from lm-eval's --log_samples files. Greedy and bounded by default (change with
# --gen_kwargs, e.g. max_gen_toks=1024 or do_sample=true,temperature=0.7); the instruction is
# the whole user turn, so --apply_chat_template formats it in each model's own template.
# {origin}
"""

DOCS_TEMPLATE = '''\
"""Prompts of the {task} task: each document becomes {{instruction, source}}.

Written by `karma-build responses-task`. lm-eval loads this file by path and it imports nothing
from karma_plugin, so the task folder runs wherever lm-eval does. Only the two fields are kept:
the samples files stay small and `karma-build pool` finds the prompt whatever its column.
"""

COLUMN = {column}  # the prompt column: the whole user turn
SOURCE = {source}  # the pool's `source` where the data has no `source` column


def _is_text(feature) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


def process_docs(dataset):
    names = list(dataset.column_names)
    if COLUMN not in names:
        raise ValueError(f"{task}: the prompt set has no column {{COLUMN!r}} (it has: {{names}})")
    if not _is_text(dataset.features[COLUMN]):
        raise ValueError(f"{task}: column {{COLUMN!r}} does not hold text")
    own_source = "source" in names and COLUMN != "source" and _is_text(dataset.features["source"])

    def document(row):
        text = row[COLUMN]
        if not isinstance(text, str):
            raise ValueError(f"{task}: a prompt in column {{COLUMN!r}} is empty (null)")
        source = row["source"] if own_source and row["source"] is not None else SOURCE
        return {{"instruction": text, "source": source}}

    return dataset.map(document, remove_columns=names)
'''


def docs_module(prompts: PromptSet, task: str = TASK) -> str:
    """The ``process_docs`` module of the Stage-0 task ``task`` on ``prompts``."""
    # JSON string literals are Python string literals (double quotes, as ruff formats them).
    literal = lambda text: json.dumps(text, ensure_ascii=False)  # noqa: E731
    return DOCS_TEMPLATE.format(
        task=task, column=literal(prompts.column), source=literal(prompts.source)
    )


def task_config(prompts: PromptSet, task: str = TASK) -> dict[str, Any]:
    """The task's lm-eval config (``process_docs`` aside: it is a ``!function`` tag)."""
    config: dict[str, Any] = {"task": task, "dataset_path": prompts.dataset_path}
    if prompts.dataset_name:
        config["dataset_name"] = prompts.dataset_name
    if prompts.dataset_kwargs:
        config["dataset_kwargs"] = prompts.dataset_kwargs
    config.update(
        {
            "test_split": prompts.split,
            "output_type": "generate_until",
            # Explicit: lm-eval's --num_fewshot overrides every task that does not say 0.
            "num_fewshot": 0,
            "doc_to_text": INSTRUCTION_FIELD,
            "doc_to_target": "",
            "generation_kwargs": dict(GENERATION_KWARGS),
            # bypass: no score; lm-eval then insists on --log_samples, which holds the responses.
            "metric_list": [
                {"metric": "bypass", "aggregation": "bypass", "higher_is_better": True}
            ],
            "metadata": {"version": TASK_VERSION, **prompts.provenance},
        }
    )
    return config


def _dump(part: dict[str, Any]) -> str:
    return yaml.safe_dump(part, sort_keys=False, allow_unicode=True, width=100)


def task_yaml(prompts: PromptSet, origin: str, task: str = TASK) -> str:
    """The task YAML; ``origin`` is one comment line saying what wrote it and from what."""
    config = task_config(prompts, task)
    where = ("task", "dataset_path", "dataset_name", "dataset_kwargs")
    head = {k: v for k, v in config.items() if k in where}
    rest = {k: v for k, v in config.items() if k not in where}
    return (
        _HEADER.format(origin=origin)
        + _dump(head)
        + f"process_docs: !function {docs_module_name(task)}.process_docs\n"
        + _dump(rest)
    )


def write_task(
    folder: str | os.PathLike[str], prompts: PromptSet, origin: str, task: str = TASK
) -> list[Path]:
    """Write ``<task>.yaml`` and its docs module into ``folder``; return both paths."""
    folder = Path(folder)
    yaml_path = folder / f"{task}.yaml"
    module_path = folder / f"{docs_module_name(task)}.py"
    yaml_path.write_text(task_yaml(prompts, origin, task), encoding="utf-8")
    module_path.write_text(docs_module(prompts, task), encoding="utf-8")
    return [yaml_path, module_path]


# --- a prompt set from a local file or a Hub id ---------------------------------------------------


@dataclass(frozen=True)
class LocalCheck:
    """What `responses-task` found in a local prompt file before any GPU time is spent."""

    prompts: int
    duplicates: int  # prompts that repeat an earlier one exactly (one pool row each)
    blank: int  # empty or whitespace-only prompts (binarize skips them)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shorten_prompt(text: str, width: int = 60) -> str:
    """A prompt on one line of at most ``width`` characters, for messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def whitespace_variants(texts: Iterable[str]) -> str | None:
    """Why the prompts cannot be one prompt set, when two of them differ only in whitespace
    (binarize trims prompts and the model sees nearly the same text: one prompt under two ids,
    which may even land in both the train and the test split); else None."""
    seen: dict[str, str] = {}
    for text in dict.fromkeys(texts):
        other = seen.setdefault(" ".join(text.split()), text)
        if other != text:
            return (
                f"prompts {prompt_id(other)[:12]} and {prompt_id(text)[:12]} differ only in "
                f"whitespace ({shorten_prompt(text)!r}): binarize would see one prompt under two "
                "ids; remove one of them from the prompt set"
            )
    return None


def check_prompts(texts: list[Any], column: str, where: str) -> LocalCheck:
    """Refuse what `karma-build pool` would refuse later: non-text prompts and prompts that
    differ only in whitespace."""
    if not texts:
        raise InputError(f"{where} has no prompts")
    for number, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            shown = "null" if text is None else type(text).__name__
            raise InputError(f"{where}: row {number} of column {column!r} is {shown}, not text")
    clash = whitespace_variants(texts)
    if clash:
        raise InputError(f"{where}: {clash}")
    counts = Counter(texts)
    return LocalCheck(
        prompts=len(texts),
        duplicates=sum(n - 1 for n in counts.values()),
        blank=sum(1 for t in texts if not t.strip()),
    )


def local_prompt_set(
    path: str | os.PathLike[str], column: str, split: str = "train"
) -> tuple[PromptSet, LocalCheck]:
    """A prompt set from a local jsonl/json/parquet file, checked here, read as lm-eval will."""
    from karma_plugin.pools.reader import read_local_table

    file = Path(path)
    builder = DATA_FILE_BUILDERS.get(file.suffix.lower())
    if builder is None:
        raise InputError(f"prompt file {str(file)!r}: expected .jsonl, .json or .parquet")
    file = file.resolve()
    table = read_local_table(file, split)
    if column not in table.column_names:
        raise InputError(
            f"prompt file {str(path)!r} has no column {column!r} "
            f"(it has: {', '.join(table.column_names) or 'none'}); choose one with --column"
        )
    check = check_prompts(table.column(column).to_pylist(), column, f"prompt file {str(path)!r}")
    prompts = PromptSet(
        dataset_path=builder,
        column=column,
        split=split,
        # Absolute: lm-eval resolves data_files against the working folder, not the YAML.
        dataset_kwargs={"data_files": {split: str(file)}},
        source=file.name,
        provenance={
            "prompt_set": str(file),
            "column": column,
            "sha256": _sha256_file(file),
            "prompts": check.prompts,
        },
    )
    return prompts, check


def hub_prompt_set(
    dataset: str,
    column: str,
    split: str = "train",
    revision: str | None = None,
    subset: str | None = None,
) -> PromptSet:
    """A prompt set from a Hub dataset (not fetched here: lm-eval loads it on the GPU machine)."""
    kwargs = {"revision": revision} if revision else {}
    provenance: dict[str, Any] = {"prompt_set": dataset, "column": column}
    if revision:
        provenance["revision"] = revision
    if subset:
        provenance["subset"] = subset
    return PromptSet(
        dataset_path=dataset,
        column=column,
        split=split,
        dataset_name=subset,
        dataset_kwargs=kwargs,
        source=dataset,
        provenance=provenance,
    )
