#!/usr/bin/env bash
# Quickstart 2: set up and run the whole test suite (what CI runs).
#   main:   Axolotl 0.19.0's pinned stack (lm-eval 0.4.11, huggingface_hub 1.x, datasets 4.x):
#           lint (ruff), types (mypy), then every test (the docs-sync test among them).
#   latest: the newest release of every dependency, as a plain `pip install .` resolves it
#           (lm-eval 0.4.13, huggingface_hub 2.x, datasets 5.x, TRL, pandas 3): the tests of
#           what differs between the two (markers `lmeval` and `deps`: lm-eval's task loading
#           and runs, the datasets and Hub clients, pool and output loading, TRL), not the
#           maths and checks of our own code a second time (docs/design.md section 14).
# Both run on two xdist workers and print their 15 slowest tests. --dist loadscope sends each
# module's tests to one worker, so a module's costly fixture (a real lm-eval, TRL or Axolotl
# run) is built once: --dist loadgroup would allow finer groups, but pytest 9 ignores the group
# xdist 3.8 writes into node ids (every group was split, its fixture built twice). Every temporary file of the run (pytest's, the Hugging Face
# caches the tests fill, torch's, the subprocesses') goes to one folder, removed at the end.
# Arguments are passed to each pytest run (e.g. -x, -k NAME, -n 0 for one process).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
main="$(karma_venv test)"
latest="$(karma_venv latest)"
cd "$KARMA_ROOT"
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 TOKENIZERS_PARALLELISM=false

# The run's temporary folder: TMPDIR for every process, HF_HOME for the caches that datasets
# and huggingface_hub write (not the user's ~/.cache/huggingface). Removed on exit, with the
# installed trees (_venv.sh's trap).
KARMA_TEST_TMP="$(mktemp -d "${TMPDIR:-/tmp}/karma-tests.XXXXXX")"
trap '_karma_remove_sites; rm -rf "$KARMA_TEST_TMP"' EXIT
export KARMA_TEST_TMP TMPDIR="$KARMA_TEST_TMP" HF_HOME="$KARMA_TEST_TMP/hf-home"

versions() {  # VENV: the versions that tell the environments apart
  "$1/bin/python" -c 'import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("lm_eval", "datasets", "huggingface_hub", "transformers")))'
}

# Every stage runs even when an earlier one fails (a red run then shows all that is wrong);
# the exit status is that of the first failure.
status=0
stage() {  # TITLE COMMAND...: run one stage, remember a failure
  local title="$1"; shift
  karma_log "$title"
  local start=$SECONDS
  "$@" || { local rc=$?; karma_log "FAILED ($rc): $title"; [ "$status" -ne 0 ] || status=$rc; }
  karma_log "$title: $((SECONDS - start)) s"
}
PYTEST=(pytest -n 2 --dist loadscope --durations=15 -p no:cacheprovider)

karma_use_tree "$main"
stage "ruff" ruff check .
stage "ruff format" ruff format --check .
stage "mypy (the files and settings are in pyproject.toml)" mypy
stage "test suite ($(versions "$main"))" "${PYTEST[@]}" tests "$@"

karma_use_tree "$latest"
stage "what differs on the newest releases ($(versions "$latest")): -m 'lmeval or deps'" \
  "${PYTEST[@]}" -m "lmeval or deps" --ignore-glob "tests/test_axolotl_*" tests "$@"
karma_log "whole run: $SECONDS s"
exit "$status"
