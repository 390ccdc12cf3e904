"""CPU smoke: `axolotl train` on our shipped configs with tiny models, then the karma evaluation.

Each run trains 2 optimizer steps (6 x 4 sequences each) of a 2-layer model on the dataset folder
`karma-build binarize` writes, with only the overrides in CPU_OVERRIDE_KEYS, and lets the
KarmaEvalPlugin evaluate the result through lm-eval after training.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from axolotl_helpers import (
    CONFIG_ROOT,
    CPU_OVERRIDE_KEYS,
    OFFLINE_ENV,
    changed_keys,
    cpu_smoke_config,
    finite,
    load_config,
)
from lmeval_helpers import derived_tasks
from tiny_models import tiny_llama31, tiny_qwen25  # noqa: F401  (pytest fixtures)

pytest.importorskip("axolotl", reason="needs the `train` extra (axolotl)")
pytestmark = [pytest.mark.train, pytest.mark.slow]

# A shipped karma task, its dataset swapped for the local fixture in the real Hub schema.
EVAL_TASK = "karma_arc_easy"


@pytest.fixture(scope="module")
def karma_folder(sample_folder) -> Path:
    """binarize --strategy all on the sample pool (the session's folder: read-only)."""
    return sample_folder


@pytest.fixture(scope="module")
def eval_tasks(tmp_path_factory) -> Path:
    """The karma tasks reading local fixture data, so the post-train eval needs no Hub."""
    return derived_tasks(tmp_path_factory.mktemp("tasks"))


def _run_axolotl(cfg: dict, workdir: Path) -> subprocess.CompletedProcess:
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    axolotl = Path(sys.executable).with_name("axolotl")
    env = {**os.environ, **OFFLINE_ENV}
    env.pop("KARMA_DATASET_CONFIG", None)
    return subprocess.run(
        [str(axolotl), "train", str(path), "--launcher", "python"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _losses(log: str) -> list[str]:
    return re.findall(r"'(?:train_)?loss': '([^']+)'", log)


def _results_files(root: Path) -> list[Path]:
    from karma_plugin.lmeval.results import find_results_files

    return find_results_files([root])


@pytest.mark.parametrize(
    ("model_dir", "method", "family"),
    [
        ("llama-3.1-8b-instruct", "dpo", "llama"),
        ("llama-3.1-8b-instruct", "sft", "llama"),
        ("qwen2.5-7b-instruct", "dpo", "qwen"),
        ("qwen2.5-7b-instruct", "sft", "qwen"),
    ],
)
def test_train_two_steps_then_karma_eval(
    model_dir, method, family, request, tmp_path, karma_folder, eval_tasks
):
    model = request.getfixturevalue("tiny_llama31" if family == "llama" else "tiny_qwen25")
    shipped = CONFIG_ROOT / model_dir / f"{method}.yml"
    cfg = cpu_smoke_config(
        shipped,
        model=model,
        dataset=karma_folder,
        out=tmp_path,
        eval_tasks=[EVAL_TASK],
        eval_include_path=eval_tasks,
    )
    changed = changed_keys(load_config(shipped), cfg)
    assert changed <= CPU_OVERRIDE_KEYS | {"datasets.path"}, changed

    proc = _run_axolotl(cfg, tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    losses = _losses(log)
    assert finite(losses), f"no finite loss in the log: {losses}"
    out = tmp_path / "model"
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert (out / "model.safetensors").is_file()
    assert (out / "checkpoint-2" / "model.safetensors").is_file()
    # The template saved with the model is the base model's own (tokenizer_default).
    saved = (out / "chat_template.jinja").read_text(encoding="utf-8")
    assert saved == (model / "chat_template.jinja").read_text(encoding="utf-8")

    files = _results_files(out / "karma_eval")
    assert len(files) == 1, files
    results = json.loads(files[0].read_text(encoding="utf-8"))
    acc = results["results"][EVAL_TASK]["exact_match,answer-is"]
    assert 0.0 <= acc <= 1.0
    assert 0.0 <= results["results"][EVAL_TASK]["invalid,answer-is"] <= 1.0
    assert results["n-samples"][EVAL_TASK]["effective"] == 2  # karma_eval_limit
    assert str(out) in results["config"]["model_args"]
