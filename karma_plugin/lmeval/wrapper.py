"""`karma-lm-eval`: exactly `lm_eval`, with the karma_* task folder added as --include_path.

lm-eval has no plugin entry point for tasks (0.4.11-0.4.13), so the folder must be named on
every run; this wrapper does it unless the command line already names an include path (the
CLI takes only one folder). Two things differ from plain `lm_eval`, both where lm-eval's own
behaviour does not serve a karma user:

- Listing (`ls tasks`, or the old `--tasks list`) shows the tasks of the karma folder only, in a
  second rather than lm-eval's 14,705 tasks in 40 s; `--all` lists lm-eval's own as well.
- A run that cannot load a task's dataset because the Hub cannot be reached (offline mode, no
  network) and the dataset is not in the cache ends with one line saying which dataset is
  missing and how to get it, exit 1, instead of lm-eval's 60 to 100-line traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib.resources import files
from types import TracebackType

PROG = "karma-lm-eval"


def tasks_dir() -> str:
    """The installed folder of the karma_* task YAMLs (works for wheel and editable installs)."""
    return str(files("karma_plugin.lm_eval_tasks"))


# lm-eval 0.4.x's old listing spelling (`--tasks list`) now fails inside lm-eval with a
# traceback ("Tasks not found: list"); its `ls` subcommand is the working form.
_LEGACY_LISTINGS = {
    "list": "tasks",
    "list_groups": "groups",
    "list_tags": "tags",
    "list_subtasks": "subtasks",
}
# `ls WHAT` -> the list_all_tasks() flags lm-eval's own `ls` passes (0.4.11 and 0.4.13 alike)
_LISTINGS = {
    "tasks": {},
    "groups": {"list_subtasks": False, "list_tags": False},
    "subtasks": {"list_groups": False, "list_tags": False},
    "tags": {"list_groups": False, "list_subtasks": False},
}
ALL_FLAG = "--all"


def with_listing_command(argv: list[str]) -> list[str]:
    """``--tasks list`` (or ``--tasks=list``, ``list_groups``, ...) becomes ``ls tasks``."""
    for i, arg in enumerate(argv):
        if arg == "--tasks" and i + 1 < len(argv):
            value, rest = argv[i + 1], [*argv[:i], *argv[i + 2 :]]
        elif arg.startswith("--tasks="):
            value, rest = arg.partition("=")[2], [*argv[:i], *argv[i + 1 :]]
        else:
            continue
        if value in _LEGACY_LISTINGS:
            return ["ls", _LEGACY_LISTINGS[value], *rest]
    return list(argv)


def with_include_path(argv: list[str]) -> list[str]:
    if any(a == "--include_path" or a.startswith("--include_path=") for a in argv):
        return list(argv)
    if any(a in ("-h", "--help") for a in argv) or not argv:
        return list(argv)
    return [*argv, "--include_path", tasks_dir()]


def _include_path(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--include_path" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--include_path="):
            return arg.partition("=")[2]
    return None


def list_tasks(argv: list[str]) -> int:
    """``ls [tasks|groups|subtasks|tags] [--include_path DIR]``: the karma folder's tasks (or
    DIR's) as lm-eval's own listing prints them, without indexing lm-eval's 14,705 tasks."""
    from lm_eval.tasks import TaskManager

    what = next((a for a in argv if a in _LISTINGS), "tasks")
    folder = _include_path(argv) or tasks_dir()
    manager = TaskManager(include_path=folder, include_defaults=False)
    print(manager.list_all_tasks(**_LISTINGS[what]))
    print(
        f"{PROG}: the tasks in {folder} only; `{PROG} ls {what} {ALL_FLAG}` (or `lm_eval ls "
        f"{what}`) lists lm-eval's own as well",
        file=sys.stderr,
    )
    return 0


# --- a dataset that cannot be had offline -------------------------------------------------------

# The exceptions (by class name, anywhere in the chain) that mean "the Hub could not be asked":
# offline mode, DNS or connection failures, and huggingface_hub's closed-client error after its
# retries on a dead network (1.x). Names, not classes: which of them exist varies by version.
_OFFLINE_ERRORS = {
    "OfflineModeIsEnabled",
    "LocalEntryNotFoundError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "NameResolutionError",
    "MaxRetryError",
    "gaierror",
}
_OFFLINE_MESSAGES = (
    "Cannot send a request, as the client has been closed",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Couldn't reach",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_offline(exc: BaseException) -> bool:
    for link in _chain(exc):
        names = {cls.__name__ for cls in type(link).__mro__}
        if names & _OFFLINE_ERRORS or any(m in str(link) for m in _OFFLINE_MESSAGES):
            return True
    return False


def _task_loading(tb: TracebackType | None) -> object | None:
    """The lm-eval task whose dataset was being loaded (``Task.download``), if any."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        task = frame.f_locals.get("self")
        if frame.f_code.co_name == "download" and hasattr(task, "config"):
            found = task
    return found


def missing_dataset(exc: BaseException) -> str | None:
    """One line for a task dataset that could not be loaded offline, else None."""
    if not _is_offline(exc):
        return None
    task = _task_loading(exc.__traceback__)
    if task is None:
        return None
    config = getattr(task, "config", None)
    name = getattr(config, "task", None) or "?"
    path = getattr(config, "dataset_path", None) or "?"
    subset = getattr(config, "dataset_name", None)
    revision = (getattr(config, "dataset_kwargs", None) or {}).get("revision")
    what = path + (f" ({subset})" if subset else "") + (f" at {revision[:12]}" if revision else "")
    from huggingface_hub import constants

    offline = [v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(v)]
    why = f"offline mode ({', '.join(offline)})" if offline else "the Hub cannot be reached"
    return (
        f"task {name} needs the dataset {what}, which is not in the Hugging Face cache "
        f"({constants.HF_HOME}) and {why}: run it once where huggingface.co can be reached "
        "(the datasets are then cached), or set HF_HOME to a cache that holds them"
    )


def main() -> None:
    argv = with_listing_command(sys.argv[1:])
    if argv[:1] == ["ls"] and not {"-h", "--help"} & set(argv):
        if ALL_FLAG not in argv:
            sys.exit(list_tasks(argv[1:]))
        argv = [a for a in argv if a != ALL_FLAG]
    sys.argv = [sys.argv[0], *with_include_path(argv)]
    from lm_eval.__main__ import cli_evaluate

    try:
        cli_evaluate()
    except Exception as exc:
        line = missing_dataset(exc)
        if line is None:
            raise
        print(f"{PROG}: error: {line}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
