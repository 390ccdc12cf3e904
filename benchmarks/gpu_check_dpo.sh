#!/usr/bin/env bash
# GPU check of the training path: the shipped llama-3.1-8b-instruct/dpo.yml, adapted to a tiny
# random Llama-3.1-style model (no DeepSpeed, one GPU, bf16 + tf32, sdpa), trained for STEPS
# steps through Axolotl on a folder from `karma-build binarize`; prints the losses, tokens/s and
# the step of the last checkpoint. With 500 warm-up steps the learning rate stays tiny over 20
# steps, so the loss stays near ln 2: this shows the pipeline and its throughput, not learning.
#
#   bash benchmarks/gpu_check_dpo.sh [STEPS]          (from anywhere; it runs in the repo root)
#
# Needs a CUDA machine and a Python ($PYTHON, default python) with this package and its `train`
# extra installed. The GPU machine may have no package registry: bring the wheels it lacks
# (pip download elsewhere, then pip install --no-index --find-links WHEELS ...).
# Environment: KARMA_GPU_WORK, STEP_TIMEOUT (default 480 s for the training run) and
# KARMA_CHECK_DEVICE=cpu (a dry run in fp32): see benchmarks/_gpu_check.sh.
# The run of 2026-11-28 on an H100 (docs/training.md) drove an earlier version of this script
# by hand; this version mends what that run found (source tree on sys.path, a failed run not
# reported, the wrong checkpoint read, an `axolotl` command assumed on PATH).
set -euo pipefail
STEPS="${1:-20}"
PY="${PYTHON:-python}"
# shellcheck source=benchmarks/_gpu_check.sh
source "$(dirname "${BASH_SOURCE[0]}")/_gpu_check.sh" 480
export AXOLOTL_DO_NOT_TRACK=1 WANDB_DISABLED=true

"$PY" -c "import karma_plugin.axolotl_configs, axolotl.cli.main" 2>/dev/null || {
  echo "gpu_check_dpo: $PY lacks karma_plugin or axolotl (pip install '.[train]' first)" >&2
  exit 2
}

"$PY" - "$WORK" "$STEPS" "$ROOT/tests" "$DEVICE" <<'PYEOF'
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, sys.argv[3])
from axolotl_helpers import CONFIG_ROOT, cpu_smoke_config, write_karma_folder  # noqa: E402
from tiny_models import build_tiny_model  # noqa: E402

work, steps, device = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[4]
if device == "cuda":
    assert torch.cuda.is_available(), "no CUDA device"
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
else:
    print("device: CPU (a dry run of the script)", "torch", torch.__version__)
model = build_tiny_model("llama31", work / "tiny-llama")
data = write_karma_folder(work / "karma")
cfg = cpu_smoke_config(
    CONFIG_ROOT / "llama-3.1-8b-instruct" / "dpo.yml",
    model=model,
    dataset=data,
    out=work,
    steps=steps,
)
# Axolotl's default prepared-data folder is ./last_run_prepared: keep it out of the repository.
cfg.update(
    logging_steps=1, karma_eval_post_train=False, dataset_prepared_path=str(work / "prepared")
)
if device == "cuda":
    cfg.update(bf16=True, tf32=True)
assert cfg["attn_implementation"] == "sdpa"
(work / "dpo.yml").write_text(yaml.safe_dump(cfg))
PYEOF

START=$(date +%s.%N)
# The run's own exit status decides (PIPESTATUS), not tee's; its output is kept in train.log.
set +e
timeout "$STEP_TIMEOUT" "$PY" -m axolotl.cli.main train "$WORK/dpo.yml" --launcher python 2>&1 \
  | tee "$WORK/train.log"
status=${PIPESTATUS[0]}
set -e
END=$(date +%s.%N)
if [ "$status" -ne 0 ]; then
  echo "gpu_check_dpo: axolotl train failed (exit $status; 124 = over ${STEP_TIMEOUT}s);" \
    "the log is $WORK/train.log" >&2
  exit "$status"
fi

"$PY" - "$WORK" "$START" "$END" "$STEPS" <<'PYEOF'
import json
import re
import sys
from pathlib import Path

work, start, end, steps = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
log = (work / "train.log").read_text()
losses = [float(x) for x in re.findall(r"'loss': '?([-+0-9.e]+)", log)]
tokens = [float(x) for x in re.findall(r"'num_tokens': '?([-+0-9.e]+)", log)]
runtime = [float(x) for x in re.findall(r"'train_runtime': '?([-+0-9.e]+)", log)]
# The last checkpoint is the highest step (checkpoint-20 after checkpoint-12), not glob's first.
checkpoints = sorted(
    (work / "model").glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2])
)
assert checkpoints, f"no checkpoint under {work / 'model'}"
state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
print(f"checkpoint: {checkpoints[-1].name}  steps: {state['global_step']}  losses: {losses}")
if tokens and runtime:
    print(
        f"tokens: {tokens[-1]:.0f}  train_runtime: {runtime[-1]:.1f}s  "
        f"tokens/s: {tokens[-1] / runtime[-1]:.0f}"
    )
print(f"wall (incl. start-up): {end - start:.1f}s")
assert state["global_step"] == steps, f"trained {state['global_step']} steps, not {steps}"
assert losses and all(loss == loss for loss in losses), "no finite loss"
PYEOF
