"""Any pool (issue 13): UltraFeedback's layout, a list of ranked answers (Nectar's), the long
layout, column mapping, the rating direction, every mapping error; and the text store that
keeps memory bounded (spilled and windowed output byte-identical to the in-memory one)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli import assert_fails, karma_build
from click.testing import CliRunner

from karma_plugin.cli import main
from karma_plugin.pools import sample_pool_path, store

# Run on the newest releases too (scripts/test.sh): pools read by datasets' json loader.
pytestmark = pytest.mark.deps

# Nectar's real schema (berkeley-nest/Nectar): the prompt as a dialogue, 7 ranked answers (rank
# 1 is the best), the sources as a list.
NECTAR_MODELS = ["gpt-4", "gpt-3.5-turbo", "llama-2-7b-chat", "mpt-7b-chat", "vicuna-33b"]
SCORES = "model,ifeval,mmlu_stem,hellaswag\n" + "".join(
    f"{m},{0.9 - 0.15 * i:.2f},{0.8 - 0.1 * i:.2f},{0.7 - 0.05 * i * i:.2f}\n"
    for i, m in enumerate(NECTAR_MODELS)
)


def nectar_rows(n: int = 40) -> list[dict]:
    rng = random.Random(5)
    rows = []
    for i in range(n):
        models = rng.sample(NECTAR_MODELS, 4)
        ranks = rng.sample(range(1, 5), 4)
        rows.append(
            {
                "prompt": f"\n\nHuman: question {i}?\n\nAssistant:",
                "answers": [
                    {"answer": f"answer {i} by {m}", "model": m, "rank": float(r)}
                    for m, r in zip(models, ranks, strict=True)
                ],
                "turns": 1,
                "num_responses": 4,
                "source": ["sharegpt", "lmsys-chat-1m"][: 1 + i % 2],
                "good_natured": True,
            }
        )
    return rows


NECTAR_COLUMNS = "instruction=prompt,completions=answers,response=answer,rating=rank"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    (root / "scores.csv").write_text(SCORES, encoding="utf-8")
    nectar = pa.Table.from_pylist(nectar_rows())
    pq.write_table(nectar, root / "nectar.parquet", row_group_size=16)
    return root


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _rows(folder: Path, config: str) -> list[dict]:
    files = sorted((folder / config).glob("train_prefs-*.parquet"))
    files += sorted((folder / config).glob("test_prefs-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()


def _parquet_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_nectar_ranks_lower_is_better(work: Path) -> None:
    args = ["binarize", "--dataset", "nectar.parquet", "--scores", "scores.csv"]
    out = _ok(
        karma_build(
            *args,
            "--columns",
            NECTAR_COLUMNS,
            "--better-rating",
            "lower",
            "--out",
            "n",
            cwd=work,
        )
    )
    assert "(ultrafeedback layout)" in out
    rlaif = _rows(work / "n", "rlaif")
    doc = json.loads((work / "n" / "kinship.json").read_text("utf-8"))
    assert len(rlaif) + doc["counts"]["rlaif"]["skipped"]["below_tau"] == 40 > len(rlaif) > 20
    # The rank decides: the chosen answer always has the better (lower) rank.
    assert all(r["score_chosen"] < r["score_rejected"] for r in rlaif)
    assert {r["score_chosen"] for r in rlaif} == {1.0}
    k_sim = _rows(work / "n", "k_sim")
    assert all(r["chosen_s_pref"] >= r["rejected_s_pref"] for r in k_sim)
    assert {r["source"] for r in k_sim} == {"sharegpt", "sharegpt,lmsys-chat-1m"}
    assert all(r["prompt"][0]["content"].startswith("Human: question") for r in k_sim)
    layout = (doc["format"], doc["rating"], doc["better_rating"])
    assert layout == ("ultrafeedback", "rank", "lower")
    assert doc["columns"]["completions"] == "answers"
    assert "(`rank`, lower is better)" in (work / "n" / "README.md").read_text("utf-8")

    # The same ranks read as higher-is-better pick the worst answer instead: the flag matters.
    _ok(karma_build(*args, "--columns", NECTAR_COLUMNS, "--out", "h", cwd=work))
    assert {r["score_chosen"] for r in _rows(work / "h", "rlaif")} == {4.0}


def _long_rows(pool: Path) -> list[dict]:
    """The UltraFeedback-layout pool as the long layout: a row per (instruction, answer)."""
    rows = []
    for line in pool.read_text("utf-8").splitlines():
        entry = json.loads(line)
        for c in entry["completions"]:
            rows.append(
                {
                    "prompt": entry["instruction"],
                    "generator": c["model"],
                    "text": c["response"],
                    "score": c.get("overall_score"),
                    "source": entry["source"],
                }
            )
    return rows


def _without_repeated_models(pool: Path, out: Path) -> Path:
    """The pool without the answers of a model that already answered the row: which of two
    answers of one model counts is the one rule the layouts do not share (the first in the
    row's list; the long layout, whose rows have no order to trust, goes by their sha256)."""
    kept = []
    for line in pool.read_text("utf-8").splitlines():
        entry = json.loads(line)
        seen: set[str] = set()
        entry["completions"] = [
            c for c in entry["completions"] if not (c["model"] in seen or seen.add(c["model"]))
        ]
        kept.append(json.dumps(entry))
    out.write_text("\n".join(kept) + "\n", "utf-8")
    return out


def test_long_layout_gives_the_same_pairs(work: Path) -> None:
    """The sample pool in the long layout, its rows interleaved across instructions, writes
    the same parquet bytes."""
    sample = _without_repeated_models(Path(sample_pool_path()), work / "sample.jsonl")
    rows = _long_rows(sample)
    rng = random.Random(1)
    queues: dict[str, list[dict]] = {}
    for r in rows:
        queues.setdefault(r["prompt"], []).append(r)
    mixed = []
    while queues:
        key = rng.choice(list(queues))
        mixed.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    (work / "long.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mixed), "utf-8")
    columns = "instruction=prompt,model=generator,response=text,rating=score"
    out = _ok(
        karma_build(
            "binarize", "--dataset", "long.jsonl", "--columns", columns, "--out", "long", cwd=work
        )
    )
    assert "(long layout)" in out
    _ok(karma_build("binarize", "--dataset", sample, "--out", "uf", cwd=work))
    reference = _parquet_bytes(work / "uf")
    long = _parquet_bytes(work / "long")
    # rlaif differs only by the rating read (overall_score either way): all configs equal.
    assert len(reference) == 16
    assert long == reference


def test_long_layout_parquet_and_format_flag(work: Path, tmp_path: Path) -> None:
    rows = _long_rows(Path(sample_pool_path()))
    table = pa.Table.from_pylist(
        [{"instruction": r["prompt"], "model": r["generator"], "response": r["text"]} for r in rows]
    )
    pq.write_table(table, tmp_path / "long.parquet", row_group_size=100)
    out = _ok(
        karma_build(
            "binarize",
            "--dataset",
            tmp_path / "long.parquet",
            "--strategy",
            "k_sim",
            "--format",
            "long",
            "--out",
            "o",
            cwd=tmp_path,
        )
    )
    assert "(long layout)" in out
    assert len(_rows(tmp_path / "o", "k_sim")) > 250


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (["--columns", "instruction=question"], 2, ["'question'", "needs columns"]),
        (["--columns", "instruction"], 2, ["--columns", "'instruction' is not KEY=COLUMN"]),
        (["--columns", "prompt=x"], 2, ["unknown key 'prompt'"]),
        (["--columns", "model=a,model=b"], 2, ["'model' is given twice"]),
        (["--format", "long"], 2, ["long layout needs column", "'model', 'response'"]),
        (
            ["--columns", "response=rank,instruction=prompt,completions=answers"],
            2,
            ["completions field 'rank' holds numbers, expected text"],
        ),
        (
            ["--columns", "instruction=prompt,completions=answers,response=answer,rating=stars"],
            2,
            ["the completions have no field 'stars'"],
        ),
        (
            ["--columns", "instruction=turns,completions=answers,response=answer"],
            2,
            ["column 'turns' holds integers, expected text"],
        ),
        (
            ["--columns", "instruction=prompt,completions=answers,response=answer,model=rank"],
            2,
            ["completions field 'rank' holds numbers, expected text"],
        ),
    ],
)
def test_mapping_errors_name_the_column(work: Path, args, code, fragments) -> None:
    before = sorted(p.name for p in work.iterdir())
    result = karma_build(
        "binarize",
        "--dataset",
        "nectar.parquet",
        "--scores",
        "scores.csv",
        *args,
        "--out",
        "bad",
        cwd=work,
    )
    assert_fails(result, code, *fragments)
    assert sorted(p.name for p in work.iterdir()) == before


def test_long_layout_errors(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text(
        json.dumps({"instruction": "q", "model": 3, "response": "a"}) + "\n", "utf-8"
    )
    result = karma_build("binarize", "--dataset", "p.jsonl", "--out", "o", cwd=tmp_path)
    assert_fails(result, 2, "column 'model' holds integers, expected text")
    rows = [{"instruction": "q", "model": "gpt-4", "response": "a", "stars": "many"}]
    (tmp_path / "r.jsonl").write_text(json.dumps(rows[0]) + "\n", "utf-8")
    result = karma_build(
        "binarize",
        "--dataset",
        "r.jsonl",
        "--columns",
        "rating=stars",
        "--strategy",
        "k_sim",
        "--out",
        "o",
        cwd=tmp_path,
    )
    # Text ratings are allowed ("N/A" in UltraFeedback); a lone instruction has no pair.
    assert result.returncode in (0, 2), result.stderr


def test_spilled_text_store_writes_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    """Tiny thresholds force the text to spill to disk many times and the output to be
    written in many windows: the bytes are those of the run that kept it all in memory."""
    from karma_plugin.pools import sample_pool_path

    lines = Path(sample_pool_path()).read_text("utf-8").splitlines()
    # Repeated instructions (with other answers) exercise the order of equal prompts.
    repeated = []
    for line in lines[:40]:
        entry = json.loads(line)
        for c in entry["completions"]:
            c["response"] = c["response"][::-1]
        repeated.append(json.dumps(entry))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(lines + repeated) + "\n", "utf-8")

    runner = CliRunner()
    args = ["binarize", "--dataset", str(pool), "--test-size", "0.2"]
    assert runner.invoke(main, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    spills, windows = [], []
    spill, read = store.TextStore._spill, store.TextStore._read

    def counted(self):
        spills.append(self._pending_bytes)
        spill(self)

    def counted_read(self, lo, hi):
        windows.append((lo, hi))
        return read(self, lo, hi)

    monkeypatch.setattr(store, "SPILL_BYTES", 20_000)
    monkeypatch.setattr(store, "WINDOW_BYTES", 8_000)
    monkeypatch.setattr(store.TextStore, "_spill", counted)
    monkeypatch.setattr(store.TextStore, "_read", counted_read)
    result = runner.invoke(main, [*args, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert len(spills) >= 2  # the instructions, then the responses of the one batch
    assert len(windows) > 20 and windows[-1][1] == store.N_BUCKETS
    assert _parquet_bytes(tmp_path / "a") == _parquet_bytes(tmp_path / "b")
    # Nothing of the spill is left beside or inside the output.
    assert not list((tmp_path / "b").rglob(".karma-spill-*"))
    assert not list(tmp_path.glob(".karma-spill-*"))


def test_a_full_disk_while_spilling_is_one_line(tmp_path: Path, monkeypatch) -> None:
    """The spill fails as a full disk would: exit 1, one line, nothing left behind."""
    import errno

    def full(self, folder, load):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "000.arrow"))

    monkeypatch.setattr(store, "SPILL_BYTES", 20_000)
    monkeypatch.setattr(store.TextStore, "_write", full)
    result = CliRunner().invoke(main, ["binarize", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("karma-build: error: No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- issue 16, items 11 and 11b -----------------------------------------------------------------
def test_long_layout_with_repeated_answers_is_order_free(work: Path, tmp_path: Path) -> None:
    """Models that answered an instruction twice (here: every answer of 60 instructions again,
    with other text): which answer counts must not depend on the row order. Three shuffles of
    the rows write the same parquet bytes."""
    rows = _long_rows(Path(sample_pool_path()))
    again = [
        {**r, "text": f"{r['text']} (asked again)", "score": 10.0 - (r["score"] or 0)}
        for r in rows
        if r["prompt"] in {x["prompt"] for x in rows[:240]}
    ]
    columns = "instruction=prompt,model=generator,response=text,rating=score"
    outputs = []
    for seed in (1, 2, 3):
        mixed = rows + again
        random.Random(seed).shuffle(mixed)
        pool = tmp_path / f"long{seed}.jsonl"
        pool.write_text("".join(json.dumps(r) + "\n" for r in mixed), "utf-8")
        args = ["binarize", "--dataset", pool, "--columns", columns, "--out", f"o{seed}"]
        out = _ok(karma_build(*args, cwd=tmp_path))
        assert " repeat" in out and " 0 repeats" not in out
        outputs.append(_parquet_bytes(tmp_path / f"o{seed}"))
    assert len(outputs[0]) == 16
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("layout", ["ultrafeedback", "long"])
def test_categorical_text_columns_are_read_as_text(tmp_path: Path, layout: str) -> None:
    """pandas writes a categorical column as a dictionary-encoded one: the same pool with
    plain and with categorical text columns writes the same bytes."""
    import pandas as pd

    if layout == "long":
        rows = _long_rows(Path(sample_pool_path()))
        frame = pd.DataFrame(
            [{"instruction": r["prompt"], "model": r["generator"], "response": r["text"],
              "source": r["source"]} for r in rows]
        )  # fmt: skip
        text = ["instruction", "model", "source"]
    else:
        frame = pd.read_json(sample_pool_path(), lines=True)[
            ["source", "instruction", "completions"]
        ]
        text = ["instruction", "source"]
    frame.to_parquet(tmp_path / "plain.parquet")
    frame.astype({c: "category" for c in text}).to_parquet(tmp_path / "cat.parquet")
    schema = pq.read_schema(tmp_path / "cat.parquet")
    assert all(pa.types.is_dictionary(schema.field(c).type) for c in text)
    for name in ("plain", "cat"):
        _ok(karma_build("binarize", "--dataset", f"{name}.parquet", "--out", name, cwd=tmp_path))
    assert _parquet_bytes(tmp_path / "plain") == _parquet_bytes(tmp_path / "cat")


# --- issue 16, item 7: a full disk is one line, never followed by a writer's traceback ----------
@pytest.fixture(scope="module")
def big_pool(tmp_path_factory) -> Path:
    """3,000 UltraFeedback rows (about 40 MB of JSON): the output's shards are written in
    many row groups, so a disk that fills up does so while a parquet writer is open."""
    from synthetic_pool import make_pool

    path = tmp_path_factory.mktemp("big") / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in make_pool(3_000, seed=4)), "utf-8")
    return path


def _run_limited(args: list[str], cwd: Path, fsize: int | None = None):
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        if fsize is not None:  # a write past it fails with EFBIG, as a full disk with ENOSPC
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {k: v for k, v in os.environ.items() if k != "KARMA_TEST_HUB_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "karma_plugin", *args],
        cwd=cwd, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
        timeout=600, preexec_fn=limit,
    )  # fmt: skip


def _one_line_and_nothing_left(result, fragment: str, out_parent: Path) -> None:
    assert_fails(result, 1, fragment)
    assert "Exception ignored" not in result.stderr
    assert sorted(p.name for p in out_parent.iterdir()) == []  # no staging, no spill left


def test_a_file_size_limit_while_writing_is_one_line(big_pool: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = _run_limited(
        ["binarize", "--dataset", str(big_pool), "--out", str(out / "o")], tmp_path, 2 << 20
    )
    _one_line_and_nothing_left(result, "File too large", out)


@pytest.mark.parametrize("megabytes", [3, 8, 14])
def test_a_full_tmpfs_while_writing_is_one_line(
    big_pool: Path, tmp_path: Path, megabytes: int
) -> None:
    """A real full disk: a tmpfs of a few MB (root only: mount), filled at different points
    of the write."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(disk)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        result = _run_limited(
            ["binarize", "--dataset", str(big_pool), "--out", str(disk / "o")], tmp_path
        )
        _one_line_and_nothing_left(result, "No space left on device", disk)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
