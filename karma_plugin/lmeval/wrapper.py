"""`karma-lm-eval`: exactly `lm_eval`, with the karma_* task folder added as --include_path.

lm-eval has no plugin entry point for tasks (0.4.11-0.4.13), so the folder must be named on
every run; this wrapper does it unless the command line already names an include path (the
CLI takes only one folder).
"""

from __future__ import annotations

import sys
from importlib.resources import files


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


def main() -> None:
    sys.argv = [sys.argv[0], *with_include_path(with_listing_command(sys.argv[1:]))]
    from lm_eval.__main__ import cli_evaluate

    sys.exit(cli_evaluate())


if __name__ == "__main__":
    main()
