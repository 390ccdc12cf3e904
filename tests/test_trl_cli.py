"""Training on a `karma-build binarize` folder with TRL's own command lines, unchanged.

The real `trl sft` / `trl dpo` CLIs (and `accelerate launch` with two processes) run 1 step on
CPU, offline, with the tiny Llama-3.1 and Qwen2.5 look-alikes of tests/tiny_models.py. Each run
dumps what its trainer prepared and fed the model (tests/trl_hook/sitecustomize.py), and the tests
check TRL's own tokenization of every sequence: one BOS (Llama-3.x; none added on Qwen2.5), the
instruction exactly once, and for SFT a loss on the assistant answer only.

The four runs are module fixtures, each shared by the tests that read it: about 40 s each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from packaging.version import Version
from tiny_models import tiny_llama31, tiny_qwen25  # noqa: F401  (pytest fixtures)

pytest.importorskip("trl", reason="needs TRL (the `test` or `train` extra)")
# Run on the newest releases too (scripts/test.sh): TRL's and transformers' data handling.
pytestmark = pytest.mark.deps
slow = pytest.mark.slow  # the tests that read a CLI run

DOCS = Path(__file__).resolve().parents[1] / "docs" / "training.md"

HOOK = Path(__file__).with_name("trl_hook")
BIN = Path(sys.executable).parent
# Everything a run changes besides the model, the data and the output folder: one step, CPU,
# small batches, no logging service. --max_length 2048 (the Axolotl configs' sequence_len):
# TRL's default 1024 would cut the sample pool's longest answers.
COMMON = [
    "--max_steps", "1",
    "--per_device_train_batch_size", "2",
    "--per_device_eval_batch_size", "2",
    "--max_length", "2048",
    "--use_cpu",
    "--report_to", "none",
    "--save_strategy", "no",
    "--logging_steps", "1",
]  # fmt: skip
# A run takes 20-40 s (the two-process one about 30 s under the Axolotl pins): one still going
# after TIMEOUT is stuck and is killed, so a hang costs CI 4 minutes, not 15.
TIMEOUT = 240
# The end of a successful run, as TRL's scripts print it (on the main process) once the model is
# written: the launcher's teardown may hang after it (see `wait_for_run`).
DONE = ("✅ Training completed.", "💾 Model saved to")
GRACE = 30  # seconds a finished run gets to exit before it is taken for hung at exit
# TRL's scripts end with `Trainer.end()` (destroying the process group) from transformers 5.18 on.
ENDS_PROCESS_GROUP = Version(version("transformers")) >= Version("5.18")


@dataclass(frozen=True)
class Run:
    """What one CLI run's trainer prepared (TRL's processed datasets) and fed the model."""

    folder: Path
    model: Path
    family: str  # "llama" or "qwen"
    config: str  # the config it trained on

    def rows(self, name: str) -> list[dict]:
        return pq.read_table(self.folder / f"{name}.parquet").to_pylist()

    def json(self, name: str):
        return json.loads((self.folder / f"{name}.json").read_text())

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model)


TINY = {"llama": "tiny_llama31", "qwen": "tiny_qwen25"}


def run_cli(
    request, family: str, config: str, command: list[str], *args: str, hangs_at_exit: bool = False
) -> Run:
    """``command`` (the CLI, as launched) on the tiny model of ``family`` with ``args``, which
    select ``config``, in a folder of its own; what it trained on is returned. ``hangs_at_exit``:
    see `wait_for_run`."""
    model = request.getfixturevalue(TINY[family])
    tmp = request.getfixturevalue("tmp_path_factory").mktemp(request.fixturename)
    dump = tmp / "dump"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HOOK), os.environ.get("PYTHONPATH", "")]),
        "KARMA_TRL_DUMP": str(dump),
        "HF_HOME": str(tmp / "hf-home"),  # a cache of its own: datasets keys a folder by name
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
    }
    argv = [
        *command,
        "--model_name_or_path", str(model),
        *args,
        "--output_dir", str(tmp / "out"),
        *COMMON,
    ]  # fmt: skip
    log = tmp / "log.txt"
    with log.open("w") as out:
        # A session of its own: a launcher is stopped with the processes it started.
        process = subprocess.Popen(
            argv, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_run(process, log, tmp / "out", hangs_at_exit)
    return Run(dump, model, family, config)


def wait_for_run(process: subprocess.Popen, log: Path, out: Path, hangs_at_exit: bool) -> None:
    """Wait for ``process`` to exit 0 within TIMEOUT (it is killed otherwise).

    With ``hangs_at_exit``, a run that finished (the log says training completed and the model
    was saved, and the model is in ``out``) but has not exited GRACE seconds later counts as
    done, and is killed. This is for `accelerate launch` on two CPU processes when TRL's script
    ends with `Trainer.end()` (ENDS_PROCESS_GROUP; without it the run must exit): that destroys
    the process group (huggingface/transformers#48874) while the DDP model still holds its gloo
    backend. When the model is freed at the return of the script's main(), `~ProcessGroupGloo`
    joins its worker threads with the GIL held, and a worker still freeing the `all_gather` of
    a moment before (Trainer.store_flos, on the rank that saves nothing) waits for the GIL: a
    deadlock, of the kind of pytorch/pytorch#56297 (a blocking destructor behind a pybind11
    binding). It depends on thread timing: on a busy machine it is frequent."""
    start = time.monotonic()
    finished_at = None
    while process.poll() is None:
        now = time.monotonic()
        if finished_at is None and hangs_at_exit and finished(log, out):
            finished_at = now
        if now - start > TIMEOUT or (finished_at is not None and now - finished_at > GRACE):
            with suppress(ProcessLookupError):  # it may have exited meanwhile
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(1)
    tail = log.read_text(errors="replace")[-6000:]
    if finished_at is not None and process.returncode == -signal.SIGKILL:
        # The tests then check what it wrote, as for any run.
        warnings.warn(f"{process.args[0]} finished but hung at exit: killed", stacklevel=2)
        return
    assert process.returncode != -signal.SIGKILL, f"no exit after {TIMEOUT} s: killed\n{tail}"
    assert process.returncode == 0, f"exit status {process.returncode}\n{tail}"


def finished(log: Path, out: Path) -> bool:
    text = log.read_text(errors="replace")
    return all(line in text for line in DONE) and (out / "model.safetensors").is_file()


def dataset(folder: Path, split: str, config: str | None = None, test: str | None = None):
    """The dataset options as the card writes them: folder, config (none: the default), splits;
    with ``test``, evaluation on that split every step."""
    return [
        "--dataset_name", str(folder),
        *(["--dataset_config", config] if config else []),
        "--dataset_train_split", split,
        *(["--dataset_test_split", test, "--eval_strategy", "steps", "--eval_steps", "1"]
          if test else []),
    ]  # fmt: skip


def source_rows(folder: Path, config: str, split: str) -> dict[str, dict]:
    """The rows `binarize` wrote, by instruction (the sample pool repeats none)."""
    files = sorted((folder / config).glob(f"{split}-*.parquet"))
    return {r["prompt"][0]["content"]: r for f in files for r in pq.read_table(f).to_pylist()}


def instruction(example: dict) -> str:
    return example["prompt"][0]["content"]


@pytest.fixture(scope="module")
def folder(sample_folder) -> Path:
    """`karma-build binarize` on the shipped sample pool: four configs, k_sim the default (the
    session's: read-only)."""
    return sample_folder


@pytest.fixture(scope="module")
def sft_llama(folder, request) -> Run:
    """`trl sft` as the card shows it, without a config name (the default, k_sim), evaluating
    on test_sft."""
    trl_sft = [str(BIN / "trl"), "sft"]
    args = dataset(folder, "train_sft", test="test_sft")
    return run_cli(request, "llama", "k_sim", trl_sft, *args)


@pytest.fixture(scope="module")
def sft_qwen_two_processes(folder, request) -> Run:
    """docs/training.md's several-GPU line, `accelerate launch --multi_gpu --num_processes N -m
    trl.scripts.sft`, on two CPU processes (gloo instead of NCCL), on config k_score."""
    launch = [
        str(BIN / "accelerate"), "launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "trl.scripts.sft",
    ]  # fmt: skip
    args = [*dataset(folder, "train_sft", "k_score"), "--ddp_backend", "gloo"]
    return run_cli(request, "qwen", "k_score", launch, *args, hangs_at_exit=ENDS_PROCESS_GROUP)


@pytest.fixture(scope="module")
def dpo_llama(folder, request) -> Run:
    """`trl dpo` as the card shows it, on config rlaif, evaluating on test_prefs."""
    trl_dpo = [str(BIN / "trl"), "dpo"]
    args = dataset(folder, "train_prefs", "rlaif", "test_prefs")
    return run_cli(request, "llama", "rlaif", trl_dpo, *args)


# An alignment-handbook DPO recipe's dataset entry (there: `dataset_mixture.datasets`, with
# `id`/`config`; in TRL's own mixture: `datasets`, with `path`/`name`), changed as
# docs/training.md says: our folder, no config name (the card's default), `prompt` added to
# the recipe's `columns: [chosen, rejected]`.
HANDBOOK_MIXTURE = {"split": "train_prefs", "columns": ["prompt", "chosen", "rejected"]}


@pytest.fixture(scope="module")
def dpo_qwen_handbook(folder, request, tmp_path_factory) -> Run:
    """`trl dpo --config recipe.yaml` with the handbook's dataset mixture."""
    recipe = tmp_path_factory.mktemp("recipe") / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"datasets": [{"path": str(folder), **HANDBOOK_MIXTURE}]}))
    return run_cli(request, "qwen", "k_sim", [str(BIN / "trl"), "dpo", "--config", str(recipe)])


def check_start(run: Run, ids: list[int]) -> None:
    """One BOS on Llama-3.x, at the start; Qwen2.5 has none, and nothing is put before the
    template's first token."""
    tok = run.tokenizer
    if run.family == "llama":
        assert ids[0] == tok.bos_token_id
        assert ids.count(tok.bos_token_id) == 1, "double BOS"
    else:
        assert tok.bos_token_id is None
        assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
        assert tok.convert_tokens_to_ids("<|endoftext|>") not in ids


def check_answer(run: Run, ids: list[int], answer: str) -> None:
    """``ids`` are the answer and its end-of-turn token (Qwen's template adds a newline)."""
    tok = run.tokenizer
    text = tok.decode(ids)
    assert text.startswith(answer + tok.eos_token), (text[:80], answer[:80])
    assert text[len(answer) + len(tok.eos_token) :].strip() == ""


def unpadded(batch: dict, i: int, key: str = "input_ids") -> list[int]:
    mask = batch.get("attention_mask", [[1] * len(batch[key][i])] * len(batch[key]))[i]
    return [t for t, m in zip(batch[key][i], mask, strict=True) if m]


def check_sft(run: Run, processed: list[dict], source: dict[str, dict]) -> None:
    tok = run.tokenizer
    assert len(processed) == len(source)  # nothing dropped
    for example in processed:
        row = source[instruction(example)]
        ids, labels = example["input_ids"], example["labels"]
        check_start(run, ids)
        assert tok.decode(ids).count(instruction(row)) == 1
        first = next(i for i, label in enumerate(labels) if label != -100)
        # Completion-only loss: nothing before the answer is trained, all of it after is.
        assert all(label == -100 for label in labels[:first])
        assert labels[first:] == ids[first:]
        check_answer(run, labels[first:], row["completion"][0]["content"])
        assert row["completion"] == row["messages"][1:]  # what the H4 recipes train on


@slow
@pytest.mark.parametrize("name", ["sft_llama", "sft_qwen_two_processes"])
def test_trl_sft_trains_on_the_answer_only(name, request, folder):
    run = request.getfixturevalue(name)
    assert run.json("run")["trainer"] == "SFTTrainer"
    check_sft(run, run.rows("train"), source_rows(folder, run.config, "train_sft"))
    # The batch the model received carries those labels.
    batch = run.json("batch")
    by_ids = {tuple(r["input_ids"]): r["labels"] for r in run.rows("train")}
    for i in range(len(batch["input_ids"])):
        assert unpadded(batch, i, "labels") == by_ids[tuple(unpadded(batch, i))]


@slow
def test_trl_sft_evaluates_on_test_sft(sft_llama, folder):
    check_sft(sft_llama, sft_llama.rows("eval"), source_rows(folder, "k_sim", "test_sft"))
    assert any("eval_loss" in entry for entry in sft_llama.json("log_history"))


@slow
def test_accelerate_launch_ran_two_processes(sft_qwen_two_processes):
    assert sft_qwen_two_processes.json("run")["world_size"] == 2


def check_dpo(run: Run, processed: list[dict], source: dict[str, dict]) -> None:
    tok = run.tokenizer
    assert len(processed) == len(source)
    for example in processed:
        row = source[instruction(example)]
        for side in ("chosen", "rejected"):
            ids = example["prompt_ids"] + example[f"{side}_ids"]
            check_start(run, ids)
            assert tok.decode(ids).count(instruction(row)) == 1
            assert tok.decode(example["prompt_ids"]).count(instruction(row)) == 1
            check_answer(run, example[f"{side}_ids"], row[side][0]["content"])


@slow
@pytest.mark.parametrize("name", ["dpo_llama", "dpo_qwen_handbook"])
def test_trl_dpo_sequences_have_one_bos_and_the_instruction_once(name, request, folder):
    run = request.getfixturevalue(name)
    processed = run.rows("train")
    if name == "dpo_qwen_handbook":  # the mixture kept the columns it was told to keep
        assert set(processed[0]) - {"prompt_ids", "chosen_ids", "rejected_ids"} == {
            "prompt",
            "chosen",
            "rejected",
        }
    assert run.json("run")["trainer"] == "DPOTrainer"
    check_dpo(run, processed, source_rows(folder, run.config, "train_prefs"))
    # Every sequence of the batch the model received: one BOS, a completion after the prompt.
    batch = run.json("batch")
    for i in range(len(batch["input_ids"])):
        ids, mask = unpadded(batch, i), unpadded(batch, i, "completion_mask")
        check_start(run, ids)
        assert 0 < sum(mask) < len(ids) and mask == sorted(mask)


@slow
def test_trl_dpo_evaluates_on_test_prefs(dpo_llama, folder):
    check_dpo(dpo_llama, dpo_llama.rows("eval"), source_rows(folder, "rlaif", "test_prefs"))
    history = dpo_llama.json("log_history")
    assert any("eval_loss" in entry for entry in history)
    assert any("train_loss" in entry for entry in history)


def test_handbook_columns_without_prompt_lose_the_instruction(folder, tmp_path, monkeypatch):
    """Why the recipe must add `prompt`: its `columns: [chosen, rejected]` keeps no user turn
    (chosen/rejected hold the answer only), so TRL would train on answers without their
    instruction, or fail."""
    import datasets
    from trl import DatasetMixtureConfig, get_dataset

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path))
    unchanged = {**HANDBOOK_MIXTURE, "columns": ["chosen", "rejected"]}
    rows = get_dataset(DatasetMixtureConfig(datasets=[{"path": str(folder), **unchanged}]))
    first = rows["train"][0]
    assert set(first) == {"chosen", "rejected"}
    assert [m["role"] for m in first["chosen"] + first["rejected"]] == ["assistant", "assistant"]


def documented_trl_lines(text: str) -> list[list[str]]:
    """The `trl sft` / `trl dpo` command lines of a page, continuation lines joined."""
    import shlex

    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        shlex.split(line.strip())
        for line in joined.splitlines()
        if re.match(r"\s*trl (sft|dpo) ", line)
    ]


def test_documented_trl_lines_parse(folder):
    """Every `trl sft`/`trl dpo` line of docs/training.md and of the dataset card is valid for
    the installed TRL: its own parser knows every option and reads every value."""
    import importlib

    docs = documented_trl_lines(DOCS.read_text(encoding="utf-8"))
    card = documented_trl_lines((folder / "README.md").read_text(encoding="utf-8"))
    assert {argv[1] for argv in docs} == {argv[1] for argv in card} == {"sft", "dpo"}
    for argv in docs + card:
        parser = importlib.import_module(f"trl.scripts.{argv[1]}").make_parser()
        # argparse only: the config classes would refuse --bf16 on a machine without a GPU.
        _, unknown = parser.parse_known_args(argv[2:])
        assert unknown == [], (argv, unknown)
