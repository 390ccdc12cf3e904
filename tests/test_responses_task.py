"""Stage 0's lm-eval task `karmagen` (formerly `karma_responses`): the shipped files,
`karma-build responses-task` for any prompt set (tasks `karmagen_<name>`), and real runs
through lm-eval's `hf` backend with a chat template, then `pool`.

Marked `lmeval`: the suite runs it under lm-eval 0.4.11 (test environment) and 0.4.13 (latest).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from cli import assert_fails, karma_build, snapshot
from lmeval_helpers import offline_env, shipped_dir
from scripted_models import build_scripted_model

from karma_plugin.lmeval.responses import (
    MAX_GEN_TOKS,
    ULTRAFEEDBACK_REVISION,
    docs_module,
    task_yaml,
    ultrafeedback,
)

pytestmark = pytest.mark.lmeval

TESTS = Path(__file__).parent
PROMPTS = TESTS / "fixtures" / "responses" / "prompts.jsonl"
UF_SAMPLE = Path(__file__).parents[1] / "karma_plugin" / "data" / "ultrafeedback_sample.jsonl"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: "!function " + node.value)


def read_task(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"docs_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the shipped task -------------------------------------------------------------------------


def test_shipped_files_are_what_responses_task_writes():
    folder = shipped_dir()
    assert (folder / "karmagen.yaml").read_text("utf-8") == task_yaml(
        ultrafeedback(),
        "Prompts: UltraFeedback's instructions at a pinned revision (docs/generation.md).",
    )
    assert (folder / "karmagen_docs.py").read_text("utf-8") == docs_module(ultrafeedback())
    # The old name is gone: `karma_*` must select the six Stage-1 tasks only.
    assert not list(folder.glob("karma_responses*"))


def test_shipped_task_settings():
    cfg = read_task(shipped_dir() / "karmagen.yaml")
    assert cfg["task"] == "karmagen"
    assert "group" not in cfg and "tag" not in cfg and "include" not in cfg
    assert cfg["dataset_path"] == "openbmb/UltraFeedback"
    assert re.fullmatch(r"[0-9a-f]{40}", cfg["dataset_kwargs"]["revision"])
    assert cfg["dataset_kwargs"]["revision"] == ULTRAFEEDBACK_REVISION
    assert cfg["test_split"] == "train" and cfg["num_fewshot"] == 0
    assert cfg["output_type"] == "generate_until"
    assert cfg["doc_to_text"] == "instruction"
    assert cfg["process_docs"] == "!function karmagen_docs.process_docs"
    assert cfg["generation_kwargs"] == {
        "until": [],
        "do_sample": False,
        "temperature": 0.0,
        "max_gen_toks": 2048,
    }
    assert cfg["metric_list"] == [
        {"metric": "bypass", "aggregation": "bypass", "higher_is_better": True}
    ]
    assert "description" not in cfg  # the instruction alone is the user turn


def _load_task(include: Path):
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False)
    load = getattr(manager, "load", None) or manager.load_task_or_group  # 0.4.11: no load()
    loaded = load(["karmagen"])

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, ConfigurableTask):
            yield node

    (task,) = walk(loaded)
    return task


def test_shipped_task_reduces_ultrafeedback_rows(tmp_path, monkeypatch):
    """The shipped YAML on a local file in UltraFeedback's schema (the package's sample pool):
    every document is {instruction, source}, the prompt is the instruction, generation greedy."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    derived = {
        "include": str(shipped_dir() / "karmagen.yaml"),
        "task": "karmagen",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"train": str(UF_SAMPLE)}},
    }
    (tmp_path / "karmagen.yaml").write_text(yaml.safe_dump(derived), encoding="utf-8")
    task = _load_task(tmp_path)
    docs = list(task.eval_docs)
    rows = [json.loads(line) for line in UF_SAMPLE.read_text("utf-8").splitlines()]
    assert len(docs) == len(rows) == 309
    assert docs[0] == {"instruction": rows[0]["instruction"], "source": rows[0]["source"]}
    assert all(set(d) == {"instruction", "source"} for d in docs)
    assert [task.doc_to_text(d) for d in docs[:5]] == [r["instruction"] for r in rows[:5]]
    task.build_all_requests(rank=0, limit=3, world_size=1)
    prompt, generation = task.instances[0].args
    assert prompt == rows[0]["instruction"]
    assert generation["max_gen_toks"] == MAX_GEN_TOKS and generation["do_sample"] is False


def test_docs_module_keeps_the_prompt_and_a_source(tmp_path):
    import datasets

    made = karma_build(
        "responses-task", "--dataset", PROMPTS, "--column", "text", "--out", "t", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    module = load_module(tmp_path / "t" / "karmagen_prompts_docs.py")
    plain = datasets.Dataset.from_dict({"text": ["Hi \n", "Bye"], "id": [1, 2]})
    assert module.process_docs(plain).to_list() == [
        {"instruction": "Hi \n", "source": "prompts.jsonl"},
        {"instruction": "Bye", "source": "prompts.jsonl"},
    ]
    with_source = datasets.Dataset.from_dict({"text": ["Hi"], "source": ["flan"]})
    assert module.process_docs(with_source).to_list() == [{"instruction": "Hi", "source": "flan"}]
    for bad, message in (
        ({"prompt": ["Hi"]}, "has no column 'text'"),
        ({"text": [1, 2]}, "does not hold text"),
        ({"text": ["Hi", None]}, "is empty (null)"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            module.process_docs(datasets.Dataset.from_dict(bad))


# --- karma-build responses-task ------------------------------------------------------------


def test_responses_task_for_a_local_file(tmp_path):
    result = karma_build(
        "responses-task", "--dataset", PROMPTS, "--column", "text", "--out", "task", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "20 prompts from" in result.stdout
    assert "wrote task/karmagen_prompts.yaml; run each model with:" in result.stdout
    assert "--include_path task --tasks karmagen_prompts --log_samples" in result.stdout
    assert sorted(p.name for p in (tmp_path / "task").iterdir() if p.name[0] != ".") == [
        "karmagen_prompts.yaml",
        "karmagen_prompts_docs.py",
    ]
    cfg = read_task(tmp_path / "task" / "karmagen_prompts.yaml")
    assert cfg["task"] == "karmagen_prompts"
    assert cfg["process_docs"] == "!function karmagen_prompts_docs.process_docs"
    assert cfg["dataset_path"] == "json"
    assert cfg["dataset_kwargs"] == {"data_files": {"train": str(PROMPTS.resolve())}}
    digest = hashlib.sha256(PROMPTS.read_bytes()).hexdigest()
    assert cfg["metadata"] == {
        "version": 1.0,
        "prompt_set": str(PROMPTS.resolve()),
        "column": "text",
        "sha256": digest,
        "prompts": 20,
    }
    shipped = read_task(shipped_dir() / "karmagen.yaml")
    for key in ("generation_kwargs", "metric_list", "doc_to_text", "num_fewshot"):
        assert cfg[key] == shipped[key], key
    module = (tmp_path / "task" / "karmagen_prompts_docs.py").read_text("utf-8")
    assert 'COLUMN = "text"' in module and 'SOURCE = "prompts.jsonl"' in module


def test_responses_task_for_parquet_and_hub_ids(tmp_path):
    rows = [json.loads(line) for line in PROMPTS.read_text("utf-8").splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "prompts.parquet")
    result = karma_build(
        "responses-task", "--dataset", "prompts.parquet", "--column", "text", "--out", "p",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cfg = read_task(tmp_path / "p" / "karmagen_prompts.yaml")
    assert cfg["dataset_path"] == "parquet"
    pinned = karma_build(
        "responses-task", "--dataset", "HuggingFaceH4/ultrachat_200k", "--column", "prompt",
        "--split", "test_sft", "--revision", "a" * 40, "--out", "h", cwd=tmp_path,
    )  # fmt: skip
    assert pinned.returncode == 0 and pinned.stderr == "", pinned.stderr
    cfg = read_task(tmp_path / "h" / "karmagen_ultrachat_200k.yaml")
    assert cfg["dataset_path"] == "HuggingFaceH4/ultrachat_200k"
    assert cfg["dataset_kwargs"] == {"revision": "a" * 40}
    assert cfg["test_split"] == "test_sft"
    unpinned = karma_build(
        "responses-task", "--dataset", "org/prompts", "--column", "q", "--subset", "en",
        "--out", "u", cwd=tmp_path,
    )  # fmt: skip
    assert unpinned.returncode == 0
    assert unpinned.stderr.startswith("karma-build: warning: org/prompts is not pinned")
    cfg = read_task(tmp_path / "u" / "karmagen_prompts.yaml")
    assert cfg["dataset_name"] == "en" and "dataset_kwargs" not in cfg
    default = karma_build("responses-task", "--out", "uf", cwd=tmp_path)
    assert default.returncode == 0 and default.stderr == ""
    made = read_task(tmp_path / "uf" / "karmagen_ultrafeedback.yaml")
    shipped = read_task(shipped_dir() / "karmagen.yaml")
    assert made["task"] == "karmagen_ultrafeedback"
    assert made["process_docs"] == "!function karmagen_ultrafeedback_docs.process_docs"
    same = ("task", "process_docs")
    assert {k: v for k, v in made.items() if k not in same} == {
        k: v for k, v in shipped.items() if k not in same
    }
    # --task names it; a karma_ name (the glob trap) or a name `pool` cannot find is refused.
    named = karma_build("responses-task", "--task", "karmagen_uf2", "--out", "n", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert read_task(tmp_path / "n" / "karmagen_uf2.yaml")["task"] == "karmagen_uf2"
    before = snapshot(tmp_path)
    for name, fragment in (
        ("karma_uf", "no Stage-0 task may start with karma_"),
        ("uf", "expected karmagen_<name>"),
        ("karmagen", "expected karmagen_<name>"),
        ("karmagen_a-b", "expected karmagen_<name>"),
    ):
        refused = karma_build("responses-task", "--task", name, "--out", "x", cwd=tmp_path)
        assert_fails(refused, 2, fragment)
        assert snapshot(tmp_path) == before


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rows", "args", "fragment"),
    [
        ([{"text": "a"}], ["--column", "prompt"], "has no column 'prompt' (it has: text)"),
        ([{"text": 1}, {"text": 2}], [], "row 1 of column 'text' is int, not text"),
        ([{"text": "a"}, {"text": None}], [], "row 2 of column 'text' is null, not text"),
        ([{"text": "Hello  world"}, {"text": "Hello world"}], [], "differ only in whitespace"),
        ([{"text": "a"}], ["--revision", "main"], "apply to Hub datasets, not local files"),
    ],
    ids=["no-column", "not-text", "null", "whitespace", "revision"],
)
def test_responses_task_refuses_bad_prompt_sets(tmp_path, rows, args, fragment):
    _write(tmp_path / "p.jsonl", rows)
    before = snapshot(tmp_path)
    column = [] if "--column" in args else ["--column", "text"]
    result = karma_build(
        "responses-task", "--dataset", "p.jsonl", *column, *args, "--out", "t", cwd=tmp_path
    )
    assert_fails(result, 2, fragment)
    assert snapshot(tmp_path) == before


def test_responses_task_refuses_missing_files_and_existing_folders(tmp_path):
    (tmp_path / "p.csv").write_text("text\nhi\n", encoding="utf-8")
    before = snapshot(tmp_path)
    (tmp_path / "folder").mkdir()
    before = snapshot(tmp_path)
    for dataset, fragment in (
        ("./missing.jsonl", "prompt file './missing.jsonl' not found"),
        ("p.csv", "expected .jsonl, .json or .parquet"),
        ("folder", "is a folder: name the file in it"),
    ):
        result = karma_build("responses-task", "--dataset", dataset, "--out", "t", cwd=tmp_path)
        assert_fails(result, 2, fragment)
        assert snapshot(tmp_path) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine", encoding="utf-8")
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        result = karma_build("responses-task", "--out", "mine", *extra, cwd=tmp_path)
        assert_fails(result, 2, "output folder 'mine'")
        assert snapshot(tmp_path) == before
    assert karma_build("responses-task", "--out", "t", cwd=tmp_path).returncode == 0
    assert_fails(karma_build("responses-task", "--out", "t", cwd=tmp_path), 2, "--overwrite")
    assert karma_build("responses-task", "--out", "t", "--overwrite", cwd=tmp_path).returncode == 0


def test_responses_task_warns_about_repeated_and_blank_prompts(tmp_path):
    _write(tmp_path / "p.jsonl", [{"text": "a"}, {"text": "a"}, {"text": "  "}, {"text": "b"}])
    result = karma_build(
        "responses-task", "--dataset", "p.jsonl", "--column", "text", "--out", "t", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "warning: 1 prompt repeats an earlier one" in result.stderr
    assert "warning: 1 prompt is empty or whitespace" in result.stderr
    assert "4 prompts from p.jsonl" in result.stdout
    rows = [{"text": "a"}] * 3 + [{"text": " "}] * 2
    _write(tmp_path / "q.jsonl", rows)
    result = karma_build(
        "responses-task", "--dataset", "q.jsonl", "--column", "text", "--out", "u/", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "warning: 3 prompts repeat an earlier one" in result.stderr
    assert "warning: 2 prompts are empty or whitespace" in result.stderr
    assert "wrote u/karmagen_q.yaml;" in result.stdout  # one slash, whatever --out ends in


# --- real generation through lm-eval's hf backend, with each model's chat template ----------


SENTENCES = {"llama31": "The answer is (A)", "qwen25": "The answer is (C)"}


@pytest.fixture(scope="module")
def hf_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf0")
    made = karma_build(
        "responses-task", "--dataset", PROMPTS, "--column", "text", "--out", "task", cwd=root
    )
    assert made.returncode == 0, made.stderr
    models = {}
    for family, sentence in SENTENCES.items():
        models[family] = build_scripted_model(family, root / f"tiny-{family}", sentence)
        out = subprocess.run(
            [
                sys.executable, str(TESTS / "lmeval_launcher.py"), "--model", "hf",
                "--model_args", f"pretrained={models[family]},dtype=float32",
                "--device", "cpu", "--tasks", "karmagen_prompts", "--include_path", "task",
                "--apply_chat_template", "--limit", "4", "--batch_size", "4",
                "--gen_kwargs", "max_gen_toks=16", "--output_path", "runs", "--log_samples",
            ],
            capture_output=True, text=True, env=offline_env(), timeout=900, cwd=root,
        )  # fmt: skip
        assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-4000:])
    return root, models


def test_hf_backend_sends_the_instruction_as_the_whole_user_turn(hf_runs):
    from transformers import AutoTokenizer

    root, models = hf_runs
    prompts = [json.loads(line)["text"] for line in PROMPTS.read_text("utf-8").splitlines()]
    for family, model in models.items():
        (samples,) = root.glob(f"runs/*tiny-{family}/samples_karmagen_prompts_*.jsonl")
        lines = [json.loads(line) for line in samples.read_text("utf-8").splitlines()]
        assert [s["doc"]["instruction"] for s in lines] == prompts[:4]
        tokenizer = AutoTokenizer.from_pretrained(model)
        for sample in lines:
            sent = sample["arguments"]["gen_args_0"]
            expected = tokenizer.apply_chat_template(
                [{"role": "user", "content": sample["doc"]["instruction"]}],
                tokenize=False,
                add_generation_prompt=True,
            )
            assert sent["arg_0"] == expected
            assert sent["arg_1"]["max_gen_toks"] == 16 and sent["arg_1"]["do_sample"] is False
            assert sample["resps"] == [[SENTENCES[family]]]


def test_hf_runs_become_a_pool(hf_runs, tmp_path):
    root, models = hf_runs
    # by the model lm-eval recorded: the local path given as pretrained=
    args = [f"--name={m}={m.name}" for m in models.values()]
    result = karma_build("pool", root / "runs", *args, "-o", "pool.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = pq.read_table(tmp_path / "pool.parquet").to_pylist()
    assert len(rows) == 4
    for row in rows:
        assert row["models"] == ["tiny-llama31", "tiny-qwen25"]
        assert [c["response"] for c in row["completions"]] == list(SENTENCES.values())
