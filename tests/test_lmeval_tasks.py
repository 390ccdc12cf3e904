"""The karma_* lm-eval tasks: discovery, prompts from fixtures in the real Hub schemas, answer
extraction, and end-to-end runs through the real lm_eval CLI (a scripted model with canned
answers, and a tiny random-weight Llama through lm-eval's `hf` backend).

Marked `lmeval`: CI runs this file under lm-eval 0.4.11 and 0.4.13.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lmeval_helpers import LEAVES, derived_tasks, offline_env, punkt_env, shipped_dir
from tiny_models import tiny_llama31  # noqa: F401  (pytest fixture)

from karma_plugin.cli import main
from karma_plugin.core.score_table import read_scores
from karma_plugin.lmeval.wrapper import tasks_dir, with_include_path

pytestmark = pytest.mark.lmeval

TESTS = Path(__file__).parent
ANSWERS = {
    "field extension Q(sqrt(2))": "The degree is 2, so the answer is (B).",
    # The LAST stated answer counts.
    "uniform rod of mass M": "I first thought the answer is (A). Wait, no. The answer is (D).",
    # No "answer is": only the fallback filter finds the bare final letter.
    "minimised by logistic regression": "Logistic regression minimises cross-entropy.\nD",
    "adverts must not encourage": "Unsafe practices. The answer is (I).",
    "2 + 2 in base 10": "2 + 2 = 4. The answer is (B)",
    "Which organ produces insulin": "The kidney, I think. The answer is B.",
    "Roof shingle removal": "He removes roofing. The answer is (D).",
    "How to clean a kettle": "No idea what comes next.",
    "rotates faster after a meteorite": "Shorter days. The answer is (C).",
    # Only A-C exist for this item: E is not an answer.
    "Which object is magnetic": "Iron is magnetic. The answer is (E).",
    # Numeric answer key "3" -> C.
    "mass of a pencil": "Grams. The answer is (C).",
    "warm his hands quickly": "Dry palms. The answer is (A).",
    "moves water from the ground": "Water evaporates. The answer is (A).",
    "about the sea without using any commas": "The sea is wide and blue and calm.",
    "Describe a cat in exactly 3 sentences": "A cat is small. It likes milk. It sleeps a lot.",
    "List two fruits as a markdown bullet list": "* apple\n* pear\n* plum",
}
# task -> {metric key: expected value}, derived by hand from ANSWERS and the fixtures.
EXPECTED = {
    "karma_mmlu_stem": {
        "exact_match,answer-is": 2 / 3,
        "invalid,answer-is": 1 / 3,
        "exact_match,final-letter": 1.0,
        "invalid,final-letter": 0.0,
    },
    "karma_mmlu_pro": {"exact_match,answer-is": 2 / 3, "invalid,answer-is": 0.0},
    "karma_hellaswag": {"exact_match,answer-is": 0.5, "invalid,answer-is": 0.5},
    "karma_arc_easy": {"exact_match,answer-is": 2 / 3, "invalid,answer-is": 1 / 3},
    "karma_arc_challenge": {"exact_match,answer-is": 0.5, "invalid,answer-is": 0.0},
    # lm-eval's IFEval rules: no_comma kept; lowercase broken; 3 bullets instead of 2.
    "karma_ifeval": {
        "prompt_level_strict_acc,none": 1 / 3,
        "inst_level_strict_acc,none": 2 / 4,
    },
}
DOC_COUNTS = {
    "karma_ifeval": 3,
    "karma_mmlu_stem": 3,  # 3 STEM rows of 5 in the `all` fixture
    "karma_mmlu_pro": 3,
    "karma_hellaswag": 2,
    "karma_arc_easy": 3,
    "karma_arc_challenge": 2,
}


def load_utils():
    spec = importlib.util.spec_from_file_location("karma_task_utils", shipped_dir() / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- shipped files --------------------------------------------------------------------------


def test_shipped_yaml_rules():
    folder = shipped_dir()
    yamls = {p.stem: read_yaml_text(p) for p in folder.glob("*.yaml")}
    # karmagen is Stage 0 (tests/test_responses_task.py), not a benchmark.
    assert {*LEAVES, "karma", "karmagen"} <= set(yamls)
    assert "karma_responses" not in yamls  # renamed: the glob karma_* matched it
    for leaf in LEAVES:
        cfg = yamls[leaf]
        assert cfg["task"] == leaf
        assert "group" not in cfg and "tag" not in cfg
        # Only our own template, never a built-in task.
        assert cfg.get("include") in (None, "_karma_template_yaml")
        assert cfg["dataset_kwargs"]["revision"]
    group = yamls["karma"]
    assert group["group"] == "karma" and group["task"] == list(LEAVES)
    (agg,) = group["aggregate_metric_list"]
    assert agg["weight_by_size"] is False and agg["filter_list"] == ["answer-is"]
    assert (folder / "_karma_template_yaml").is_file()


def read_yaml_text(path: Path) -> dict:
    # !function tags are lm-eval's; a plain safe_load only needs to skip them.
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)


def test_the_glob_karma_star_selects_exactly_the_six_stage_1_tasks():
    """`lm_eval --tasks 'karma_*'` is Stage 1: the six leaves, nothing of lm-eval's own tasks,
    not Stage 0 (`karmagen`, once `karma_responses`), no group. lm-eval's real TaskManager with
    its own tasks indexed, as the CLI builds it."""
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=tasks_dir())  # include_defaults: lm-eval's own too
    assert len(manager.all_tasks) > 1000  # lm-eval's tasks were indexed
    assert sorted(manager.match_tasks(["karma_*"])) == sorted(LEAVES)
    assert manager.match_tasks(["karma"]) == ["karma"]
    assert manager.match_tasks(["karmagen"]) == ["karmagen"]
    assert "karma_responses" not in manager.all_tasks


def test_tasks_path_command_and_wrapper_argv(runner):
    result = runner.invoke(main, ["tasks-path"])
    assert result.exit_code == 0
    folder = Path(result.stdout.strip())
    assert (folder / "karma.yaml").is_file() and (folder / "utils.py").is_file()
    assert with_include_path(["--tasks", "karma_*"]) == [
        "--tasks",
        "karma_*",
        "--include_path",
        str(folder),
    ]
    assert with_include_path(["--include_path", "/x", "--tasks", "k"]) == [
        "--include_path",
        "/x",
        "--tasks",
        "k",
    ]
    assert with_include_path(["--include_path=/x"]) == ["--include_path=/x"]


def _wrapper(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    """The real `karma-lm-eval` (its entry point, in a subprocess), offline."""
    return subprocess.run(
        [sys.executable, "-m", "karma_plugin.lmeval.wrapper", *args],
        capture_output=True,
        text=True,
        env=offline_env(env),
        timeout=timeout,
        cwd=cwd,
    )


# The small group's leaves: karmalite_<benchmark> for each full karma_<benchmark>.
LITE = [leaf.replace("karma_", "karmalite_", 1) for leaf in LEAVES]


def _listed(stdout: str) -> set[str]:
    """The names in the first column of lm-eval's Markdown listing tables."""
    rows = (line.split("|") for line in stdout.splitlines() if line.startswith("|"))
    names = {cells[1].strip() for cells in rows if len(cells) > 2}
    return names - {"Group", "Tag", "Task"} - {n for n in names if set(n) <= {"-"}}


def test_wrapper_lists_the_karma_tasks_only(tmp_path):
    # `--tasks list` is lm-eval's old spelling: 0.4.13 itself fails on it ("Tasks not found:
    # list"); lm-eval's own listing is 14,705 tasks after 40 s of indexing.
    for listing in (["ls", "tasks"], ["--tasks", "list"], ["--tasks=list", "--model", "dummy"]):
        out = _wrapper(listing, tmp_path)
        assert out.returncode == 0, (listing, out.stderr[-2000:])
        assert "Traceback" not in out.stderr
        assert _listed(out.stdout) == {*LEAVES, *LITE, "karma", "karmalite", "karmagen"}, listing
        assert "ls tasks --all" in out.stderr  # how to list lm-eval's own as well
    groups = _wrapper(["ls", "groups"], tmp_path)
    assert groups.returncode == 0 and _listed(groups.stdout) == {"karma", "karmalite"}


def test_wrapper_says_in_one_line_which_dataset_is_missing_offline(tmp_path):
    """No network, an empty cache: one line naming the task, its dataset and the way out (exit
    1), where lm-eval prints a 60 to 100-line traceback."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty-hf-home")}
    args = ["--model", "dummy", "--tasks", "karma_arc_easy", "--limit", "1"]
    out = _wrapper([*args, "--output_path", "x/"], tmp_path, env)
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    ours = [line for line in out.stderr.splitlines() if line.startswith("karma-lm-eval:")]
    assert len(ours) == 1 and ours[0] == out.stderr.splitlines()[-1], out.stderr[-3000:]
    assert ours[0].startswith(
        "karma-lm-eval: error: task karma_arc_easy needs the dataset allenai/ai2_arc (ARC-Easy) at "
    )
    for fragment in (f"not in the Hugging Face cache ({tmp_path / 'empty-hf-home'})", "HF_HOME"):
        assert fragment in ours[0]
    assert not (tmp_path / "x").exists()


# --- prompts from fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmeval")
    env = punkt_env(root / "nltk")
    return derived_tasks(root / "tasks"), env


def _load(include: Path, names: list[str]):
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False)
    # 0.4.12+ has load(); 0.4.11 only load_task_or_group() (deprecated later).
    load = getattr(manager, "load", None) or manager.load_task_or_group
    loaded = load(names)

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, ConfigurableTask):
            yield node

    return {t.config.task: t for t in walk(loaded)}


def test_every_task_builds_prompts(fixture_tasks, monkeypatch):
    include, env = fixture_tasks
    monkeypatch.setenv("NLTK_DATA", env["NLTK_DATA"])
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import nltk

    monkeypatch.setattr(nltk.data, "path", [env["NLTK_DATA"], *nltk.data.path])
    tasks = _load(include, ["karma"])
    assert set(tasks) == set(LEAVES)
    for name, task in tasks.items():
        docs = list(task.eval_docs)
        assert len(docs) == DOC_COUNTS[name], name
        for doc in docs:
            text = task.doc_to_text(doc)
            assert isinstance(text, str) and text == text.rstrip()
        # Requests carry the shipped generation settings (greedy, bounded).
        task.build_all_requests(rank=0, limit=None, world_size=1)
        gen = task.instances[0].args[1]
        assert gen["do_sample"] is False and gen["max_gen_toks"] > 0
    stem = tasks["karma_mmlu_stem"]
    stem_docs = list(stem.eval_docs)
    assert {d["subject"] for d in stem_docs} == {
        "abstract_algebra",
        "college_physics",
        "machine_learning",
    }
    prompt = stem.doc_to_text(stem_docs[0])
    assert prompt.endswith(
        "Question:\nFind the degree for the given field extension Q(sqrt(2)) over Q.\n"
        "Options:\nA. 0\nB. 2\nC. 1\nD. 3\nAnswer: Let's think step by step."
    )
    assert 'finish your answer with "The answer is (X)"' in prompt
    assert [stem.doc_to_target(d) for d in stem_docs] == ["B", "D", "D"]
    arc = list(tasks["karma_arc_easy"].eval_docs)
    assert [len(d["mc_options"]) for d in arc] == [4, 3, 5]
    assert [d["mc_answer"] for d in arc] == ["C", "B", "C"]
    assert "E. second" in tasks["karma_arc_easy"].doc_to_text(arc[2])
    assert [d["mc_answer"] for d in tasks["karma_arc_challenge"].eval_docs] == ["A", "B"]
    hella = list(tasks["karma_hellaswag"].eval_docs)
    assert hella[1]["mc_options"][0] == "Boil it and rinse it well."
    assert "[title]" not in tasks["karma_hellaswag"].doc_to_text(hella[1])
    pro = list(tasks["karma_mmlu_pro"].eval_docs)
    assert "J. Unsafe practices, Fear, Jealousy, Trivial" in tasks["karma_mmlu_pro"].doc_to_text(
        pro[0]
    )
    ifeval = tasks["karma_ifeval"]
    assert ifeval.doc_to_text(next(iter(ifeval.eval_docs))) == (
        "Write a short note about the sea without using any commas."
    )


def test_ifeval_fails_fast_without_punkt_tab(fixture_tasks, tmp_path, monkeypatch):
    include, _ = fixture_tasks
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(LookupError, match="karma_ifeval needs NLTK's 'punkt_tab'"):
        task = _load(include, ["karma_ifeval"])["karma_ifeval"]
        list(task.eval_docs)


# --- answer extraction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "letters", "headline", "fallback"),
    [
        ("The answer is (B).", "ABCD", "B", "B"),
        ("the answer is (A)... no, the answer is (C)", "ABCD", "C", "C"),
        ("So the answer is **D**", "ABCD", "D", "D"),
        ("The answer is: C", "ABCD", "C", "C"),
        ("The answer is (E).", "ABC", "[invalid]", "[invalid]"),
        ("The answer is Apple.", "ABCD", "[invalid]", "[invalid]"),
        ("Cross-entropy.\nD", "ABCD", "[invalid]", "D"),
        ("Answer: (B).", "ABCD", "[invalid]", "B"),
        ("I think it is B or maybe something", "ABCD", "[invalid]", "[invalid]"),
        ("The answer is (J)", "ABCDEFGHIJ", "J", "J"),
        ("", "ABCD", "[invalid]", "[invalid]"),
    ],
)
def test_extraction(response, letters, headline, fallback):
    utils = load_utils()
    assert utils.extract_answer_is(response, letters) == headline
    assert utils.extract_final_letter(response, letters) == fallback


def test_process_results_counts_invalid():
    utils = load_utils()
    doc = {"mc_answer": "B"}
    assert utils.process_results_mc(doc, ["B"]) == {"exact_match": 1.0, "invalid": 0.0}
    assert utils.process_results_mc(doc, ["[invalid]"]) == {"exact_match": 0.0, "invalid": 1.0}


# --- end to end through the real lm_eval CLI ------------------------------------------------


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=offline_env(env),
        timeout=900,
        cwd=cwd,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-5000:])
    return out


@pytest.fixture(scope="module")
def scripted_run(fixture_tasks, tmp_path_factory):
    include, env = fixture_tasks
    root = tmp_path_factory.mktemp("scripted")
    answers = root / "answers.json"
    answers.write_text(json.dumps(ANSWERS), encoding="utf-8")
    log = root / "prompts.jsonl"
    _run_cli(
        [
            str(TESTS / "lmeval_launcher.py"),
            "--model",
            "karma-scripted",
            "--model_args",
            f"answers={answers},pretrained=scripted-a,log={log}",
            "--tasks",
            "karma",
            "--include_path",
            str(include),
            "--output_path",
            str(root / "results"),
            "--log_samples",
        ],
        env,
        root,
    )
    (results,) = (root / "results").rglob("results_*.json")
    return results, log


def test_scripted_end_to_end_scores(scripted_run):
    results_path, log = scripted_run
    doc = json.loads(results_path.read_text(encoding="utf-8"))
    for task, metrics in EXPECTED.items():
        for key, value in metrics.items():
            assert doc["results"][task][key] == pytest.approx(value), (task, key)
    # Group: plain mean of the five multiple-choice headline scores.
    mc = [EXPECTED[t]["exact_match,answer-is"] for t in LEAVES if t != "karma_ifeval"]
    assert doc["results"]["karma"]["exact_match,answer-is"] == pytest.approx(sum(mc) / 5)
    prompts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(prompts) == sum(DOC_COUNTS.values())
    mc_gen = next(p["gen_kwargs"] for p in prompts if "Options:" in p["prompt"])
    assert mc_gen["until"] == ["Question:"] and mc_gen["do_sample"] is False
    samples = list(results_path.parent.glob("samples_karma_*.jsonl"))
    assert len(samples) == 6


def test_chat_template_prompts(fixture_tasks, tmp_path, monkeypatch):
    """--apply_chat_template: the same prompt becomes one user turn; scores are unchanged."""
    include, _ = fixture_tasks
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    sys.path.insert(0, str(TESTS))
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from scripted_lm import ScriptedLM

    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(ANSWERS), encoding="utf-8")
    log = tmp_path / "log.jsonl"
    out = simple_evaluate(
        model=ScriptedLM(answers=str(answers), log=str(log)),
        tasks=["karma_arc_easy"],
        apply_chat_template=True,
        task_manager=TaskManager(include_path=str(include), include_defaults=False),
    )
    score = out["results"]["karma_arc_easy"]["exact_match,answer-is"]
    assert score == pytest.approx(EXPECTED["karma_arc_easy"]["exact_match,answer-is"])
    prompt = json.loads(log.read_text(encoding="utf-8").splitlines()[0])["prompt"]
    assert prompt.startswith("<|user|>The following is a multiple choice question about science.")
    assert prompt.endswith("Answer: Let's think step by step.<|assistant|>")


@pytest.fixture(scope="module")
def hf_run(fixture_tasks, tiny_llama31, tmp_path_factory):  # noqa: F811
    include, env = fixture_tasks
    root = tmp_path_factory.mktemp("hf")
    _run_cli(
        [
            str(TESTS / "lmeval_launcher.py"),  # lm_eval's CLI, indexing only the tasks given
            "--model",
            "hf",
            "--model_args",
            f"pretrained={tiny_llama31},dtype=float32",
            "--device",
            "cpu",
            "--tasks",
            "karma_*",
            "--include_path",
            str(include),
            "--limit",
            "2",
            "--batch_size",
            "2",
            "--gen_kwargs",
            "max_gen_toks=12",
            "--output_path",
            str(root / "results"),
            "--log_samples",
        ],
        env,
        root,
    )
    (results,) = (root / "results").rglob("results_*.json")
    return results


def test_tiny_llama_generates_through_hf_backend(hf_run, tiny_llama31):  # noqa: F811
    doc = json.loads(hf_run.read_text(encoding="utf-8"))
    assert set(doc["results"]) == set(LEAVES)
    for task in LEAVES:
        entry = doc["results"][task]
        keys = (
            ["prompt_level_strict_acc,none", "inst_level_loose_acc,none"]
            if task == "karma_ifeval"
            else ["exact_match,answer-is", "invalid,answer-is", "exact_match,final-letter"]
        )
        for key in keys:
            assert 0.0 <= entry[key] <= 1.0, (task, key)
    samples = [
        json.loads(line)
        for line in next(hf_run.parent.glob("samples_karma_arc_easy_*.jsonl")).open()
    ]
    assert len({s["doc_id"] for s in samples}) == 2
    for sample in samples:
        generated = sample["resps"][0][0]
        assert isinstance(generated, str) and generated  # real tokens from a real generate()
        assert sample["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] == 12
        assert sample["filtered_resps"][0] in (*"ABCDE", "[invalid]")


def test_results_through_scores_and_kinship(scripted_run, hf_run, tmp_path, runner):
    scripted_results, _ = scripted_run
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        main,
        [
            "scores",
            str(scripted_results.parent),
            str(hf_run.parent.parent),
            "-o",
            str(out),
            "--name",
            f"{hf_run.parent.name}=tiny-llama",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_scores(out)
    assert table.models == ("scripted-a", "tiny-llama")
    row = dict(zip(table.benchmarks, table.values[0], strict=True))
    assert row["mmlu_stem"] == pytest.approx(2 / 3)
    assert row["ifeval"] == pytest.approx(1 / 3)
    kin = runner.invoke(main, ["kinship", "--scores", str(out)])
    assert kin.exit_code == 0, kin.output
    assert "scripted-a" in kin.output and "tiny-llama" in kin.output
