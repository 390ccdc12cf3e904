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


def with_include_path(argv: list[str]) -> list[str]:
    if any(a == "--include_path" or a.startswith("--include_path=") for a in argv):
        return list(argv)
    if any(a in ("-h", "--help") for a in argv) or not argv:
        return list(argv)
    return [*argv, "--include_path", tasks_dir()]


def main() -> None:
    sys.argv = [sys.argv[0], *with_include_path(sys.argv[1:])]
    from lm_eval.__main__ import cli_evaluate

    sys.exit(cli_evaluate())


if __name__ == "__main__":
    main()
