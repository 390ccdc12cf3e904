#!/usr/bin/env bash
# Quickstart 2: set up and run the whole test suite (what CI runs).
#   main:   Axolotl 0.19.0's pinned stack (lm-eval 0.4.11, huggingface_hub 1.x, datasets 4.x):
#           lint (ruff), types (mypy), then every test (the docs-sync test among them).
#   latest: the newest release of every dependency, as a plain `pip install .` resolves it
#           (huggingface_hub 2.x, datasets 5.x): every test except Axolotl's.
# Arguments are passed to each pytest run (e.g. -x, -k NAME).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
main="$(karma_venv test)"
latest="$(karma_venv latest)"
cd "$KARMA_ROOT"
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 TOKENIZERS_PARALLELISM=false

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
  "$@" || { local rc=$?; karma_log "FAILED ($rc): $title"; [ "$status" -ne 0 ] || status=$rc; }
}

karma_use_tree "$main"
stage "ruff" ruff check .
stage "ruff format" ruff format --check .
stage "mypy (the files and settings are in pyproject.toml)" mypy
stage "test suite ($(versions "$main"))" pytest tests "$@"

karma_use_tree "$latest"
stage "test suite on the newest releases ($(versions "$latest")); Axolotl's tests need its pins" \
  pytest --ignore-glob "tests/test_axolotl_*" tests "$@"
exit "$status"
