"""Bad input through the real CLI: exit 2, one stderr line naming the culprit, nothing written.

Every case runs `karma-build` in a subprocess (tests/cli.py) and checks the whole contract: the
exit code, exactly one stderr line `karma-build: error: ...` (no traceback, and no warning in
front of it: the default score table leaves out ultralm-65b, which used to be announced before
every unrelated error), the file, column or field named in it, and every file under the test
folder unchanged (no output folder, no staging folder, no partial CSV).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli import assert_fails, karma_build, snapshot
from lmeval_samples import ifeval_line, mc_task, write_run

# --- pools ---------------------------------------------------------------------------------


def completion(model="gpt-4", response="An answer.", score=7.0, **extra) -> dict:
    return {"model": model, "response": response, "overall_score": score, **extra}


def row(instruction="Explain tides.", completions=None, source="evol_instruct") -> dict:
    if completions is None:
        completions = [completion("gpt-4", "A"), completion("alpaca-7b", "B", 3.0)]
    return {"source": source, "instruction": instruction, "completions": completions}


GOOD = [row(f"Question {i}?") for i in range(3)]


def jsonl(tmp: Path, rows: list, name: str = "pool.jsonl") -> Path:
    path = tmp / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def parquet(tmp: Path, table: pa.Table, name: str = "pool.parquet") -> Path:
    path = tmp / name
    pq.write_table(table, path)
    return path


def not_utf8(text: str) -> pa.Array:
    """A string array holding ``text`` encoded as Latin-1 (pyarrow does not check UTF-8)."""
    raw = pa.array([text.encode("latin-1")], pa.binary())
    return pa.Array.from_buffers(pa.string(), 1, raw.buffers())


def binarize(pool: Path | str, out: str = "out") -> tuple[str, ...]:
    return ("binarize", "--dataset", str(pool), "--out", out)


Case = Callable[[Path], tuple[tuple[str, ...], tuple[str, ...]]]
CASES: dict[str, Case] = {}


def case(function: Case) -> Case:
    CASES[function.__name__] = function
    return function


# Pools that datasets reads (its json loader, its data-file patterns for a folder): the types
# it infers and the errors it raises change with its version, so these cases run on the
# newest releases too (marker `deps`); parquet pools, score tables, samples and options are
# read by pyarrow (one version in both environments) or by our own code.
JSON_POOL_CASES: set[str] = set()


def json_pool_case(function: Case) -> Case:
    JSON_POOL_CASES.add(function.__name__)
    return case(function)


@json_pool_case
def empty_jsonl(tmp):
    (tmp / "pool.jsonl").write_text("")
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl", "is empty")


@json_pool_case
def blank_lines_only(tmp):
    (tmp / "pool.jsonl").write_text("\n  \n\n")
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl", "is empty")


@json_pool_case
def first_line_null(tmp):
    # pyarrow's json reader crashes the whole process on this one (a segfault, no message).
    (tmp / "pool.jsonl").write_text("null\n" + json.dumps(GOOD[0]) + "\n")
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl", "does not hold JSON objects")


@json_pool_case
def json_array_of_nothing(tmp):
    (tmp / "pool.json").write_text("[]\n")
    return binarize(tmp / "pool.json"), ("pool.json",)


@case
def missing_file_in_a_folder(tmp):
    # One slash and no such file: a missing file, not a Hub dataset id to look up.
    return binarize("data/pool.jsonl"), ("'data/pool.jsonl' not found",)


@json_pool_case
def no_completion_in_any_row(tmp):
    pool = jsonl(tmp, [row("Q", []), row("R", [])])
    return binarize(pool), ("pool.jsonl", "no row has a completion")


@json_pool_case
def completions_a_string(tmp):
    pool = jsonl(tmp, [{"instruction": "Q", "completions": "gpt-4 said this"}])
    return binarize(pool), ("pool.jsonl", "column 'completions' holds text")


@json_pool_case
def completions_a_dict(tmp):
    pool = jsonl(tmp, [{"instruction": "Q", "completions": completion()}])
    return binarize(pool), ("pool.jsonl", "column 'completions' holds objects")


@json_pool_case
def completions_a_list_of_strings(tmp):
    pool = jsonl(tmp, [{"instruction": "Q", "completions": ["A", "B"]}])
    return binarize(pool), ("pool.jsonl", "column 'completions' holds lists of text")


@json_pool_case
def model_missing_in_some_completions(tmp):
    lacking = {"response": "C", "overall_score": 5.0}
    pool = jsonl(tmp, [*GOOD, row("Q", [completion(), lacking])])
    return binarize(pool), ("pool.jsonl", "row 4, completion 2 has no 'model'")


@case
def model_null_in_parquet(tmp):
    table = pa.Table.from_pylist([*GOOD, row("Q", [completion(model=None), completion()])])
    return binarize(parquet(tmp, table)), ("pool.parquet", "row 4, completion 1 has no 'model'")


@json_pool_case
def model_an_integer(tmp):
    pool = jsonl(tmp, [row("Q", [completion(7), completion(8)])])
    return binarize(pool), ("pool.jsonl", "field 'model' holds integers")


@json_pool_case
def model_an_integer_in_some_rows(tmp):
    pool = jsonl(tmp, [*GOOD, row("Q", [completion(7), completion()])])
    return binarize(pool), ("pool.jsonl", "completions field 'model' mixes")


@json_pool_case
def completion_null(tmp):
    pool = jsonl(tmp, [*GOOD, row("Q", [completion(), None])])
    return binarize(pool), ("pool.jsonl", "row 4, completion 2 is null")


@json_pool_case
def every_response_null(tmp):
    rows = [row(f"Q{i}", [completion(response=None), completion("bard", None)]) for i in range(3)]
    return binarize(jsonl(tmp, rows)), ("pool.jsonl", "every 'response' is null or empty")


@json_pool_case
def response_a_number(tmp):
    pool = jsonl(tmp, [row("Q", [completion(response=1), completion(response=2)])])
    return binarize(pool), ("pool.jsonl", "field 'response' holds integers")


@json_pool_case
def response_field_absent(tmp):
    pool = jsonl(tmp, [row("Q", [{"model": "gpt-4"}, {"model": "bard"}])])
    return binarize(pool), ("pool.jsonl", "no field 'response'")


@json_pool_case
def overall_score_a_list(tmp):
    pool = jsonl(tmp, [row("Q", [completion(score=[1, 2]), completion(score=[3])])])
    return binarize(pool), ("pool.jsonl", "field 'overall_score' holds lists")


@json_pool_case
def annotations_text_with_rating_aspects(tmp):
    pool = jsonl(tmp, [row("Q", [completion(annotations="good"), completion(annotations="ok")])])
    args = (*binarize(pool), "--rating", "aspects")
    return args, ("pool.jsonl", "field 'annotations' holds text")


@json_pool_case
def instruction_an_integer(tmp):
    pool = jsonl(tmp, [row(5), row(6)])
    return binarize(pool), ("pool.jsonl", "column 'instruction' holds integers")


@json_pool_case
def instruction_a_list(tmp):
    pool = jsonl(tmp, [row(["user", "turn"])])
    return binarize(pool), ("pool.jsonl", "column 'instruction' holds lists")


@case
def instruction_an_integer_in_parquet(tmp):
    table = pa.Table.from_pylist([row(5), row(6)])
    return binarize(parquet(tmp, table)), ("pool.parquet", "column 'instruction' holds integers")


@case
def completions_strings_in_parquet(tmp):
    table = pa.table({"instruction": ["Q"], "completions": [["A", "B"]]})
    return binarize(parquet(tmp, table)), ("pool.parquet", "column 'completions' holds lists")


@json_pool_case
def jsonl_not_utf8(tmp):
    line = json.dumps(row("Caf\u00e9 au lait?"), ensure_ascii=False) + "\n"
    (tmp / "pool.jsonl").write_bytes(line.encode("latin-1"))
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl", "'instruction' is not UTF-8 text")


@case
def parquet_response_not_utf8(tmp):
    table = pa.Table.from_pylist([row("Q")])
    items = pa.StructArray.from_arrays(
        [pa.array(["gpt-4"]), not_utf8("Caf\u00e9")], names=["model", "response"]
    )
    completions = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), items)
    table = table.set_column(
        table.schema.get_field_index("completions"), "completions", completions
    )
    return binarize(parquet(tmp, table)), ("pool.parquet", "'response' is not UTF-8 text")


@case
def wrong_extension(tmp):
    pool = jsonl(tmp, GOOD, "pool.csv")
    return binarize(pool), ("pool.csv", "expected .json, .jsonl or .parquet")


@case
def parquet_that_is_not_parquet(tmp):
    (tmp / "pool.parquet").write_text("instruction,completions\nQ,A\n")
    return binarize(tmp / "pool.parquet"), ("pool.parquet",)


@json_pool_case
def jsonl_that_is_parquet(tmp):
    pq.write_table(pa.Table.from_pylist(GOOD), tmp / "pool.jsonl")
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl",)


@json_pool_case
def folder_mixing_jsonl_and_parquet(tmp):
    (tmp / "pool").mkdir()
    jsonl(tmp, GOOD, "pool/a.jsonl")
    parquet(tmp, pa.Table.from_pylist(GOOD), "pool/b.parquet")
    return binarize(tmp / "pool"), ("mixes json and parquet", "a.jsonl", "b.parquet")


@json_pool_case
def folder_with_a_foreign_file(tmp):
    (tmp / "pool").mkdir()
    jsonl(tmp, GOOD, "pool/a.jsonl")
    (tmp / "pool" / "notes.txt").write_text("to do\n")
    return binarize(tmp / "pool"), ("notes.txt", "expected .json, .jsonl or .parquet")


@json_pool_case
def folder_without_data(tmp):
    (tmp / "pool").mkdir()
    return binarize(tmp / "pool"), ("pool folder", "holds no data files")


@json_pool_case
def folder_with_an_empty_file(tmp):
    (tmp / "pool").mkdir()
    jsonl(tmp, GOOD, "pool/b.jsonl")
    (tmp / "pool" / "a.jsonl").write_text("")
    return binarize(tmp / "pool"), ("a.jsonl", "is empty")


# --- score tables --------------------------------------------------------------------------

MIXED = "model,ifeval,mmlu_stem\ngpt-4,85.37%,80\nalpaca-7b,{},50\nbard,{},40\n"


@case
def score_column_mixing_percent_and_points(tmp):
    (tmp / "scores.csv").write_text(MIXED.format("72.54", "60.1"))
    fragments = ("scores.csv", "column 'ifeval'", "gpt-4: '85.37%'", "alpaca-7b: '72.54'")
    return ("kinship", "--scores", str(tmp / "scores.csv")), fragments


@case
def score_column_mixing_percent_and_fractions(tmp):
    (tmp / "scores.csv").write_text(MIXED.format("0.72", "0.6"))
    fragments = ("scores.csv", "column 'ifeval'", "'85.37%'", "alpaca-7b: '0.72'")
    return ("kinship", "--scores", str(tmp / "scores.csv")), fragments


@case
def score_column_mixing_in_binarize(tmp):
    (tmp / "scores.csv").write_text(MIXED.format("72.54", "60.1"))
    args = (*binarize(jsonl(tmp, GOOD)), "--scores", str(tmp / "scores.csv"))
    return args, ("scores.csv", "column 'ifeval'")


@case
def score_table_not_utf8(tmp):
    (tmp / "scores.csv").write_bytes("model,ifeval\ncaf\u00e9,1\nbard,2\n".encode("latin-1"))
    return ("kinship", "--scores", str(tmp / "scores.csv")), ("scores.csv", "not UTF-8")


# --- lm-eval samples and results -------------------------------------------------------------

SAMPLES_SCORES = "model,ifeval,arc_easy\norg/a,0.5,0.7\norg/b,0.4,0.3\norg/c,0.2,\n"
ARC = "samples_karma_arc_easy_2026-11-27T00-07-13.186587.jsonl"


def samples_runs(tmp: Path) -> Path:
    """Two models' samples of karma_arc_easy and karma_ifeval, and a score table for them
    (org/c has a missing score: it is left out with a warning, which must not be printed)."""
    golds, options = [i % 4 for i in range(20)], [4] * 20
    for name, shift in (("org/a", 0), ("org/b", 1)):
        answers = [(g + shift * (i % 3 == 0)) % 4 for i, g in enumerate(golds)]
        lines = {
            "karma_arc_easy": mc_task(golds, options, answers),
            "karma_ifeval": [ifeval_line(i, i % 2 == shift) for i in range(20)],
        }
        write_run(tmp / "runs", name, "0.4.13", lines)
    (tmp / "scores.csv").write_text(SAMPLES_SCORES)
    return tmp / "runs" / "org__b" / ARC


def samples_args(tmp: Path, command: str = "kinship") -> tuple[str, ...]:
    extra = ("--out", "out") if command == "binarize" else ()
    return (command, "--scores", str(tmp / "scores.csv"), "--samples", str(tmp / "runs"), *extra)


@case
def samples_of_one_model_in_the_table(tmp):
    samples_runs(tmp)  # org/a and org/b answered; the table knows org/a only
    (tmp / "scores.csv").write_text("model,ifeval,arc_easy\norg/a,0.5,0.7\norg/x,0.4,0.3\n")
    fragments = ("fewer than 2 models have both scores and samples", "ignored: org/b", "--name")
    return samples_args(tmp), fragments


@case
def samples_file_not_utf8(tmp):
    path = samples_runs(tmp)
    lines = path.read_text().splitlines(keepends=True)
    bad = lines[3].replace('"Question 1?"', '"Caf\u00e9 1?"')
    path.write_bytes("".join([*lines[:3], bad, *lines[4:]]).encode("latin-1"))
    return samples_args(tmp), (ARC, "line 4 is not UTF-8 text")


@case
def samples_file_not_utf8_in_binarize(tmp):
    path = samples_runs(tmp)
    path.write_bytes(path.read_bytes().replace(b"Question 1?", b"Caf\xe9 1?"))
    return samples_args(tmp, "binarize"), (ARC, "is not UTF-8 text")


@case
def samples_file_truncated(tmp):
    path = samples_runs(tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])  # the last line cut short, as by a killed run
    lines = data[: len(data) - 200].count(b"\n") + 1
    return samples_args(tmp), (ARC, f"line {lines} is not JSON")


@case
def samples_line_not_a_sample(tmp):
    path = samples_runs(tmp)
    path.write_text('[1, 2]\n{"doc_id": "seven", "filter": "answer-is"}\n' + path.read_text())
    return samples_args(tmp, "binarize"), (ARC, "line 1 is not an lm-eval sample")


@case
def samples_doc_id_not_a_number(tmp):
    path = samples_runs(tmp)
    path.write_text('{"doc_id": "seven", "filter": "answer-is"}\n' + path.read_text())
    return samples_args(tmp), (ARC, "line 1 is not an lm-eval sample")


# --- options ---------------------------------------------------------------------------------


@case
def default_config_not_written(tmp):
    # The card may mark only a config it lists: rlaif is not among those written.
    args = ("binarize", "--strategy", "k_score,k_sim", "--default-config", "rlaif", "--out", "out")
    return args, ("--default-config rlaif", "k_score, k_sim")


def results_runs(tmp: Path) -> Path:
    """A results folder with a file lacking karma tasks (a warning, which must not be printed)
    that sorts before the bad one."""
    (tmp / "results" / "a").mkdir(parents=True)
    (tmp / "results" / "a" / "results_2026-01-01T00-00-00.json").write_text(
        json.dumps({"results": {"mmlu": {"acc,none": 0.5}}, "model_name": "org/a"})
    )
    (tmp / "results" / "b").mkdir()
    return tmp / "results" / "b" / "results_2026-01-01T00-00-00.json"


@case
def results_not_utf8(tmp):
    path = results_runs(tmp)
    path.write_bytes(b'{"results": {}, "model_name": "caf\xe9"}')
    args = ("scores", str(tmp / "results"), "-o", str(tmp / "scores.csv"))
    return args, ("results_2026-01-01T00-00-00.json", "not UTF-8")


@case
def results_not_json(tmp):
    path = results_runs(tmp)
    path.write_text('{"results": {"karma_ifeval": ')
    args = ("scores", str(tmp / "results"), "-o", str(tmp / "scores.csv"))
    return args, ("results_2026-01-01T00-00-00.json", "not valid JSON")


# --- KEY=VALUE options: one parser, checked before any work --------------------------------


@case
def name_without_equals(tmp):
    return ("kinship", "--name", "justaname"), ("--name expects RUN=MODEL, got 'justaname'",)


@case
def name_without_model_in_report(tmp):
    # Refused while the options are read: the --out folder is never reserved.
    return ("report", "--name", "org/a= ", "--out", "out"), ("--name expects RUN=MODEL",)


@case
def name_without_run_in_binarize(tmp):
    args = (*binarize(jsonl(tmp, GOOD)), "--name", "=org/a")
    return args, ("--name expects RUN=MODEL, got '=org/a'",)


@case
def scores_name_without_equals(tmp):
    results_runs(tmp)
    args = ("scores", str(tmp / "results"), "--name", "org/a", "-o", str(tmp / "scores.csv"))
    return args, ("--name expects RUN=MODEL, got 'org/a'",)


@case
def scores_metric_without_equals(tmp):
    results_runs(tmp)
    args = ("scores", str(tmp / "results"), "--metric", "acc,none")
    return args, ("--metric expects BENCH=METRIC,FILTER, got 'acc,none'",)


@case
def compare_label_without_path(tmp):
    results_runs(tmp)
    args = ("compare", str(tmp / "results"), "--label", "k_sim=", "--out", "out")
    return args, ("--label expects NAME=PATH, got 'k_sim='",)


# --- warnings never stand in front of an error ---------------------------------------------


@case
def report_warning_then_bad_cut(tmp):
    # The score table leaves a model out (a warning) and the cut is refused after kinship.
    (tmp / "scores.csv").write_text("model,ifeval,mmlu_stem\na,1,2\nb,2,1\nc,3,\n")
    args = ("report", "--scores", str(tmp / "scores.csv"), "--cut", "-1", "--out", "out")
    return args, ("cut must be positive",)


# --- duplicated column names in a parquet pool, every layout (issue 16, item 5) --------------
def _completions(n: int = 3) -> pa.Array:
    return pa.array([[completion("gpt-4", "A"), completion("alpaca-7b", "B", 3.0)]] * n)


@case
def parquet_instruction_twice(tmp):
    table = pa.Table.from_arrays(
        [pa.array(["q1", "q2", "q3"]), pa.array(["x", "y", "z"]), _completions()],
        names=["instruction", "instruction", "completions"],
    )
    return binarize(parquet(tmp, table)), ("column 'instruction' appears 2 times",)


@case
def parquet_completion_field_twice(tmp):
    item = pa.StructArray.from_arrays(
        [pa.array(["gpt-4", "bard"]), pa.array(["A", "B"]), pa.array(["C", "D"])],
        names=["model", "response", "response"],
    )
    comps = pa.ListArray.from_arrays(pa.array([0, 2], pa.int32()), item)
    table = pa.Table.from_arrays([pa.array(["q1"]), comps], names=["instruction", "completions"])
    return binarize(parquet(tmp, table)), ("completions field 'response' appears 2 times",)


@case
def parquet_long_layout_response_twice(tmp):
    table = pa.Table.from_arrays(
        [
            pa.array(["q", "q"]),
            pa.array(["gpt-4", "bard"]),
            pa.array(["A", "B"]),
            pa.array(["C", "D"]),
        ],
        names=["instruction", "model", "response", "response"],
    )
    return binarize(parquet(tmp, table)), ("column 'response' appears 2 times",)


@case
def parquet_mapped_column_twice(tmp):
    table = pa.Table.from_arrays(
        [pa.array(["q1", "q2", "q3"]), _completions(), _completions()],
        names=["prompt", "answers", "answers"],
    )
    args = (*binarize(parquet(tmp, table)), "--columns", "instruction=prompt,completions=answers")
    return args, ("column 'answers' appears 2 times",)


# --- a folder is one format, a file one split, a bad line named by its line (items 10, 11, 11b)
@case
def folder_mixing_formats_across_splits(tmp):
    (tmp / "pool").mkdir()
    jsonl(tmp, GOOD, "pool/train.jsonl")
    parquet(tmp, pa.Table.from_pylist(GOOD), "pool/test.parquet")
    return binarize(tmp / "pool"), ("mixes json and parquet files", "train.jsonl", "test.parquet")


@case
def folder_holding_a_csv(tmp):
    (tmp / "pool").mkdir()
    jsonl(tmp, GOOD, "pool/train.jsonl")
    (tmp / "pool" / "notes.csv").write_text("a,b\n")
    return binarize(tmp / "pool"), ("holds 'notes.csv'", "expected .json, .jsonl or .parquet")


@case
def split_of_a_single_file(tmp):
    args = (*binarize(jsonl(tmp, GOOD)), "--split", "validation")
    return args, ("--split validation", "is a single file, which holds one split")


@case
def bad_jsonl_line_named_by_its_line(tmp):
    # Lines of 12 KB: line 1200 lies in the second 10 MB block of the json reader, which
    # counts rows from the start of its block.
    text = "".join(json.dumps(row(f"Q{i}? {'x' * 12_000}")) + "\n" for i in range(1_500))
    lines = text.splitlines(keepends=True)
    lines[1_199] = '{"instruction": "broken", \n'
    (tmp / "pool.jsonl").write_text("".join(lines))
    return binarize(tmp / "pool.jsonl"), ("pool.jsonl: line 1200 is not JSON",)


# --- options and tables that would give a wrong or empty result (issue 16, items 9, 10, 11b) ---
@case
def every_config_empty_with_two_models(tmp):
    (tmp / "two.csv").write_text(
        "model,ifeval,mmlu_stem,hellaswag\ngpt-4,0.9,0.8,0.3\nbard,0.5,0.4,0.6\n"
    )
    args = ("binarize", "--scores", "two.csv", "--out", "out")
    return args, (
        "every config is empty",
        "k_sim: fewer_than_2_usable_completions",
        "the score table has 2 models",
        "orthogonal and their kinship is 0",
        "--tau 0",
        "a third model",
    )


@case
def every_config_empty_below_tau(tmp):
    args = ("binarize", "--tau", "0.999", "--out", "out")
    return args, ("every config is empty", "below_tau", "a lower --tau (now 0.999)")


@case
def strategy_empty(tmp):
    return ("binarize", "--strategy", "", "--out", "out"), ("--strategy names no strategy",)


@case
def columns_two_keys_one_column(tmp):
    args = ("binarize", "--columns", "model=response", "--out", "out")
    return args, ("'model' and 'response' both name the column 'response'",)


@case
def models_equal_after_case_folding(tmp):
    (tmp / "s.csv").write_text(
        "model,ifeval,mmlu_stem\nGPT-4,0.9,0.8\nbard,0.5,0.4\ngpt-4,0.7,0.2\n"
    )
    return ("kinship", "--scores", "s.csv"), ("models 'GPT-4' and 'gpt-4' are one name",)


@case
def seed_negative(tmp):
    return ("binarize", "--seed", "-1", "--out", "out"), (
        "--seed",
        "-1 is not in the range",
    )


# --- names that are not UTF-8 (issue 16, item 6): pyarrow cannot open them, and kinship.json and
# the card, which record them, are UTF-8 files.
LATIN1 = os.fsdecode(b"caf\xe9")  # "café" in Latin-1: one byte that is not UTF-8


@case
def out_not_utf8(tmp):
    return ("binarize", "--out", LATIN1), ("argument 'caf\\xe9' is not valid UTF-8",)


@case
def dataset_not_utf8(tmp):
    pool = jsonl(tmp, GOOD, f"{LATIN1}.jsonl")
    return binarize(pool), ("is not valid UTF-8", "\\xe9.jsonl")


@case
def json_not_utf8(tmp):
    return ("kinship", "--json", f"{LATIN1}.json"), ("is not valid UTF-8",)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.deps) if n in JSON_POOL_CASES else n for n in CASES]
)
def test_bad_input_exits_2_in_one_line_and_writes_nothing(tmp_path: Path, name: str):
    args, fragments = CASES[name](tmp_path)
    before = snapshot(tmp_path)
    result = karma_build(*args, cwd=tmp_path)
    assert_fails(result, 2, *fragments)
    assert snapshot(tmp_path) == before


# --- what is not an error: read the same whatever datasets version --------------------------


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
    }


@pytest.mark.deps
def test_a_rating_missing_in_some_completions_reads_as_none(tmp_path: Path):
    # datasets keeps such completions as JSON text (its Json type): they must read as the
    # same pool with an explicit null, under datasets 4.x and 5.x alike.
    rows = [*GOOD, row("Unrated?", [completion("gpt-4", "A"), completion("bard", "B", None)])]
    explicit = jsonl(tmp_path, rows, "explicit.jsonl")
    del rows[-1]["completions"][1]["overall_score"]
    missing = jsonl(tmp_path, rows, "missing.jsonl")
    outs = {}
    for pool in (explicit, missing):
        result = karma_build(*binarize(pool, pool.stem), "--test-size", "0", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outs[pool.stem] = digests(tmp_path / pool.stem)
    assert outs["explicit"] == outs["missing"] and outs["missing"]
    doc = json.loads((tmp_path / "missing" / "kinship.json").read_text())
    assert doc["rows"] == 4


@pytest.mark.deps
def test_a_parquet_folder_is_read_whole(tmp_path: Path):
    (tmp_path / "pool").mkdir()
    parquet(tmp_path, pa.Table.from_pylist(GOOD), "pool/a.parquet")
    parquet(tmp_path, pa.Table.from_pylist([row("Another?")]), "pool/b.parquet")
    (tmp_path / "pool" / "README.md").write_text("# my pool\n")
    result = karma_build(*binarize(tmp_path / "pool"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "kinship.json").read_text())["rows"] == 4


def test_no_warning_about_a_left_out_model_the_pool_does_not_have(tmp_path: Path):
    """The authors' table leaves out ultralm-65b (no scores): that matters only to a pool with
    its answers (they are dropped), so a pool without it gets no warning; kinship.json still
    lists it. The summary counts in the singular where there is one."""
    twice = [completion("gpt-4", "A"), completion("gpt-4", "A2"), completion("bard", "B")]
    result = karma_build(*binarize(jsonl(tmp_path, [*GOOD, row("Twice?", twice)])), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (
        "Completions left out: 0 of unknown models (none), 0 empty, 1 repeat (a model answering an "
        "instruction again)." in result.stdout
    )
    doc = json.loads((tmp_path / "out" / "kinship.json").read_text())
    assert doc["excluded"]["ultralm-65b"].startswith("missing score for")


def test_warnings_come_once_after_a_successful_run(tmp_path: Path):
    # ultralm-65b (no scores in the authors' table) answers twice: one warning, once.
    answered = [completion("gpt-4", "A"), completion("ultralm-65b", "C"), completion("bard", "B")]
    pool = [row("Asked once?", answered), row("Asked again?", answered), *GOOD]
    result = karma_build(*binarize(jsonl(tmp_path, pool)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "karma-build: warning: left out ultralm-65b: missing score for ifeval, mmlu_stem, "
        "mmlu_pro, hellaswag, arc_easy, arc_challenge"
    ]
