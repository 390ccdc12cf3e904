import math

import numpy as np
import pytest

from karma_plugin.core.benchmarks import BENCHMARKS, categories_for, resolve_benchmarks
from karma_plugin.core.score_table import (
    format_score_csv,
    parse_score,
    parse_score_csv,
    read_scores,
)
from karma_plugin.errors import InputError


def test_parse_score_scales():
    assert parse_score("86.40%") == pytest.approx(0.864)
    assert parse_score("0.6371") == pytest.approx(0.6371)
    assert parse_score(" 85.37 ") == pytest.approx(85.37)
    assert math.isnan(parse_score(""))
    with pytest.raises(ValueError):
        parse_score("high")


def test_paper_table_has_bom_percent_strings_and_an_empty_row():
    table = read_scores("paper")
    assert table.benchmarks == BENCHMARKS
    assert len(table.models) == 17
    assert table.models[0] == "gpt-4"  # the byte-order mark is not part of the header
    row = table.values[table.models.index("gpt-4")]
    assert row[0] == pytest.approx(85.37)
    assert row[1] == pytest.approx(0.864)  # "86.40%"
    assert row[2] == pytest.approx(0.6371)
    assert np.isnan(table.values[table.models.index("ultralm-65b")]).all()


def test_round_trip_through_our_csv_format():
    table = read_scores("paper")
    again = parse_score_csv(format_score_csv(table))
    assert again.models == table.models
    np.testing.assert_allclose(again.values, table.values, rtol=1e-5)


def test_stderr_columns_and_n_items_row_round_trip():
    """docs/design.md §4: <benchmark>_stderr columns and an n_items row (not a model)."""
    text = "model,IFEval,arc_easy,ifeval_stderr,ARC-easy_stderr\na,80,0.5,1.5,0.01\nb,60,0.4,,N/A\n"
    text += 'n_items,541,"2,376",,\n'
    table = parse_score_csv(text)
    assert table.models == ("a", "b")
    assert table.n_items == {"ifeval": 541, "arc_easy": 2376}
    np.testing.assert_allclose(table.stderr, [[1.5, 0.01], [np.nan, np.nan]])
    again = parse_score_csv(format_score_csv(table))
    assert again.n_items == table.n_items
    np.testing.assert_allclose(again.stderr, table.stderr)
    assert format_score_csv(again).splitlines() == [
        "model,ifeval,arc_easy,ifeval_stderr,arc_easy_stderr",
        "a,80,0.5,1.5,0.01",
        "b,60,0.4,,",
        "n_items,541,2376,,",
    ]
    # A table without them is written exactly as before.
    assert format_score_csv(parse_score_csv("model,ifeval\na,1\n")) == "model,ifeval\na,1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model,ifeval\n", "no model rows"),
        ("model,ifeval, ?? \na,1,2\n", r"column 3 \('\?\?'\) has no benchmark name"),
        ("model,ifeval\nn_items,541\n", "no model rows"),
        ("model,ifeval,colour_stderr\na,1,2\n", "colour_stderr without its colour column"),
        ("model,ifeval,??_stderr\na,1,2\n", "'??_stderr' is not the standard error"),
        ("model,ifeval,arc_easy_stderr\na,1,2\n", "arc_easy_stderr without its arc_easy column"),
        ("model,ifeval,ifeval_stderr\na,1,-2\n", "not a standard error"),
        ("model,ifeval\na,1\nn_items,5.5\n", "not a whole number of items"),
        ("model,ifeval\na,1\nn_items,5\nn_items,6\n", "the n_items row appears twice"),
        ("model,ifeval\na,1\na,2\n", "appears twice"),
        ("model,ifeval\na,lots\n", "non-numeric ifeval score"),
        ("model,MMLU,mmlu_stem\na,1,2\n", "'mmlu_stem' appears twice"),
    ],
)
def test_bad_tables_name_the_problem(text, message):
    with pytest.raises(InputError, match=message):
        parse_score_csv(text, source="t.csv")


def test_any_benchmark_column_is_kept_after_the_six():
    table = parse_score_csv("model,BBH,MATH Lvl 5,IFEval,bbh raw\na,1,2,3,4\n")
    assert table.benchmarks == ("ifeval", "bbh", "math_lvl_5", "bbh_raw")
    np.testing.assert_array_equal(table.values, [[3, 1, 2, 4]])
    with pytest.raises(InputError, match="benchmark 'bbh' appears twice"):
        parse_score_csv("model,BBH, bbh \na,1,2\n")


def test_categories_and_subsets():
    assert resolve_benchmarks("knowledge") == ("mmlu_stem", "mmlu_pro")
    assert resolve_benchmarks("reasoning") == ("hellaswag", "arc_easy", "arc_challenge")
    assert resolve_benchmarks("instruction_following") == ("ifeval",)
    assert resolve_benchmarks("arc_challenge,ifeval") == ("ifeval", "arc_challenge")
    assert resolve_benchmarks("all") == BENCHMARKS
    with pytest.raises(InputError, match="unknown benchmark"):
        resolve_benchmarks("gsm8k")
    have = ("ifeval", "mmlu_pro", "bbh", "gpqa")
    cats = categories_for(have, {"hard": ["BBH", "gpqa"], "knowledge": ["mmlu_pro", "gpqa"]})
    assert resolve_benchmarks("all", have, cats) == have
    assert resolve_benchmarks("hard", have, cats) == ("bbh", "gpqa")
    assert resolve_benchmarks("knowledge", have, cats) == ("mmlu_pro", "gpqa")
    assert resolve_benchmarks("bbh,instruction_following", have, cats) == ("ifeval", "bbh")
    # One of the six the table lacks is kept, for the kinship to report as missing.
    assert resolve_benchmarks("reasoning", have, cats) == ("hellaswag", "arc_easy", "arc_challenge")
    with pytest.raises(InputError, match=r"choose from: ifeval, mmlu_pro, bbh, gpqa, knowledge"):
        resolve_benchmarks("musr", have, cats)
    with pytest.raises(InputError, match="--category hard: 'musr' is not a benchmark"):
        categories_for(have, {"hard": ["musr"]})
