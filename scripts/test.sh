#!/usr/bin/env bash
# Quickstart 2: set up and run the whole test suite (what CI runs).
# The main environment holds Axolotl 0.19.0's stack (lm-eval 0.4.11); the lm-eval task
# tests run a second time under lm-eval 0.4.13, the newest release.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
main="$(karma_venv test)"
lm013="$(karma_venv lm013)"
cd "$KARMA_ROOT"
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 TOKENIZERS_PARALLELISM=false
karma_log "ruff"
"$main/bin/ruff" check .
"$main/bin/ruff" format --check .
karma_log "test suite (lm-eval $("$main/bin/python" -c 'import importlib.metadata as m; print(m.version("lm_eval"))'))"
"$main/bin/pytest" tests "$@"
karma_log "lm-eval task tests again under lm-eval $("$lm013/bin/python" -c 'import importlib.metadata as m; print(m.version("lm_eval"))')"
# The Axolotl tests need the main environment; they ran above.
"$lm013/bin/pytest" -m lmeval --ignore-glob "tests/test_axolotl_*" tests "$@"
