"""`python tests/lmeval_launcher.py ARGS` = the real `lm_eval` CLI plus --model karma-scripted."""

import sys

import scripted_lm  # noqa: F401  (registers --model karma-scripted)
from lm_eval.__main__ import cli_evaluate

if __name__ == "__main__":
    sys.argv[0] = "lm_eval"
    sys.exit(cli_evaluate())
