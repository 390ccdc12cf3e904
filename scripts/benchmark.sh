#!/usr/bin/env bash
# Run one of benchmarks/*.py in the test environment (Axolotl's pinned stack: torch,
# transformers, lm-eval 0.4.11), with this tree installed as `pip install .` ships it:
#   bash scripts/benchmark.sh eval_cost --smoke
#   bash scripts/benchmark.sh binarize_speed [--rows 64000] [--copies 16] [--clean]
#   bash scripts/benchmark.sh many_models [--models 2000,10000] [--clean]
# What a benchmark generates once (pools, score tables) is cached in
# ${KARMA_CACHE_DIR:-~/.cache/karma-plugin}/bench; everything else is removed when it ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
if [ $# -lt 1 ] || [ ! -f "$KARMA_ROOT/benchmarks/${1%.py}.py" ]; then
  echo "usage: bash scripts/benchmark.sh eval_cost|binarize_speed|many_models [ARGS...]" >&2
  exit 2
fi
script="$KARMA_ROOT/benchmarks/${1%.py}.py"
shift
karma_use_tree "$(karma_venv test)"
cd "$KARMA_ROOT"
export KARMA_CACHE_DIR HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
# Not exec: the installed tree is removed when this shell exits.
python "$script" "$@"  # sys.path[0]: benchmarks/ (its helpers), not the source tree
