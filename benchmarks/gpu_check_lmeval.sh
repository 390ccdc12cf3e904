#!/usr/bin/env bash
# GPU check for issue 3: the tiny local Llama through lm-eval's `hf` backend on CUDA in bf16,
# all six karma_* tasks on the test fixtures, then `karma-build scores`. Prints the results
# table, the score CSV and the cost figures. Needs a CUDA machine with the dev environment.
#   bash benchmarks/gpu_check_lmeval.sh [PYTHON]
set -euo pipefail
PY="${1:-python}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 NLTK_DATA="$WORK/nltk"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(0))"
"$PY" - "$WORK" <<'PYEOF'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from lmeval_helpers import derived_tasks, punkt_env
from tiny_models import build_tiny_llama31
work = Path(sys.argv[1])
derived_tasks(work / "tasks"); punkt_env(work / "nltk"); build_tiny_llama31(work / "tiny")
PYEOF
cd "$ROOT"
"$PY" -m lm_eval --model hf \
  --model_args "pretrained=$WORK/tiny,dtype=bfloat16" --device cuda \
  --tasks 'karma_*' --include_path "$WORK/tasks" --batch_size 4 --gen_kwargs max_gen_toks=32 \
  --output_path "$WORK/results" --log_samples
"$PY" -c "import sys; from karma_plugin.cli import main; sys.argv[0] = 'karma-build'; main()" scores "$WORK/results" -o "$WORK/scores.csv"
cat "$WORK/scores.csv"
"$PY" benchmarks/eval_cost.py --device cuda --dtype bfloat16
