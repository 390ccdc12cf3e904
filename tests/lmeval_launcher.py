"""`python tests/lmeval_launcher.py ARGS` = the real `lm_eval` CLI plus --model karma-scripted,
indexing only the tasks of --include_path.

lm-eval's CLI indexes its own 14,000 task YAMLs on every run (13 s under 0.4.11, 41 s under
0.4.13 on this project's 2-core machine), although every test run names its tasks' folder.
Here the index holds that folder only; the run is otherwise lm-eval's own. That the karma tasks
sit beside lm-eval's without a clash is tested on the full index
(tests/test_lmeval_tasks.py: the glob and the offline wrapper run).
"""

import sys

# lm-eval's own models (hf among them) register on import, which the CLI's path may skip.
import lm_eval.models
import lm_eval.tasks
import scripted_lm  # noqa: F401  (registers --model karma-scripted)
from lm_eval.__main__ import cli_evaluate


class _IncludedTasksOnly(lm_eval.tasks.TaskManager):
    def __init__(self, *args, **kwargs):
        kwargs["include_defaults"] = False
        super().__init__(*args, **kwargs)


# The CLI imports TaskManager from lm_eval.tasks when it builds its index (0.4.11 and 0.4.13).
lm_eval.tasks.TaskManager = _IncludedTasksOnly

if __name__ == "__main__":
    sys.argv[0] = "lm_eval"
    sys.exit(cli_evaluate())
