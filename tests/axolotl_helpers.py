"""Helpers shared by the Axolotl tests: shipped configs, CPU overrides, loss checks."""

from __future__ import annotations

import copy
import math
from importlib.resources import files
from pathlib import Path

import yaml

CONFIG_ROOT = Path(str(files("karma_plugin.axolotl_configs")))
MODEL_DIRS = (
    "llama-3.1-8b-instruct",
    "llama-3.2-3b-instruct",
    "qwen2.5-7b-instruct",
    "qwen2.5-3b-instruct",
)
CONFIG_PATHS = sorted(CONFIG_ROOT.glob("*/*.yml"))

# Environment for every Axolotl process in tests: no telemetry, nothing from the Hub.
OFFLINE_ENV = {
    "AXOLOTL_DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_DISABLED": "true",
}

# The only keys a CPU smoke run may change in a shipped config.
CPU_OVERRIDE_KEYS = frozenset(
    {
        "base_model",  # the tiny local model
        "bf16",  # precision: CPU has no bf16 autocast here; `auto` would pick fp16 and crash
        "fp16",
        "tf32",
        "max_steps",  # steps
        "output_dir",
        "dataset_prepared_path",
        "deepspeed",  # one CPU process: no ZeRO
        "karma_eval_limit",  # small item limit for the post-train evaluation
        "karma_eval_include_path",  # local fixture tasks with local data
        "karma_eval_tasks",
    }
)


def load_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cpu_smoke_config(
    path: Path,
    *,
    model: Path,
    dataset: Path,
    out: Path,
    steps: int = 2,
    eval_tasks: list[str] | None = None,
    eval_include_path: Path | None = None,
    eval_limit: int = 2,
) -> dict:
    """A shipped config with only the CPU smoke overrides applied (see CPU_OVERRIDE_KEYS)."""
    cfg = copy.deepcopy(load_config(path))
    cfg.update(
        base_model=str(model),
        bf16=False,
        fp16=False,
        tf32=False,
        max_steps=steps,
        output_dir=str(out / "model"),
        karma_eval_limit=eval_limit,
    )
    if "dataset_prepared_path" in cfg:
        cfg["dataset_prepared_path"] = str(out / "prepared")
    cfg.pop("deepspeed", None)
    if eval_tasks is not None:
        cfg["karma_eval_tasks"] = eval_tasks
    if eval_include_path is not None:
        cfg["karma_eval_include_path"] = str(eval_include_path)
    for entry in cfg["datasets"]:
        entry["path"] = str(dataset)
    return cfg


def changed_keys(original: dict, changed: dict) -> set[str]:
    keys = set(original) | set(changed)
    out = {k for k in keys if original.get(k) != changed.get(k)}
    if original["datasets"] != changed["datasets"]:
        out.discard("datasets")
        for a, b in zip(original["datasets"], changed["datasets"], strict=True):
            out |= {f"datasets.{k}" for k in set(a) | set(b) if a.get(k) != b.get(k)}
    return out


def finite(values) -> bool:
    values = list(values)
    return bool(values) and all(math.isfinite(float(v)) for v in values)
