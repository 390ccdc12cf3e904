"""The small Stage 1 group `karmalite`: the karma_* tasks on the documents of karmalite_ids.json.

Through lm-eval's real TaskManager and CLI, on data at the benchmarks' full documented sizes
(tests/karmalite_fixtures.py): the selection, the refusal of data of another size, prompts and
scores identical to the full tasks' on the same documents, a scripted and a tiny-Llama run, and
`karma-build scores` on the results. Marked `lmeval`: CI runs it under lm-eval 0.4.11 and 0.4.13.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from karmalite_fixtures import (
    LITE,
    derived_lite_tasks,
    full_size_data,
    marker,
    shipped_ids,
)
from lmeval_helpers import (
    DATA,
    LEAVES,
    derived_task,
    offline_env,
    punkt_env,
    shipped_dir,
)
from test_lmeval_tasks import ANSWERS, read_yaml_text
from tiny_models import tiny_llama31  # noqa: F401  (pytest fixture)

from karma_plugin.cli import main
from karma_plugin.core.score_table import read_scores

pytestmark = pytest.mark.lmeval

TESTS = Path(__file__).parent
ROOT = TESTS.parent
BENCHES = [task.removeprefix("karmalite_") for task in LITE]
FULL_ITEMS = 29_316


def _selected(spec: dict) -> int:
    if "strata" in spec:
        return sum(len(s["ids"]) for s in spec["strata"].values())
    return len(spec["ids"])


# --- shipped files --------------------------------------------------------------------------


def test_karmalite_tasks_inherit_everything_but_the_documents():
    folder = shipped_dir()
    for task in LITE:
        cfg = read_yaml_text(folder / f"{task}.yaml")
        bench = task.removeprefix("karmalite_")
        # Our own full task, nothing copied: only the name, its alias and the documents differ.
        assert cfg == {
            "include": f"karma_{bench}.yaml",
            "task": task,
            "task_alias": cfg["task_alias"],
            "process_docs": f"karmalite_utils.process_{bench}",
        }
    group = read_yaml_text(folder / "karmalite.yaml")
    full = read_yaml_text(folder / "karma.yaml")
    assert group["group"] == "karmalite" and group["task"] == list(LITE)
    assert group["aggregate_metric_list"] == full["aggregate_metric_list"]


def test_globs_keep_the_groups_apart():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(shipped_dir()), include_defaults=False)
    assert sorted(manager.match_tasks(["karmalite_*"])) == sorted(LITE)
    assert manager.match_tasks(["karmalite"]) == ["karmalite"]
    full = manager.match_tasks(["karma_*"])
    assert set(LEAVES) <= set(full)
    assert not [name for name in full if name.startswith("karmalite")]


def test_id_list_is_what_the_script_makes(tmp_path):
    shipped = shipped_dir() / "karmalite_ids.json"
    doc = json.loads(shipped.read_text(encoding="utf-8"))
    # The recorded command, run again, writes the same bytes.
    args = doc["command"].split()[2:]
    out = tmp_path / "ids.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_karmalite_ids.py"), *args, "--out", out],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == shipped.read_bytes()
    benches = doc["benchmarks"]
    assert list(benches) == BENCHES
    assert doc["documents"] == sum(b["documents"] for b in benches.values()) == FULL_ITEMS
    assert doc["items"] == sum(_selected(b) for b in benches.values())
    assert doc["items"] * 5 <= FULL_ITEMS  # at least 5x fewer items than the full group
    assert benches["ifeval"]["draw"] == "all" and benches["ifeval"]["ids"] == list(range(541))
    for bench, spec in benches.items():
        assert _selected(spec) == spec["items"], bench
        for ids, size in (
            [(s["ids"], s["documents"]) for s in spec["strata"].values()]
            if "strata" in spec
            else [(spec["ids"], spec["documents"])]
        ):
            assert ids == sorted(set(ids)) and all(0 <= i < size for i in ids), bench
    # Stratified: every stratum gets its share, within one item of proportional.
    for bench in ("mmlu_stem", "mmlu_pro"):
        spec = benches[bench]
        for name, stratum in spec["strata"].items():
            share = spec["items"] * stratum["documents"] / spec["documents"]
            assert abs(len(stratum["ids"]) - share) < 1, (bench, name)


def test_smaller_draws_are_nested_and_sizes_are_a_parameter(tmp_path):
    script = str(ROOT / "scripts" / "make_karmalite_ids.py")
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    for items, out in ((250, small), (1000, large)):
        subprocess.run(
            [sys.executable, script, "--items", str(items), "--items", "ifeval=300", "--out", out],
            check=True,
            capture_output=True,
        )
    a = json.loads(small.read_text())["benchmarks"]
    b = json.loads(large.read_text())["benchmarks"]
    assert a["ifeval"]["items"] == 300 and a["hellaswag"]["items"] == 250
    assert b["arc_challenge"]["items"] == 1000 and b["arc_easy"]["draw"] == "seeded"
    assert set(a["hellaswag"]["ids"]) < set(b["hellaswag"]["ids"])
    assert set(a["mmlu_pro"]["strata"]["law"]["ids"]) <= set(b["mmlu_pro"]["strata"]["law"]["ids"])
    shipped = shipped_ids()["benchmarks"]
    assert set(a["arc_easy"]["ids"]) < set(shipped["arc_easy"]["ids"])


# --- through lm-eval's TaskManager ------------------------------------------------------------


def _load(include: Path, names: list[str]) -> dict:
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False)
    load = getattr(manager, "load", None) or manager.load_task_or_group
    loaded = load(names)

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, ConfigurableTask):
            yield node

    return {t.config.task: t for t in walk(loaded)}


@pytest.fixture(scope="module")
def lite_tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("karmalite")
    data = full_size_data(root / "data")
    env = punkt_env(root / "nltk")
    return derived_lite_tasks(root / "tasks", data, root / "cache"), env


@pytest.fixture
def offline_punkt(lite_tasks, monkeypatch):
    _, env = lite_tasks
    monkeypatch.setenv("NLTK_DATA", env["NLTK_DATA"])
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import nltk

    monkeypatch.setattr(nltk.data, "path", [env["NLTK_DATA"], *nltk.data.path])


def test_the_small_task_is_the_full_one_on_fewer_documents(lite_tasks, offline_punkt):
    # Through lm-eval's TaskManager, on the smallest benchmark (the others are checked on the
    # end-to-end run's samples below: loading them costs seconds each).
    include, _ = lite_tasks
    spec = shipped_ids()["benchmarks"]["arc_challenge"]
    tasks = _load(include, ["karmalite_arc_challenge", "karma_arc_challenge"])
    lite, full = tasks["karmalite_arc_challenge"], tasks["karma_arc_challenge"]
    docs, full_docs = list(lite.eval_docs), list(full.eval_docs)
    assert len(full_docs) == spec["documents"] and len(docs) == spec["items"]
    assert [marker(d["question"])[0] for d in docs] == spec["ids"]
    assert [d["karma_doc_id"] for d in docs] == spec["ids"]
    for doc in docs:
        twin = full_docs[doc["karma_doc_id"]]
        assert lite.doc_to_text(doc) == full.doc_to_text(twin)
        assert lite.doc_to_target(doc) == full.doc_to_target(twin)
    skip = {"task", "task_alias", "process_docs", "dataset_kwargs"}
    lite_cfg = {k: _plain(v) for k, v in lite.config.to_dict().items() if k not in skip}
    full_cfg = {k: _plain(v) for k, v in full.config.to_dict().items() if k not in skip}
    assert lite_cfg == full_cfg  # prompt, filters, scorer, generation settings, metrics


def _plain(value):
    """A config value with each function as its source file and name (each task loads its
    own copy of utils.py, so the function objects differ)."""
    if callable(value) and hasattr(value, "__code__"):
        return f"{value.__code__.co_filename}:{value.__qualname__}"
    if isinstance(value, dict):
        # fewshot_config carries process_docs too (0.4.11); 0.4.13's metadata the YAML's path.
        own = ("process_docs", "config_source")
        return {k: _plain(v) for k, v in value.items() if k not in own}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_data_of_another_size_is_refused(tmp_path, offline_punkt):
    # The hand-made fixtures (2 to 5 documents): the ids would pick other items.
    for task in LITE:
        bench = task.removeprefix("karmalite_")
        fixture, split = DATA[f"karma_{bench}"]
        derived = derived_task(task, fixture, split)
        (tmp_path / f"{task}.yaml").write_text(json.dumps(derived), encoding="utf-8")
    for task in ("karmalite_arc_challenge", "karmalite_mmlu_pro"):
        with pytest.raises(ValueError, match=rf"{task}: the data has \d+ documents, but"):
            list(_load(tmp_path, [task])[task].eval_docs)


def test_a_stratum_of_another_size_is_refused(tmp_path):
    # Unit level: the loader's own check, on a list whose strata do not add up.
    import importlib.util

    spec = importlib.util.spec_from_file_location("klu", shipped_dir() / "karmalite_utils.py")
    klu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(klu)
    ids = shipped_ids()["benchmarks"]["mmlu_pro"]
    values = [name for name, s in ids["strata"].items() for _ in range(s["documents"])]
    assert len(klu.positions(values, ids, "mmlu_pro")) == ids["items"]
    values[0] = values[-1]  # one biology item becomes a psychology one
    with pytest.raises(ValueError, match="its category 'biology' has 716 documents"):
        klu.positions(values, ids, "mmlu_pro")


# --- end to end through the real lm_eval CLI ------------------------------------------------


def _run(args: list[str], env: dict[str, str], cwd: Path) -> Path:
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=offline_env(env),
        timeout=900,
        cwd=cwd,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-5000:])
    (results,) = (cwd / "results").rglob("results_*.json")
    return results


@pytest.fixture(scope="module")
def scripted_lite(lite_tasks, tmp_path_factory):
    include, env = lite_tasks
    root = tmp_path_factory.mktemp("scripted-lite")
    answers = root / "answers.json"
    answers.write_text(json.dumps(ANSWERS), encoding="utf-8")
    return _run(
        [
            str(TESTS / "lmeval_launcher.py"),
            "--model",
            "karma-scripted",
            "--model_args",
            f"answers={answers},pretrained=scripted-lite",
            "--tasks",
            "karmalite",
            "--include_path",
            str(include),
            "--output_path",
            str(root / "results"),
            "--log_samples",
        ],
        env,
        root,
    )


def _doc_ids(spec: dict) -> list[int]:
    """The full task's doc_ids of the listed documents, from the fixture's construction."""
    if "strata" not in spec:
        return spec["ids"]
    # full_size_rows interleaves the strata: recompute each (stratum, rank)'s position.
    from karmalite_fixtures import interleaved

    wanted = {n: set(s["ids"]) for n, s in spec["strata"].items()}
    slots = interleaved({n: s["documents"] for n, s in spec["strata"].items()})
    return [pos for pos, (name, rank) in enumerate(slots) if rank in wanted[name]]


def _full_prompts(bench: str, docs: list[dict]) -> list[str]:
    """The karma_* task's prompts for documents: its own process_docs and doc_to_text on the
    documents' source fields (what the dataset rows held)."""
    import datasets
    from test_lmeval_tasks import load_utils

    if bench == "ifeval":
        return [doc["prompt"] for doc in docs]
    utils = load_utils()
    raw = [
        {k: v for k, v in d.items() if not k.startswith("mc_") and k != "karma_doc_id"}
        for d in docs
    ]
    process = getattr(utils, "process_arc" if bench.startswith("arc") else f"process_{bench}")
    return [utils.doc_to_text(doc) for doc in process(datasets.Dataset.from_list(raw))]


def _full_generation_kwargs(bench: str) -> dict:
    """The karma_* task's generation settings, from its YAML (or the shared template)."""
    own = read_yaml_text(shipped_dir() / f"karma_{bench}.yaml")
    template = read_yaml_text(shipped_dir() / "_karma_template_yaml")
    return dict(own.get("generation_kwargs") or template["generation_kwargs"])


def _samples(results: Path, task: str) -> list[dict]:
    (path,) = results.parent.glob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# Each run loads all six tasks on data of full size (29,316 documents through the tasks'
# process_docs) in an lm_eval process of its own: tens of seconds on two cores.
@pytest.mark.slow
def test_scripted_run_scores_the_listed_documents(scripted_lite):
    doc = json.loads(scripted_lite.read_text(encoding="utf-8"))
    ids = shipped_ids()["benchmarks"]
    for bench in BENCHES:
        task = f"karmalite_{bench}"
        assert doc["n-samples"][task]["effective"] == ids[bench]["items"]
        metric, filter_name = (
            ("prompt_level_strict_acc", "none")
            if bench == "ifeval"
            else ("exact_match", "answer-is")
        )
        samples = [s for s in _samples(scripted_lite, task) if s["filter"] == filter_name]
        assert sorted(s["doc"]["karma_doc_id"] for s in samples) == _doc_ids(ids[bench])
        field = {"ifeval": "prompt", "hellaswag": "ctx_a"}.get(bench, "question")
        for sample in samples:
            position, stratum, rank = marker(sample["doc"][field])
            assert position == sample["doc"]["karma_doc_id"], task
            if stratum is not None:
                assert rank in ids[bench]["strata"][stratum]["ids"], task
        # The prompts and generation settings are the full task's for those documents.
        args = [s["arguments"]["gen_args_0"] for s in samples]
        assert [a["arg_0"] for a in args] == _full_prompts(bench, [s["doc"] for s in samples])
        settings = _full_generation_kwargs(bench)
        assert all(a["arg_1"] == settings for a in args), task
        mean = sum(float(s[metric]) for s in samples) / len(samples)
        assert doc["results"][task][f"{metric},{filter_name}"] == pytest.approx(mean)
    # The documents cycle through the hand-made rows, whose answers differ: a score strictly
    # between 0 and 1 shows the filters and scorers ran on them.
    assert 0 < doc["results"]["karmalite_arc_easy"]["exact_match,answer-is"] < 1
    assert 0 < doc["results"]["karmalite"]["exact_match,answer-is"] < 1


@pytest.fixture(scope="module")
def hf_lite(lite_tasks, tiny_llama31, tmp_path_factory):  # noqa: F811
    include, env = lite_tasks
    root = tmp_path_factory.mktemp("hf-lite")
    return _run(
        [
            "-m",
            "lm_eval",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={tiny_llama31},dtype=float32",
            "--device",
            "cpu",
            "--tasks",
            "karmalite_*",
            "--include_path",
            str(include),
            "--limit",
            "2",
            "--batch_size",
            "2",
            "--gen_kwargs",
            "max_gen_toks=8",
            "--output_path",
            str(root / "results"),
        ],
        env,
        root,
    )


@pytest.mark.slow
def test_tiny_llama_runs_the_small_group_and_scores_reads_both(
    scripted_lite, hf_lite, tmp_path, runner
):
    doc = json.loads(hf_lite.read_text(encoding="utf-8"))
    assert set(doc["results"]) == set(LITE)
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        main,
        [
            "scores",
            str(scripted_lite.parent),
            str(hf_lite.parent.parent),
            "-o",
            str(out),
            "--name",
            f"{hf_lite.parent.name}=tiny-llama",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_scores(out)
    assert table.models == ("scripted-lite", "tiny-llama")
    assert table.benchmarks == tuple(BENCHES)
    lite = json.loads(scripted_lite.read_text(encoding="utf-8"))["results"]
    row = dict(zip(table.benchmarks, table.values[0], strict=True))
    assert row["arc_easy"] == pytest.approx(lite["karmalite_arc_easy"]["exact_match,answer-is"])
    # The shipped sizes against --limit 2: no one n per benchmark, so no n_items row, and a warning.
    assert table.n_items is None
    assert "scored on different numbers of items for ifeval, mmlu_stem" in result.stderr


@pytest.mark.slow
def test_scores_record_the_item_counts_and_bootstrap_uses_them(scripted_lite, tmp_path, runner):
    # A second model: the scripted run's file under another name, every score lower.
    doc = json.loads(scripted_lite.read_text(encoding="utf-8"))
    doc["config"]["model_args"] = "pretrained=scripted-lite-2"
    doc.pop("model_name", None)
    for entry in doc["results"].values():
        for key, value in list(entry.items()):
            if "," in key and "_stderr" not in key and isinstance(value, float):
                entry[key] = value * 0.8
    other = tmp_path / "other" / scripted_lite.name
    other.parent.mkdir()
    other.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = runner.invoke(main, ["scores", str(scripted_lite), str(other), "-o", str(out)])
    assert result.exit_code == 0, result.output
    ids = shipped_ids()["benchmarks"]
    table = read_scores(out)
    assert table.models == ("scripted-lite", "scripted-lite-2")
    assert table.n_items == {bench: ids[bench]["items"] for bench in BENCHES}
    counts = ",".join(str(ids[bench]["items"]) for bench in BENCHES)
    assert out.read_text(encoding="utf-8").splitlines()[-1].startswith(f"n_items,{counts}")
    kin = tmp_path / "kinship.json"
    result = runner.invoke(
        main, ["kinship", "--scores", str(out), "--bootstrap", "20", "--json", str(kin)]
    )
    assert result.exit_code == 0, result.output
    noise = json.loads(kin.read_text(encoding="utf-8"))["uncertainty"]
    assert noise["items"] == {bench: ids[bench]["items"] for bench in BENCHES}


@pytest.mark.slow
def test_karmalite_samples_serve_sample_kinship_and_the_item_bootstrap(
    scripted_lite, tmp_path, runner
):
    # The scripted run and a copy of it under another model name (the same answers).
    other = tmp_path / "other" / scripted_lite.parent.name
    shutil.copytree(scripted_lite.parent, other)
    for results in other.glob("results_*.json"):
        doc = json.loads(results.read_text(encoding="utf-8"))
        doc["config"]["model_args"] = "pretrained=scripted-lite-2"
        doc.pop("model_name", None)
        for entry in doc["results"].values():  # other scores, the same per-item answers
            for key, value in list(entry.items()):
                if "," in key and "_stderr" not in key and isinstance(value, float):
                    entry[key] = value * 0.8
        results.write_text(json.dumps(doc), encoding="utf-8")
    scores = tmp_path / "scores.csv"
    runs = [str(scripted_lite.parent), str(other)]
    made = runner.invoke(main, ["scores", *runs, "-o", str(scores)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "kinship.json"
    args = ["kinship", "--scores", str(scores), "--json", str(out)]
    for run in runs:
        args += ["--samples", run]
    result = runner.invoke(main, [*args, "--metric", "ec"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kinship_metric"] == "ec"
    assert doc["kinship"]["scripted-lite"]["scripted-lite-2"] == pytest.approx(1.0)
    result = runner.invoke(main, [*args, "--metric", "cosine", "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    noise = json.loads(out.read_text(encoding="utf-8"))["uncertainty"]
    assert noise["method"] == "item_bootstrap"
    ids = shipped_ids()["benchmarks"]
    assert noise["items"] == {b: ids[b]["items"] for b in BENCHES}
