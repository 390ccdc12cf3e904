"""Axolotl plugin: pick the KARMA dataset config at the top level, evaluate after training.

List it in a config's `plugins:` as `karma_plugin.integrations.axolotl.KarmaEvalPlugin`. It does two
things Axolotl 0.19 cannot do from YAML alone:

1. `karma_dataset_config: k_sim` (or the env var `KARMA_DATASET_CONFIG`, which wins) selects the
   strategy. Under `rl: dpo` Axolotl's validation drops a dataset's `name:` (its DPO dataset
   schema keeps only path/split/type/data_files/revision/field_*), so a Hub config name cannot
   be given per dataset. Before validation, every `datasets:` entry without `data_files` is
   rewritten to files that name the config itself: a Hub repo gets
   `data_files: ["<config>/<split>-*.parquet"]`, a local folder made by `karma-build binarize`
   gets one entry per parquet shard. Both then load as split `train`.
2. After training, on the main process only, it runs the `karma` lm-eval tasks on the saved
   model (`karma_plugin.lmeval.posttrain`) and writes lm-eval's standard
   `results_<timestamp>.json` under `{output_dir}/karma_eval/`, where `karma-build compare`
   reads it. In a distributed run the evaluation runs in a fresh process without the
   launcher's rank variables, so lm-eval does not try to join the finished training group.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from axolotl.integrations.base import BasePlugin
from pydantic import BaseModel, Field

from karma_plugin.core.pairing import STRATEGIES, Strategy
from karma_plugin.lmeval.posttrain import EvalRequest, request_to_argv, run_karma_eval

LOG = logging.getLogger(__name__)

ENV_CONFIG = "KARMA_DATASET_CONFIG"
# Launcher variables that make lm-eval (through accelerate) believe it is one rank of many.
_DIST_ENV = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "ACCELERATE_USE_DEEPSPEED",
    "ACCELERATE_USE_FSDP",
)


class KarmaEvalArgs(BaseModel):
    """Top-level config keys added by the plugin."""

    karma_dataset_config: Strategy | None = Field(
        default=None,
        json_schema_extra={"description": "KARMA strategy (dataset config) to train on"},
    )
    karma_eval_post_train: bool = True
    karma_eval_tasks: list[str] = Field(default_factory=lambda: ["karma"])
    karma_eval_limit: float | None = None
    karma_eval_batch_size: int | str = 8
    karma_eval_apply_chat_template: bool = True
    karma_eval_num_fewshot: int | None = None
    karma_eval_include_path: str | None = None
    karma_eval_model_args: str | None = None
    karma_eval_subprocess: bool | None = None  # default: only in distributed runs


class KarmaConfigError(ValueError):
    """A KARMA key in the Axolotl config cannot be honoured."""


def _local_shards(folder: Path, config: str, split: str) -> list[Path]:
    shards = sorted((folder / config).glob(f"{split}-*.parquet"))
    if not shards:
        raise KarmaConfigError(
            f"no {config}/{split}-*.parquet in {folder}: "
            "is it a folder made by karma-build binarize?"
        )
    return shards


def resolve_dataset_entries(datasets: list, config: str) -> list[dict]:
    """`datasets:` entries rewritten to load KARMA config `config` (data_files entries kept)."""
    if config not in STRATEGIES:
        raise KarmaConfigError(
            f"karma_dataset_config must be one of {', '.join(STRATEGIES)}, not {config!r}"
        )
    resolved: list[dict] = []
    for entry in datasets:
        entry = dict(entry)
        path = entry.get("path")
        if entry.get("data_files") or not path:
            resolved.append(entry)
            continue
        split = entry.get("split") or "train"
        entry.pop("name", None)
        entry["split"] = "train"  # data_files always load as one split named train
        if Path(path).is_dir():
            for shard in _local_shards(Path(path), config, split):
                resolved.append({**entry, "path": str(shard.resolve())})
        else:
            resolved.append({**entry, "data_files": [f"{config}/{split}-*.parquet"]})
    return resolved


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def eval_request_from_cfg(cfg) -> EvalRequest:
    """The lm-eval run the plugin performs for an Axolotl config (after training)."""
    model = cfg.get("output_dir") or "./model-out"
    bf16 = cfg.get("bf16") is True or cfg.get("bfloat16") is True
    limit = cfg.get("karma_eval_limit")
    if limit is not None and float(limit).is_integer():
        limit = int(limit)
    return EvalRequest(
        model=str(model),
        output_dir=str(model),
        tasks=list(cfg.get("karma_eval_tasks") or ["karma"]),
        limit=limit,
        batch_size=cfg.get("karma_eval_batch_size") or 8,
        apply_chat_template=cfg.get("karma_eval_apply_chat_template") is not False,
        num_fewshot=cfg.get("karma_eval_num_fewshot"),
        dtype="bfloat16" if bf16 else "float32",
        include_path=cfg.get("karma_eval_include_path"),
        model_args=cfg.get("karma_eval_model_args"),
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _DIST_ENV}


class KarmaEvalPlugin(BasePlugin):
    """Selects the KARMA dataset config and evaluates the trained model on the karma tasks."""

    def get_input_args(self) -> str:
        return "karma_plugin.integrations.axolotl.KarmaEvalArgs"

    def register(self, cfg: dict) -> None:
        config = os.environ.get(ENV_CONFIG) or cfg.get("karma_dataset_config")
        if not config:
            return
        cfg["karma_dataset_config"] = config
        if cfg.get("datasets"):
            cfg["datasets"] = resolve_dataset_entries(cfg["datasets"], config)
            LOG.info("KARMA dataset config %s: datasets %s", config, cfg["datasets"])

    def post_train_unload(self, cfg) -> None:
        if cfg.get("karma_eval_post_train") is False:
            return
        if not is_main_process():
            return
        request = eval_request_from_cfg(cfg)
        use_subprocess = cfg.get("karma_eval_subprocess")
        if use_subprocess is None:
            use_subprocess = is_distributed()
        LOG.info("KARMA post-train evaluation: %s", request)
        if use_subprocess:
            subprocess.run(request_to_argv(request), check=True, env=_clean_env())
        else:
            run_karma_eval(request)
