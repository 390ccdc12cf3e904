# shellcheck shell=bash disable=SC2034
# Sourced by benchmarks/gpu_check_*.sh with the default step timeout in seconds as $1: the
# repository root as working folder, the source tree kept off sys.path, no network, a work
# folder and the device. Environment:
#   KARMA_GPU_WORK=DIR       keep the work files there (default: a new temporary folder)
#   STEP_TIMEOUT=SECONDS     bound each step (default: $1)
#   KARMA_CHECK_DEVICE=cpu   a dry run of the script without a GPU
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
WORK="${KARMA_GPU_WORK:-$(mktemp -d)}"
mkdir -p "$WORK"
STEP_TIMEOUT="${STEP_TIMEOUT:-$1}"
DEVICE="${KARMA_CHECK_DEVICE:-cuda}"
# From the repository root, `python -c/-m/-` would put the source tree first on sys.path, and
# its karma_plugin (without the task folder and configs it ships) would hide the installed one.
export PYTHONSAFEPATH=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "work folder: $WORK"
