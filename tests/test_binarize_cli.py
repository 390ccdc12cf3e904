"""`karma-build binarize` end to end: the Hub-ready folder, its contract, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from karma_plugin.cli import main
from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.fs.staging import MARKER
from karma_plugin.outputs.card import SPLITS

COLUMNS = [
    "prompt_id",
    "instruction",
    "prompt",
    "chosen",
    "rejected",
    "completion",
    "messages",
    "chosen_model",
    "rejected_model",
    "chosen_s_pref",
    "rejected_s_pref",
    "kinship",
    "source",
    "score_chosen",
    "score_rejected",
]


def completion(model: str, response: str, score: float | None = 5.0, aspect: str = "4") -> dict:
    rating = {"Rating": aspect, "Rationale": "r"}
    return {
        "annotations": {
            "helpfulness": {**rating, "Rationale For Rating": "x", "Type": ["1"]},
            "honesty": dict(rating),
            "instruction_following": dict(rating),
            "truthfulness": {**rating, "Rationale For Rating": "x", "Type": ["1"]},
        },
        "critique": "c",
        "custom_system_prompt": "",
        "fine-grained_score": None if aspect == "N/A" else float(aspect),
        "model": model,
        "overall_score": score,
        "principle": "helpfulness",
        "response": response,
    }


def row(instruction: str, *completions: dict, source: str = "evol_instruct") -> dict:
    return {
        "source": source,
        "instruction": instruction,
        # `models` is deliberately reversed: completions are mapped by their own field.
        "models": [c["model"] for c in completions][::-1],
        "completions": list(completions),
        "correct_answers": [],
        "incorrect_answers": [],
    }


def run(runner, *args: str):
    return runner.invoke(main, ["binarize", *args], catch_exceptions=False)


def load(out: Path, config: str, split: str | None = None):
    # A cache per output folder: datasets keys local files by name and mtime only.
    cache = out.parent / f"hf-cache-{out.name}"
    return datasets.load_dataset(str(out), config, split=split, cache_dir=str(cache))


def read_config(out: Path, config: str) -> list[dict]:
    return load(out, config, "train_prefs").to_list()


@pytest.fixture(scope="module")
def default_out(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("default") / "out"
    result = CliRunner().invoke(main, ["binarize", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_default_run_writes_the_hub_folder(default_out: Path):
    assert (default_out / "README.md").is_file()
    doc = json.loads((default_out / "kinship.json").read_text())
    for key in (
        "models",
        "benchmarks",
        "scores",
        "normalized",
        "s_pref",
        "kinship",
        "tau",
        "excluded",
        "counts",
        "agreement",
        "versions",
        "command",
    ):
        assert key in doc
    assert set(doc["counts"]) == set(STRATEGIES)
    assert set(doc["agreement"]) == {"k_score", "k_sim", "k_score_sim"}
    assert doc["excluded"]["ultralm-65b"].startswith("missing score")
    for config in STRATEGIES:
        names = sorted(p.name for p in (default_out / config).iterdir())
        assert names == sorted(f"{s}-00000-of-00001.parquet" for s in SPLITS)


@pytest.mark.parametrize("config", STRATEGIES)
@pytest.mark.deps  # datasets / huggingface_hub read it
def test_every_config_loads_with_datasets(default_out: Path, config: str):
    ds = load(default_out, config)
    assert set(ds) == set(SPLITS)
    assert ds["train_prefs"].column_names == COLUMNS
    assert ds["train_prefs"].num_rows == ds["train_sft"].num_rows > 250
    first = ds["train_prefs"][0]
    assert first["prompt"][0]["role"] == "user"
    assert first["chosen"][0]["role"] == "assistant"
    assert first["messages"] == first["prompt"] + first["chosen"]
    assert first["completion"] == first["chosen"]
    assert ds["train_sft"][0] == first  # one schema per config: the SFT splits are the same rows
    assert first["prompt_id"] == hashlib.sha256(first["instruction"].encode()).hexdigest()


def test_messages_are_stripped_and_chosen_has_higher_s_pref(default_out: Path):
    for config in ("k_score", "k_sim", "k_score_sim"):
        for r in read_config(default_out, config):
            for message in r["prompt"] + r["chosen"] + r["rejected"]:
                assert message["content"] == message["content"].strip() != ""
            assert r["chosen_s_pref"] > r["rejected_s_pref"]
            assert r["chosen_model"] != r["rejected_model"]
            assert "ultralm-65b" not in (r["chosen_model"], r["rejected_model"])


def test_test_prompts_are_the_same_in_every_config(default_out: Path):
    seen = []
    for config in STRATEGIES:
        ids = set(load(default_out, config, "test_prefs")["prompt_id"])
        seen.append(ids)
    union = set().union(*seen)
    assert union, "the default pool should give some test prompts"
    for ids in seen:
        # A config may skip a prompt, never move one between splits.
        assert ids <= union
    train = set(load(default_out, "k_sim", "train_prefs")["prompt_id"])
    assert not train & union


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_card_header_lists_every_config_and_split(default_out: Path):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(default_out / "README.md")
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert set(configs) == set(STRATEGIES)
    assert {f["split"] for f in configs["k_sim"]["data_files"]} == set(SPLITS)


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_load_dataset_without_a_config_name_gets_k_sim(default_out: Path):
    """The card marks k_sim `default: true`: no config name needed (the H4 convention)."""
    from huggingface_hub import DatasetCard

    configs = DatasetCard.load(default_out / "README.md").data.to_dict()["configs"]
    assert [c["config_name"] for c in configs if c.get("default")] == ["k_sim"]
    unnamed = load(default_out, None)
    assert unnamed["train_prefs"].to_list() == read_config(default_out, "k_sim")
    assert json.loads((default_out / "kinship.json").read_text())["options"]["default_config"] == (
        "k_sim"
    )


def test_default_config_is_the_one_chosen(runner, tmp_path):
    out = tmp_path / "out"
    args = ("--strategy", "k_score,rlaif", "--default-config", "rlaif", "--out", str(out))
    assert run(runner, *args).exit_code == 0
    assert load(out, None, "train_prefs").to_list() == read_config(out, "rlaif")
    # Without the option and without k_sim, the first config written is the default.
    first = tmp_path / "first"
    assert run(runner, "--strategy", "rlaif,k_score", "--out", str(first)).exit_code == 0
    assert load(first, None, "train_prefs").to_list() == read_config(first, "k_score")


def test_counts_add_up(default_out: Path):
    doc = json.loads((default_out / "kinship.json").read_text())
    for config, count in doc["counts"].items():
        assert count["pairs"] + sum(count["skipped"].values()) == doc["rows"]
        assert (
            doc["splits"][config]["train_prefs"] + doc["splits"][config]["test_prefs"]
            == count["pairs"]
        )
    assert doc["dropped_completions"]["unknown_model"]["ultralm-65b"] > 0
    assert doc["dropped_completions"]["empty_response"] > 0
    assert doc["dropped_completions"]["duplicate_model"] == 1


def test_pairs_follow_the_model_field_and_the_strategies(runner, tmp_path, write_jsonl):
    pool = write_jsonl(
        [
            row(
                "Name a prime.",
                completion("pythia-12b", " seven \n", score=9),
                completion("gpt-4", "Two.", score=2),
                completion("bard", "Three.", score=6),
                completion("ultralm-65b", "Five.", score=10),
            )
        ]
    )
    out = tmp_path / "out"
    assert run(runner, "--dataset", str(pool), "--out", str(out), "--test-size", "0").exit_code == 0
    k_score = read_config(out, "k_score")[0]
    assert (k_score["chosen_model"], k_score["rejected_model"]) == ("gpt-4", "bard")
    assert k_score["chosen"][0]["content"] == "Two."
    assert k_score["score_chosen"] == 2.0 and k_score["score_rejected"] == 6.0
    # gpt-4 ~ bard is the closest pair of the three (0.99 on the authors' table).
    assert read_config(out, "k_sim")[0]["chosen_model"] == "gpt-4"
    rlaif = read_config(out, "rlaif")[0]
    # ultralm-65b (score 10) is not in the table; pythia-12b has the best rating then.
    assert rlaif["chosen_model"] == "pythia-12b"
    assert rlaif["chosen"][0]["content"] == "seven"
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["agreement"]["k_score"] == 0.0  # gpt-4 is rated below bard here


def test_rating_choice_fine_grained_and_aspects(runner, tmp_path, write_jsonl):
    pool = write_jsonl(
        [
            row(
                "Q",
                completion("gpt-4", "A", score=1, aspect="2"),
                completion("bard", "B", score=9, aspect="N/A"),
                completion("alpaca-7b", "C", score=5, aspect="5"),
            )
        ]
    )
    for rating, chosen in (("overall_score", "bard"), ("aspects", "alpaca-7b")):
        out = tmp_path / rating
        result = run(
            runner,
            "--dataset",
            str(pool),
            "--out",
            str(out),
            "--strategy",
            "rlaif",
            "--rating",
            rating,
            "--test-size",
            "0",
        )
        assert result.exit_code == 0, result.output
        assert read_config(out, "rlaif")[0]["chosen_model"] == chosen
        assert sorted(p.name for p in out.iterdir()) == [
            MARKER,
            "README.md",
            "kinship.json",
            "rlaif",
        ]


def test_exclude_source(runner, tmp_path, write_jsonl):
    rows = [
        row("Q1", completion("gpt-4", "A"), completion("bard", "B"), source="truthful_qa"),
        row("Q2", completion("gpt-4", "A"), completion("bard", "B"), source="sharegpt"),
    ]
    out = tmp_path / "out"
    result = run(
        runner,
        "--dataset",
        str(write_jsonl(rows)),
        "--out",
        str(out),
        "--exclude-source",
        "truthful_qa",
        "--strategy",
        "k_score",
        "--test-size",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert [r["source"] for r in read_config(out, "k_score")] == ["sharegpt"]
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["counts"]["k_score"]["skipped"]["excluded_source"] == 1


def _parquet_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_byte_identical_under_a_shuffled_pool_and_another_format(runner, tmp_path):
    from karma_plugin.pools import sample_pool_path

    lines = Path(sample_pool_path()).read_text(encoding="utf-8").splitlines()
    random.Random(3).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(lines) + "\n", encoding="utf-8")
    as_parquet = tmp_path / "pool.parquet"
    datasets.load_dataset("json", data_files=str(shuffled), split="train").to_parquet(as_parquet)

    outputs = []
    for name, pool in (("a", sample_pool_path()), ("b", str(shuffled)), ("c", str(as_parquet))):
        out = tmp_path / name
        assert run(runner, "--dataset", pool, "--out", str(out)).exit_code == 0
        outputs.append(_parquet_bytes(out))
    assert len(outputs[0]) == 16
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_folder_input_through_load_dataset(runner, tmp_path, write_jsonl):
    folder = tmp_path / "pool"
    folder.mkdir()
    write_jsonl([row("Q", completion("gpt-4", "A"), completion("bard", "B"))], "pool/train.jsonl")
    out = tmp_path / "out"
    result = run(runner, "--dataset", str(folder), "--out", str(out), "--test-size", "0")
    assert result.exit_code == 0, result.output
    assert read_config(out, "k_sim")[0]["chosen_model"] == "gpt-4"


# --- bad input: one line on stderr, exit 2, nothing written ---------------------------------


def _fails_cleanly(result, out: Path, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("karma-build: error:"), result.stderr
    assert message in lines[-1]
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")), "a staging folder was left behind"


def test_malformed_json(runner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "completions": [\n', encoding="utf-8")
    out = tmp_path / "out"
    _fails_cleanly(run(runner, "--dataset", str(bad), "--out", str(out)), out, "cannot read pool")


def test_missing_pool_file(runner, tmp_path):
    out = tmp_path / "out"
    result = run(runner, "--dataset", str(tmp_path / "nope.jsonl"), "--out", str(out))
    _fails_cleanly(result, out, "not found")


def test_pool_without_the_schema(runner, tmp_path, write_jsonl):
    out = tmp_path / "out"
    result = run(runner, "--dataset", str(write_jsonl([{"text": "hi"}])), "--out", str(out))
    _fails_cleanly(result, out, "UltraFeedback's schema")


def test_missing_score_file(runner, tmp_path):
    out = tmp_path / "out"
    result = run(runner, "--scores", str(tmp_path / "s.csv"), "--out", str(out))
    _fails_cleanly(result, out, "not found")


def test_score_table_with_a_duplicate_model(runner, tmp_path):
    scores = tmp_path / "s.csv"
    scores.write_text("model,ifeval\ngpt-4,1\ngpt-4,2\nbard,3\n", encoding="utf-8")
    out = tmp_path / "out"
    _fails_cleanly(run(runner, "--scores", str(scores), "--out", str(out)), out, "appears twice")


def test_every_benchmark_constant(runner, tmp_path):
    scores = tmp_path / "s.csv"
    scores.write_text("model,ifeval,mmlu\ngpt-4,1,50%\nbard,1,50%\n", encoding="utf-8")
    out = tmp_path / "out"
    _fails_cleanly(run(runner, "--scores", str(scores), "--out", str(out)), out, "constant")


def test_constant_benchmark_and_missing_score_warn_and_go_on(runner, tmp_path, write_jsonl):
    scores = tmp_path / "s.csv"
    scores.write_text(
        "model,ifeval,mmlu_stem\ngpt-4,90,50%\nbard,80,50%\nalpaca-7b,10,50%\nstarchat,,50%\n",
        encoding="utf-8",
    )
    # starchat answers in the pool: a left-out model is named only when the pool has it.
    pool = write_jsonl(
        [row("Q", completion("gpt-4", "A"), completion("bard", "B"), completion("starchat", "C"))]
    )
    out = tmp_path / "out"
    result = run(runner, "--scores", str(scores), "--dataset", str(pool), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "left out mmlu_stem: constant across models" in result.stderr
    assert "left out starchat: missing score for ifeval" in result.stderr


def test_existing_output_needs_overwrite(runner, tmp_path, write_jsonl):
    pool = write_jsonl([row("Q", completion("gpt-4", "A"), completion("bard", "B"))])
    out = tmp_path / "out"
    assert run(runner, "--dataset", str(pool), "--out", str(out)).exit_code == 0
    (out / "k_sim" / "train_prefs-00000-of-00002.parquet").write_text("an older shard")
    result = run(runner, "--dataset", str(pool), "--out", str(out))
    assert result.exit_code == 2
    assert "already exists (use --overwrite" in result.stderr
    assert (out / "k_sim" / "train_prefs-00000-of-00002.parquet").exists()
    result = run(runner, "--dataset", str(pool), "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "k_sim" / "train_prefs-00000-of-00002.parquet").exists()
    assert (out / "kinship.json").exists()
    # A folder karma-build did not write is never replaced (tests/test_output_safety.py).
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    result = run(runner, "--dataset", str(pool), "--out", str(foreign), "--overwrite")
    assert result.exit_code == 2 and "karma-build did not write it" in result.stderr
    assert (foreign / "keep.txt").read_text() == "mine"


def test_unknown_strategy_and_bad_test_size(runner, tmp_path):
    out = tmp_path / "out"
    _fails_cleanly(run(runner, "--strategy", "k_best", "--out", str(out)), out, "unknown strategy")
    _fails_cleanly(run(runner, "--test-size", "1.5", "--out", str(out)), out, "--test-size")


def test_edge_rows_are_counted_not_fatal(runner, tmp_path, write_jsonl):
    rows = [
        row("Only one", completion("gpt-4", "A")),
        row("Empty answers", completion("gpt-4", "  "), completion("bard", "")),
        row("Unknown models", completion("ultralm-65b", "A"), completion("some-model", "B")),
        row("Twice", completion("gpt-4", "A"), completion("gpt-4", "B")),
        row("N/A", completion("gpt-4", "A", None, "N/A"), completion("bard", "B", None, "N/A")),
    ]
    out = tmp_path / "out"
    result = run(runner, "--dataset", str(write_jsonl(rows)), "--out", str(out), "--test-size", "0")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["counts"]["k_sim"] == {
        "pairs": 1,
        "skipped": {"fewer_than_2_usable_completions": 4, "below_tau": 0, "s_pref_tie": 0},
    }
    assert doc["counts"]["rlaif"]["pairs"] == 0
    assert doc["counts"]["rlaif"]["skipped"]["fewer_than_2_rated_completions"] == 1
    assert doc["dropped_completions"] == {
        "unknown_model": {"some-model": 1, "ultralm-65b": 1},
        "empty_response": 2,
        "duplicate_model": 1,
    }
    assert pq.read_table(out / "rlaif" / "train_prefs-00000-of-00001.parquet").num_rows == 0


def test_output_has_ordinary_permissions(default_out: Path):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(default_out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((default_out / "kinship.json").stat().st_mode) == 0o666 & ~umask


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_same_named_folders_do_not_share_the_datasets_cache(runner, tmp_path, monkeypatch):
    # datasets fingerprints a local folder by its card: the card's split sizes keep two
    # outputs named alike apart.
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rows = {}
    for name, test_size in (("a", "0.05"), ("b", "0.5")):
        out = tmp_path / name / "out"
        result = run(runner, "--strategy", "k_sim", "--test-size", test_size, "--out", str(out))
        assert result.exit_code == 0, result.output
        rows[name] = datasets.load_dataset(str(out), "k_sim", split="test_prefs").num_rows
    assert rows["a"] < rows["b"]


@pytest.mark.deps  # datasets / huggingface_hub read it
def test_a_jsonl_pool_is_streamed_not_cached(runner, tmp_path, monkeypatch):
    """A local jsonl pool is streamed: no Arrow copy of it lands in datasets' cache."""
    from karma_plugin.pools import sample_pool_path

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = run(runner, "--dataset", sample_pool_path(), "--strategy", "k_sim", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert not list((tmp_path / "cache").rglob("*.arrow"))


@pytest.mark.slow
def test_a_large_jsonl_pool_is_read_in_bounded_memory(tmp_path):
    """1 GB of jsonl, most of it critiques `binarize` does not use: read whole (into the
    datasets cache, then its memory map), its peak RSS passed 1.1 GB; streamed, it stays near
    0.6 GB, whatever the file's size."""
    import subprocess
    import sys

    filler = "lorem ipsum dolor sit amet " * 500  # 13.5 KB per completion
    models = ["gpt-4", "bard", "llama-2-70b-chat", "wizardlm-70b"]
    pool = tmp_path / "pool.jsonl"
    with pool.open("w", encoding="utf-8") as handle:
        for i in range(19_000):
            comps = [
                {"model": m, "response": f"answer {i} from {m}", "critique": filler,
                 "overall_score": (i + j) % 10}
                for j, m in enumerate(models)
            ]  # fmt: skip
            handle.write(json.dumps({"instruction": f"question {i}?", "completions": comps}))
            handle.write("\n")
    size = pool.stat().st_size
    assert size > 1_000_000_000
    # The peak of the CLI process alone, measured by a parent of its own: pytest's
    # RUSAGE_CHILDREN holds the largest of every child it ever ran.
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'karma_plugin', *sys.argv[1:]])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    args = ("binarize", "--dataset", pool, "--strategy", "k_sim", "--out", tmp_path / "out")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", measure, *map(str, args)],
        cwd=tmp_path,  # not the clone: the installed package is the one under test
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split()[-1]) * 1024  # ru_maxrss is in KiB on Linux
    assert peak < 0.8 * size, f"peak RSS {peak / 1e6:.0f} MB for {size / 1e6:.0f} MB of jsonl"
