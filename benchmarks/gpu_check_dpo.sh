#!/usr/bin/env bash
# GPU check for issue 5: the DPO smoke in bf16 with sdpa on one CUDA GPU, printing loss and tokens/s.
# Prepared, NOT yet run (no GPU was lent to the session that wrote it).
#
# Usage (repository root, dev venv with the `train` extra active):
#   bash benchmarks/gpu_check_dpo.sh [STEPS]
# The GPU machine has no package registry: bring wheels the venv lacks (pip download on a
# connected machine, then `pip install --no-index --find-links WHEELS ...`).
set -euo pipefail
STEPS="${1:-20}"
WORK="$(mktemp -d)"
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-python}"

"$PY" - "$WORK" "$STEPS" <<'PYEOF'
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, "tests")
from axolotl_helpers import CONFIG_ROOT, cpu_smoke_config, write_karma_folder  # noqa: E402
from tiny_models import build_tiny_model  # noqa: E402

work, steps = Path(sys.argv[1]), int(sys.argv[2])
assert torch.cuda.is_available(), "no CUDA device"
print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
model = build_tiny_model("llama31", work / "tiny-llama")
data = write_karma_folder(work / "karma")
cfg = cpu_smoke_config(
    CONFIG_ROOT / "llama-3.1-8b-instruct" / "dpo.yml",
    model=model, dataset=data, out=work, steps=steps,
)
cfg.update(bf16=True, tf32=True, logging_steps=1, karma_eval_post_train=False)
assert cfg["attn_implementation"] == "sdpa"
(work / "dpo.yml").write_text(yaml.safe_dump(cfg))
PYEOF

START=$(date +%s.%N)
axolotl train "$WORK/dpo.yml" --launcher python 2>&1 | tee "$WORK/train.log" | grep -E "'loss'|train_runtime" || true
END=$(date +%s.%N)

"$PY" - "$WORK" "$START" "$END" <<'PYEOF'
import json, re, sys
from pathlib import Path

work, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
log = (work / "train.log").read_text()
losses = [float(x) for x in re.findall(r"'loss': '([^']+)'", log)]
tokens = [float(x) for x in re.findall(r"'num_tokens': '([^']+)'", log)]
runtime = [float(x) for x in re.findall(r"'train_runtime': '([^']+)'", log)]
state = json.loads(next((work / "model").glob("checkpoint-*/trainer_state.json")).read_text())
print(f"steps: {state['global_step']}  losses: {losses}")
if tokens and runtime:
    print(f"tokens: {tokens[-1]:.0f}  train_runtime: {runtime[-1]:.1f}s  tokens/s: {tokens[-1] / runtime[-1]:.0f}")
print(f"wall (incl. start-up): {end - start:.1f}s")
assert losses and all(l == l for l in losses), "no finite loss"
PYEOF
