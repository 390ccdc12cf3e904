"""Bring your own models, end to end (issue 12): three tiny local models through the real lm_eval
CLI on the `hf` backend, Stage 1 scores -> `karma-build scores` -> Stage 0 `karmagen_prompts` on a
20-prompt set (`responses-task` on a local jsonl) -> `karma-build pool` -> `karma-build binarize`
-> the folder loaded with `datasets` -> a 2-step Axolotl DPO run on it (CPU).

The models answer a fixed sentence each (tests/scripted_models.py), so their benchmark scores
differ and every number below is known in advance. Both stages write into one output folder, as
a user would: `pool` must pick the Stage-0 samples out of it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from axolotl_helpers import CONFIG_ROOT, OFFLINE_ENV, cpu_smoke_config, finite
from cli import karma_build
from lmeval_helpers import derived_tasks, offline_env, punkt_env
from scripted_models import build_scripted_model

from karma_plugin.core.prompts import prompt_id
from karma_plugin.core.score_table import read_scores

pytest.importorskip("axolotl", reason="needs the `train` extra (axolotl)")
pytestmark = [
    pytest.mark.train,
    pytest.mark.slow,
    pytest.mark.lmeval,
]

TESTS = Path(__file__).parent
PROMPTS = TESTS / "fixtures" / "responses" / "prompts.jsonl"
# name -> (family, the model's answer to everything)
MODELS = {
    "tiny-a": ("llama31", "The answer is (A)"),
    "tiny-b": ("llama31", "The answer is (B)"),
    "tiny-c": ("qwen25", "The answer is (C)"),
}
# Headline accuracy ("answer-is") of an always-X model on the fixture items, by hand: golds are
# mmlu_stem B D D, mmlu_pro I B C, hellaswag D A, arc_easy C B C, arc_challenge A B.
BENCHMARKS = ("mmlu_stem", "mmlu_pro", "hellaswag", "arc_easy", "arc_challenge")
EXPECTED_SCORES = {
    "tiny-a": (0, 0, 1 / 2, 0, 1 / 2),
    "tiny-b": (1 / 3, 1 / 3, 0, 1 / 3, 1 / 2),
    "tiny-c": (0, 1 / 3, 0, 2 / 3, 0),
}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=900, cwd=cwd
    )
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-4000:])


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("byom")
    env = offline_env(punkt_env(root / "nltk"))
    stage1 = derived_tasks(root / "stage1")  # the shipped karma tasks on local fixtures
    models = {
        name: build_scripted_model(family, root / name, sentence, seed=i)
        for i, (name, (family, sentence)) in enumerate(MODELS.items())
    }
    names = [arg for name, path in models.items() for arg in ("--name", f"{path}={name}")]
    common = ["--model", "hf", "--device", "cpu", "--apply_chat_template", "--batch_size", "8"]
    common += ["--gen_kwargs", "max_gen_toks=16", "--output_path", "runs", "--log_samples"]
    for path in models.values():
        model_args = ["--model_args", f"pretrained={path},dtype=float32"]
        # Stage 1: the group `karma` (the six benchmarks), plain lm_eval (indexing only them).
        tasks = ["--tasks", "karma", "--include_path", str(stage1)]
        _run([str(TESTS / "lmeval_launcher.py"), *model_args, *tasks, *common], root, env)
    _ok(karma_build("scores", "runs", *names, "-o", "scores.csv", cwd=root))
    _ok(
        karma_build(
            "responses-task", "--dataset", PROMPTS, "--column", "text", "--out", "stage0", cwd=root
        )
    )
    for path in models.values():
        # Stage 0 through the wrapper, into the same output folder as Stage 1.
        model_args = ["--model_args", f"pretrained={path},dtype=float32"]
        tasks = ["--tasks", "karmagen_prompts", "--include_path", "stage0"]
        _run(["-m", "karma_plugin.lmeval.wrapper", *model_args, *tasks, *common], root, env)
    _ok(karma_build("pool", "runs", *names, "-o", "pool.parquet", cwd=root))
    # 25% test prompts: at UltraFeedback's 5% a 20-prompt pool may get an empty test split.
    binarize = ["binarize", "--dataset", "pool.parquet", "--scores", "scores.csv"]
    binarized = _ok(karma_build(*binarize, "--test-size", "0.25", "--out", "data", cwd=root))
    return {"root": root, "binarize_stdout": binarized, **models}


def test_stage1_scores_come_from_the_models_answers(recipe):
    table = read_scores(recipe["root"] / "scores.csv")
    assert table.models == ("tiny-a", "tiny-b", "tiny-c")
    for model, expected in EXPECTED_SCORES.items():
        row = table.values[table.models.index(model)]
        for bench, value in zip(BENCHMARKS, expected, strict=True):
            assert row[table.benchmarks.index(bench)] == pytest.approx(value), (model, bench)
    # The same sentence everywhere: IFEval cannot tell the models apart.
    ifeval = table.benchmarks.index("ifeval")
    assert len({row[ifeval] for row in table.values}) == 1


def test_stage0_pool_holds_every_models_answer(recipe):
    root = recipe["root"]
    table = pq.read_table(root / "pool.parquet")
    prompts = [json.loads(line)["text"] for line in PROMPTS.read_text("utf-8").splitlines()]
    assert table.column("instruction").to_pylist() == prompts
    for row in table.to_pylist():
        assert row["models"] == list(MODELS)
        assert [c["response"] for c in row["completions"]] == [s for _, s in MODELS.values()]
    meta = json.loads(table.schema.metadata[b"karma_pool"])
    assert meta["rows_with_fewer_than_2_responses"] == 0
    for run in meta["runs"]:
        assert run["chat_template_applied"] is True
        assert run["gen_kwargs"] in ("max_gen_toks=16", {"max_gen_toks": 16})
        assert run["generation_kwargs"]["max_gen_toks"] == 16
        assert run["backend"] == "hf" and run["lm_eval_model"] == str(recipe[run["model"]])


def test_binarize_pairs_the_pool_and_datasets_loads_it(recipe):
    import datasets

    root = recipe["root"]
    kin = json.loads((root / "data" / "kinship.json").read_text("utf-8"))
    assert kin["excluded"]["ifeval"] == "constant across models (carries no information)"
    for config in ("k_score", "k_sim", "k_score_sim"):
        assert kin["counts"][config]["pairs"] == 20, kin["counts"][config]
    # No instance ratings: rlaif is not built, and the run says why; the agreement with
    # ratings is unknown.
    assert "rlaif" not in kin["counts"] and not (root / "data" / "rlaif").exists()
    assert kin["skipped_configs"]["rlaif"].startswith("the pool has no instance ratings")
    assert "  rlaif        not built: the pool has no instance ratings" in recipe["binarize_stdout"]
    assert kin["agreement"] == {"k_score": None, "k_sim": None, "k_score_sim": None}
    # The card says where the answers came from: the models as lm-eval ran them.
    assert kin["pool_provenance"]["models"] == list(MODELS)
    card = (root / "data" / "README.md").read_text("utf-8")
    assert "## The response pool" in card and "`karmagen_prompts` on 20 prompts" in card
    assert str(root) not in card  # the local models' paths, published relative
    k_sim = datasets.load_dataset(str(root / "data"), "k_sim")
    prefs = k_sim["train_prefs"].num_rows + k_sim["test_prefs"].num_rows
    assert prefs == 20
    prompts = {json.loads(line)["text"] for line in PROMPTS.read_text("utf-8").splitlines()}
    for row in k_sim["train_prefs"]:
        assert row["prompt_id"] == prompt_id(row["instruction"]) and row["instruction"] in prompts
        assert row["chosen_model"] == "tiny-b"  # the highest S_pref, in every KARMA pair here
        assert row["chosen"][0]["content"] == "The answer is (B)"
        assert row["score_chosen"] is None and row["score_rejected"] is None
    with pytest.raises(ValueError, match="rlaif"):  # not a config of this folder
        datasets.load_dataset(str(root / "data"), "rlaif")


def _losses(log: str) -> list[str]:
    return re.findall(r"'(?:train_)?loss': '([^']+)'", log)


def test_two_step_axolotl_dpo_on_the_pool(recipe, tmp_path):
    cfg = cpu_smoke_config(
        CONFIG_ROOT / "llama-3.1-8b-instruct" / "dpo.yml",
        model=recipe["tiny-a"],
        dataset=recipe["root"] / "data",
        out=tmp_path,
    )
    cfg["karma_eval_post_train"] = False  # the karma evaluation after training: test_axolotl_smoke
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = {**os.environ, **OFFLINE_ENV, "KARMA_DATASET_CONFIG": "k_sim"}
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("axolotl")),
            "train",
            str(path),
            "--launcher",
            "python",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert finite(_losses(log)), log[-4000:]
    state = json.loads((tmp_path / "model" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
