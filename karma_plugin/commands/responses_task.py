"""`karma-build responses-task`: a Stage-0 lm-eval task (``karmagen_<name>``) on any prompt set."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from karma_plugin.commands._options import counted, in_folder, out_options, warn
from karma_plugin.errors import InputError
from karma_plugin.fs import staging
from karma_plugin.fs.paths import locate
from karma_plugin.lmeval.responses import (
    ULTRAFEEDBACK,
    ULTRAFEEDBACK_COLUMN,
    check_task_name,
    default_task_name,
    hub_prompt_set,
    local_prompt_set,
    ultrafeedback,
    write_task,
)


@click.command("responses-task")
@click.option(
    "--dataset",
    default=ULTRAFEEDBACK,
    show_default=True,
    metavar="ID|FILE",
    help="The prompts: a Hub dataset id, or a local .jsonl/.json/.parquet file.",
)
@click.option(
    "--column",
    default=ULTRAFEEDBACK_COLUMN,
    show_default=True,
    help="The column holding each prompt (the whole user turn).",
)
@click.option("--split", default="train", show_default=True, help="The split to answer.")
@click.option("--revision", default=None, help="Hub datasets: the commit to pin (recommended).")
@click.option("--subset", default=None, help="Hub datasets: the configuration (subset) name.")
@click.option(
    "--task",
    "task_name",
    default=None,
    metavar="karmagen_NAME",
    help="The task's name (lm-eval's --tasks). Default: karmagen_ and the file's stem or the "
    "Hub dataset's name, e.g. karmagen_ultrafeedback.",
)
@out_options(help="Folder for the task files (pass it to lm-eval as --include_path).")
def command(
    dataset: str,
    column: str,
    split: str,
    revision: str | None,
    subset: str | None,
    task_name: str | None,
    out: str,
    overwrite: bool,
) -> None:
    """Write a Stage-0 task (karmagen_NAME) for a prompt set, to run with lm-eval's
    --include_path.

    Every origin model then answers the same prompts (greedy, max_gen_toks 2048 unless
    --gen_kwargs says otherwise) and `karma-build pool` reads the --log_samples output.
    """
    task = check_task_name(task_name) if task_name is not None else default_task_name(dataset)
    local = locate(dataset) != "hub"
    if local and (revision or subset):
        raise InputError("--revision and --subset apply to Hub datasets, not local files")
    with staging.staged(out, overwrite, [dataset] if local else []) as stage:
        if local:
            if Path(dataset).is_dir():
                raise InputError(f"prompt file {dataset!r} is a folder: name the file in it")
            if not Path(dataset).is_file():
                raise InputError(f"prompt file {dataset!r} not found")
            prompts, check = local_prompt_set(dataset, column, split)
        elif dataset == ULTRAFEEDBACK and column == ULTRAFEEDBACK_COLUMN and not subset:
            prompts, check = ultrafeedback(), None
            if revision:
                prompts = hub_prompt_set(dataset, column, split, revision)
        else:
            prompts, check = hub_prompt_set(dataset, column, split, revision, subset), None
        origin = f"Prompts: column {column!r} of {dataset!r}" + (
            f" (split {split!r}, revision {revision!r})" if revision else f" (split {split!r})"
        )
        write_task(stage, prompts, f"Written by karma-build responses-task. {origin}.", task)
    if not local and "revision" not in prompts.dataset_kwargs:
        warn(f"{dataset} is not pinned: pass --revision COMMIT so every model answers the same")
    if check is not None:
        if check.duplicates:
            repeat = counted(check.duplicates, "prompt repeats", "prompts repeat")
            warn(f"{repeat} an earlier one (one pool row each)")
        if check.blank:
            blank = counted(check.blank, "prompt is", "prompts are")
            warn(f"{blank} empty or whitespace (binarize skips them)")
        click.echo(f"{counted(check.prompts, 'prompt')} from {dataset} (column {column!r})")
    click.echo(f"wrote {in_folder(out, task + '.yaml')}; run each model with:")
    click.echo(
        f"  karma-lm-eval --include_path {shlex.quote(out)} --tasks {task} --log_samples "
        "--output_path runs/ --model ... [--apply_chat_template]"
    )
