"""The preference check (issue 18 item 6): S_pref against a judge's win rates.

The maths of core/preference.py on hand-made numbers; then through the CLI (`report` and
`binarize --preference`) on judge tables made here and on AlpacaEval's own leaderboards, taken
from the alpaca-eval 0.6.6 wheel (`pip download --no-deps`, once a session; the test is skipped
when the package registry cannot be reached). The package is never imported.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli import assert_fails, karma_build, snapshot
from scipy import stats

from karma_plugin.cli import main
from karma_plugin.core import preference
from karma_plugin.core.score_table import read_scores
from karma_plugin.preference_inputs import shipped_names

# --- the maths ------------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(20, 9)).astype(float)
    y = rng.normal(size=(20, 9))
    got = preference.spearman(x, y)
    want = [stats.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(got, want)
    assert np.isnan(preference.spearman(np.ones(4), np.arange(4.0)))


def test_agreement_and_config_pairs_by_hand():
    s = np.array([0.9, 0.7, 0.5, 0.3])
    win = np.array([30.0, 10.0, 20.0, 5.0])  # the judge swaps the 2nd and 3rd model
    draws = np.tile(s, (50, 1))  # no noise in S_pref
    pairs = preference.model_pairs(np.array([1, 1, 1, 0, 2]), np.array([2, 2, 2, 3, 3]))
    assert pairs.chosen.tolist() == [0, 1, 2] and pairs.rejected.tolist() == [3, 2, 3]
    assert pairs.weight.tolist() == [1, 3, 1]
    rlaif = preference.model_pairs(np.array([2]), np.array([1]), by_s_pref=False)
    check = preference.preference_check(
        s, draws, win, None, {"k_sim": pairs, "rlaif": rlaif}, seed=1
    )
    # 6 pairs, one disagreement (models 1 and 2); rho from the ranks 4,3,2,1 vs 4,2,3,1.
    assert check.pairwise.value == pytest.approx(5 / 6) and check.pairwise.pairs == 6
    assert check.spearman.value == pytest.approx(0.8)
    # k_sim: 0-3 agrees (1), 1-2 disagrees (3 instructions), 2-3 agrees (1) -> 2 / 5.
    assert check.configs["k_sim"].value == pytest.approx(0.4)
    assert check.configs["k_sim"].pairs == 5
    # Neither table is noisy here: the intervals are the points.
    assert check.configs["k_sim"].interval == (pytest.approx(0.4), pytest.approx(0.4))
    # rlaif chose model 2 over model 1, which the judge prefers too.
    assert check.configs["rlaif"].value == 1.0


def test_noise_widens_the_intervals_and_a_seed_repeats_them():
    s = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    rng = np.random.default_rng(0)
    draws = s + rng.normal(0, 0.15, size=(400, 5))
    win = np.array([50.0, 40.0, 30.0, 20.0, 10.0])
    stderr = np.full(5, 8.0)
    a = preference.preference_check(s, draws, win, stderr, seed=7)
    b = preference.preference_check(s, draws, win, stderr, seed=7)
    assert a == b
    assert a.spearman.value == 1.0 and a.pairwise.value == 1.0
    lo, hi = a.pairwise.interval
    assert lo < 0.9 and hi == 1.0
    exact = preference.preference_check(s, np.tile(s, (400, 1)), win, None, seed=7)
    assert exact.pairwise.interval == (1.0, 1.0)


def test_too_few_models_leaves_spearman_undefined():
    check = preference.preference_check(np.array([0.2, 0.8]), np.zeros((5, 2)), np.ones(2))
    assert check.spearman.value is None and check.spearman.interval is None
    assert check.pairwise.value is None and check.pairwise.pairs == 0  # the judge ties


# --- through the CLI, on judge tables made here ----------------------------------------------


def paper_s_pref() -> dict[str, float]:
    from karma_plugin.core.kinship import compute_kinship

    kin = compute_kinship(read_scores("paper"))
    return dict(zip(kin.models, kin.s_pref.tolist(), strict=True))


def judge_csv(path: Path, win: dict[str, float], header: str = ",win,se") -> Path:
    lines = [header] + [f"{m},{w:.6g},0.5" for m, w in win.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_report_with_a_judge_that_agrees_and_one_that_disagrees(tmp_path, runner):
    s_pref = paper_s_pref()
    agrees = judge_csv(tmp_path / "agrees.csv", {m: 10 + 50 * s for m, s in s_pref.items()})
    flipped = judge_csv(tmp_path / "flipped.csv", {m: 60 - 50 * s for m, s in s_pref.items()})
    for judge, rho in ((agrees, 1.0), (flipped, -1.0)):
        out = tmp_path / f"report-{judge.stem}"
        result = runner.invoke(
            main,
            [
                "report",
                "--preference",
                str(judge),
                "--preference-columns",
                "win_rate=win",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"Preference check (16 models of {judge}, win): Spearman {rho:.2f}" in result.stdout
        text = (out / "report.md").read_text(encoding="utf-8")
        assert "## S_pref against judged preference (--preference)" in text
        assert "no standard error (taken as exact)" in text
        assert (out / "preference.png").is_file()
        share = "100.0%" if rho > 0 else "0.0%"
        assert f"| pairwise agreement (all pairs) | {share} |" in text


def test_binarize_records_the_check_and_the_card_shows_it(tmp_path, runner):
    s_pref = paper_s_pref()
    # A judge that agrees with S_pref except on the two closest models of the table.
    win = {m: 10 + 50 * s for m, s in s_pref.items()}
    close = sorted(s_pref, key=s_pref.get)
    gaps = [(s_pref[b] - s_pref[a], a, b) for a, b in itertools.pairwise(close)]
    _, a, b = min(gaps)
    win[a], win[b] = win[b], win[a]
    judge = judge_csv(tmp_path / "judge.csv", win, header="name,rate,err")
    out = tmp_path / "data"
    result = runner.invoke(
        main,
        [
            "binarize",
            "--preference",
            str(judge),
            "--preference-columns",
            "model=name,win_rate=rate,stderr=err",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text(encoding="utf-8"))
    check = doc["preference_check"]
    assert check["table"] == "judge.csv"  # relative, as the card publishes paths
    assert (check["win_rate_column"], check["stderr_column"]) == ("rate", "err")
    assert len(check["matched"]) == 16 and check["unmatched"] == []
    assert check["pairwise_agreement"]["pairs"] == 120
    assert check["pairwise_agreement"]["value"] == pytest.approx(119 / 120, abs=1e-6)
    assert set(check["configs"]) == {"k_score", "k_sim", "k_score_sim", "rlaif"}
    for config, fig in check["configs"].items():
        assert 0 <= fig["interval"][0] <= fig["value"] <= 1, config
        assert fig["pairs"] > 0
    # The disagreeing pair: a KARMA config that forms it loses exactly its instructions.
    import pyarrow.parquet as pq

    for config in ("k_score", "k_sim", "k_score_sim"):
        files = sorted((out / config).glob("*_prefs-*.parquet"))
        pairs = [
            {c, r}
            for f in files
            for c, r in zip(
                *pq.read_table(f, columns=["chosen_model", "rejected_model"]).to_pydict().values(),
                strict=True,
            )
        ]
        fig = check["configs"][config]
        assert fig["pairs"] == len(pairs), config
        assert fig["value"] == pytest.approx(1 - pairs.count({a, b}) / len(pairs), abs=1e-6)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## S_pref against judged preference" in card
    assert "| agreement over `k_sim`'s pairs |" in card
    assert "Preference check (16 models of judge.csv, rate)" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--preference-columns", "win_rate=win"], ["--preference-columns needs --preference"]),
        (["--preference-name", "a=b"], ["--preference-name needs --preference"]),
        (["--preference", "J"], ["--preference needs --preference-columns win_rate=COLUMN"]),
        (["--preference", "J", "--preference-columns", "stderr=se"], ["no win_rate=COLUMN"]),
        (["--preference", "J", "--preference-columns", "win_rate=nope"], ["has no column 'nope'"]),
        (["--preference", "J", "--preference-columns", "win_rate=win,x=se"], ["unknown key 'x'"]),
        (["--preference", "J", "--preference-columns", "win_rate=#9"], ["has 3 columns"]),
        (
            [
                "--preference",
                "J",
                "--preference-columns",
                "win_rate=win",
                "--preference-name",
                "nobody=gpt-4",
            ],
            ["--preference-name", "has no model 'nobody'"],
        ),
        (
            [
                "--preference",
                "J",
                "--preference-columns",
                "win_rate=win",
                "--preference-name",
                "gpt-4=nobody",
            ],
            ["the score table has no model 'nobody'"],
        ),
        (["--preference", "missing.csv", "--preference-columns", "win_rate=win"], ["not found"]),
    ],
)
def test_preference_errors_are_one_line(tmp_path, args, fragments):
    judge_csv(tmp_path / "J.csv", {"gpt-4": 30.0, "alpaca-7b": 5.0, "bard": 20.0})
    args = [a if a != "J" else "J.csv" for a in args]
    before = snapshot(tmp_path)
    result = karma_build("report", *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert_fails(result, 2, *fragments)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        ([",win,se", "gpt-4,30,1", "gpt-4,20,1"], ["model 'gpt-4' appears twice"]),
        ([",win,se", "gpt-4,lots,1", "bard,20,1"], ["non-numeric win_rate 'lots'"]),
        ([",win,se", "gpt-4,30,-1", "bard,20,1"], ["a stderr of", "is negative"]),
        ([",win,se", "gpt-4,30,1", "someone,20,1"], ["1 of the score table's models are in"]),
    ],
)
def test_bad_judge_tables_are_one_line(tmp_path, runner, rows, fragments):
    judge = tmp_path / "j.csv"
    judge.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(
        main,
        [
            "binarize",
            "--preference",
            str(judge),
            "--preference-columns",
            "win_rate=win,stderr=se",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("karma-build: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "out").exists()


# --- AlpacaEval's leaderboards, from the alpaca-eval 0.6.6 wheel -----------------------------

LEADERBOARDS = {
    "alpaca_eval_2": "alpaca_eval/leaderboards/data_AlpacaEval_2/"
    "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv",
    "alpaca_eval_1": "alpaca_eval/leaderboards/data_AlpacaEval/alpaca_eval_gpt4_leaderboard.csv",
}


@pytest.fixture(scope="session")
def alpaca_eval(tmp_path_factory) -> dict[str, Path]:
    """AlpacaEval's leaderboard CSVs, out of the wheel (downloaded, never installed)."""
    root = tmp_path_factory.mktemp("alpaca-eval")
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "alpaca-eval==0.6.6",
                "-d",
                str(root),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the package registry cannot be reached (pip download alpaca-eval): {exc}")
    (wheel,) = root.glob("alpaca_eval-0.6.6-*.whl")
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for name, member in LEADERBOARDS.items():
            out[name] = root / f"{name}.csv"
            out[name].write_bytes(archive.read(member))
    return out


def independent_check(kin_doc: dict, csv_path: Path, column: str) -> tuple[float, float]:
    """Spearman and pairwise agreement recomputed here from kinship.json's S_pref and the
    judge CSV (scipy for the correlation)."""
    import csv

    with csv_path.open(encoding="utf-8") as handle:
        rows = {r[""]: r for r in csv.DictReader(handle)}
    matched = kin_doc["preference_check"]["matched"]
    s = np.array([kin_doc["s_pref"][m] for m in matched])
    w = np.array([float(rows[j][column]) for j in matched.values()])
    a, b = np.triu_indices(len(s), k=1)
    agree = np.sign(s[a] - s[b]) == np.sign(w[a] - w[b])
    return float(stats.spearmanr(s, w).statistic), float(agree.mean())


@pytest.mark.parametrize(
    ("board", "column", "stderr"),
    [
        ("alpaca_eval_2", "length_controlled_winrate", "standard_error"),
        ("alpaca_eval_2", "win_rate", "standard_error"),
        ("alpaca_eval_1", "win_rate", "standard_error"),
    ],
)
def test_the_authors_table_against_alpaca_eval(
    alpaca_eval, tmp_path, runner, board, column, stderr
):
    out = tmp_path / "data"
    result = runner.invoke(
        main,
        [
            "binarize",
            "--preference",
            str(alpaca_eval[board]),
            "--preference-columns",
            f"win_rate={column},stderr={stderr}",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "kinship.json").read_text(encoding="utf-8"))
    check = doc["preference_check"]
    names = shipped_names()
    # Every match is one of the shipped names (AlpacaEval's entries of the authors' models).
    assert all(names[j] == m for m, j in check["matched"].items())
    if board == "alpaca_eval_2":
        assert len(check["matched"]) == 12
        assert sorted(check["unmatched"]) == ["bard", "mpt-30b-chat", "starchat", "wizardlm-7b"]
    rho, share = independent_check(doc, alpaca_eval[board], column)
    assert check["spearman"]["value"] == pytest.approx(rho, abs=1e-6)
    assert check["pairwise_agreement"]["value"] == pytest.approx(share, abs=1e-6)
    lo, hi = check["spearman"]["interval"]
    assert lo <= hi
    assert set(check["configs"]) == {"k_score", "k_sim", "k_score_sim", "rlaif"}
