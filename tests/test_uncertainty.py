"""`--bootstrap N`: error bars from the scores' sampling noise (issue 18), through the CLI.

Each noise source (lm-eval samples: paired item bootstrap; standard errors from a score table
that `karma-build scores` wrote; a plain table's proportions of n items), what binarize reports
per config (a dominated table is perfectly stable, two models within noise are not), refusals,
determinism, and that without --bootstrap nothing changes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from cli import assert_fails, karma_build, snapshot
from lmeval_samples import mc_task
from lmeval_samples import write_run as write_samples_run
from synthetic_pool import make_row
from test_lmeval_scores import layout_0413
from test_lmeval_scores import write_run as write_results_run

from karma_plugin.cli import main
from karma_plugin.core.benchmarks import ITEMS

DRAWS = "200"


def invoke(runner, *args: str):
    result = runner.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def uncertainty(runner, tmp_path: Path, *args: str, name: str = "k.json") -> dict:
    out = tmp_path / name
    invoke(runner, "kinship", *args, "--json", str(out))
    return json.loads(out.read_text())["uncertainty"]


def width(unc: dict, model: str) -> float:
    lo, hi = unc["s_pref"][model]
    return hi - lo


def order_p(unc: dict, higher: str, lower: str) -> float:
    return next(p for a, b, p in unc["s_pref_order"] if (a, b) == (higher, lower))


# --- noise sources ---------------------------------------------------------------------------


def test_binomial_on_the_authors_table(runner, tmp_path):
    result = invoke(runner, "kinship", "--bootstrap", DRAWS, "--json", str(tmp_path / "k.json"))
    doc = json.loads((tmp_path / "k.json").read_text())
    unc = doc["uncertainty"]
    assert unc["method"] == "binomial"
    assert unc["draws"] == 200 and unc["seed"] == 42 and unc["interval"] == 0.95
    assert unc["items"] == ITEMS  # the six karma tasks' full sizes
    assert "541" in unc["description"] and "12,032" in unc["description"]
    assert set(unc["s_pref"]) == set(doc["models"]) == set(unc["kinship"])
    for model, (lo, hi) in unc["s_pref"].items():
        assert 0 <= lo < hi <= 1, model
        assert unc["kinship"][model][model] == [1.0, 1.0]
    n = len(doc["models"])
    assert len(unc["s_pref_order"]) == n * (n - 1) // 2
    ranked = sorted(doc["s_pref"], key=doc["s_pref"].get, reverse=True)
    assert unc["s_pref_order"][0][:2] == ranked[:2]  # higher model first, by rank
    assert order_p(unc, "gpt-4", "starchat") == 1.0
    # The terminal shows each model's interval and the method.
    gpt4 = next(line for line in result.stdout.splitlines() if line.startswith("gpt-4 "))
    lo, hi = unc["s_pref"]["gpt-4"]
    assert f"[{lo:.3f}, {hi:.3f}]" in gpt4
    assert "Error bars (binomial, 200 draws, seed 42)" in result.stdout


def test_fewer_items_widen_the_intervals(runner, tmp_path):
    full = uncertainty(runner, tmp_path, "--bootstrap", DRAWS, name="full.json")
    few = [f"--items={b}=250" for b in ITEMS]
    small = uncertainty(runner, tmp_path, "--bootstrap", DRAWS, *few, name="small.json")
    assert small["items"] == dict.fromkeys(ITEMS, 250)
    for model in full["s_pref"]:
        assert width(small, model) > width(full, model), model


def write_score_table(path: Path, rows: dict[str, tuple[float, ...]], header: str) -> Path:
    lines = [header] + [",".join([m, *map(str, v)]) for m, v in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_stderr_columns_and_scale(runner, tmp_path):
    """A table's <bench>_stderr columns are the noise; a 0-100 column is a percentage."""
    header = "model,ifeval,arc_easy,ifeval_stderr,arc_easy_stderr"
    scores = {"a": (80.0, 0.7), "b": (60.0, 0.6), "c": (30.0, 0.4), "d": (50.0, 0.2)}

    def table(name: str, se_if: float, se_arc: float) -> Path:
        rows = {m: (*v, se_if, se_arc) for m, v in scores.items()}
        return write_score_table(tmp_path / name, rows, header)

    tight = uncertainty(
        runner, tmp_path, "--scores", str(table("t.csv", 0.1, 0.001)), "--bootstrap", DRAWS,
        name="t.json",
    )  # fmt: skip
    wide = uncertainty(
        runner, tmp_path, "--scores", str(table("w.csv", 5.0, 0.05)), "--bootstrap", DRAWS,
        name="w.json",
    )  # fmt: skip
    assert tight["method"] == wide["method"] == "stderr"
    assert tight["items"] == {"ifeval": None, "arc_easy": None}  # no n given, none needed
    for model in scores:
        assert width(wide, model) > 5 * width(tight, model), model


def test_a_percentage_is_drawn_as_a_fraction(runner, tmp_path):
    """The same scores on a 0-100 scale and as fractions: the same binomial noise."""
    scores = {"a": (0.8, 0.7), "b": (0.6, 0.65), "c": (0.3, 0.4), "d": (0.5, 0.2)}
    fractions = write_score_table(tmp_path / "f.csv", scores, "model,ifeval,arc_easy")
    percent = {m: (100 * x, 100 * y) for m, (x, y) in scores.items()}
    percentages = write_score_table(tmp_path / "p.csv", percent, "model,ifeval,arc_easy")
    items = ["--items=ifeval=100", "--items=arc_easy=100", "--bootstrap", DRAWS]
    one = uncertainty(runner, tmp_path, "--scores", str(fractions), *items, name="f.json")
    two = uncertainty(runner, tmp_path, "--scores", str(percentages), *items, name="p.json")
    for model in scores:
        assert two["s_pref"][model] == pytest.approx(one["s_pref"][model], abs=1e-5)
    assert width(one, "b") > 0.05  # 100 items: wide, and not 100 times narrower


def test_scores_writes_stderr_and_n_items_that_bootstrap_uses(runner, tmp_path):
    runs = tmp_path / "runs"
    for i, model in enumerate(("org/a", "org/b", "org/c")):
        scores = {"mmlu_pro": 0.2 + 0.2 * i, "arc_easy": 0.8 - 0.25 * i, "ifeval": 0.3 + 0.1 * i}
        doc = layout_0413(model, scores)
        doc["n-samples"] = {
            f"karma_{b}": {"original": 500, "effective": 100 if b == "arc_easy" else 500}
            for b in scores
        }
        write_results_run(runs, doc, f"2026-01-0{i + 1}T00-00-00.0")
    out = tmp_path / "scores.csv"
    invoke(runner, "scores", str(runs), "-o", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == (
        "model,ifeval,mmlu_pro,arc_easy,ifeval_stderr,mmlu_pro_stderr,arc_easy_stderr"
    )
    assert lines[1] == "org/a,0.3,0.2,0.8,0.01,0.02,0.02"  # the layout's *_stderr values
    assert lines[-1] == "n_items,500,500,100,,,"
    unc = uncertainty(runner, tmp_path, "--scores", str(out), "--bootstrap", DRAWS)
    assert unc["method"] == "stderr"
    assert unc["items"] == {"ifeval": 500, "mmlu_pro": 500, "arc_easy": 100}
    # Without the stderr columns the n_items row drives the binomial model.
    bare = tmp_path / "bare.csv"
    bare.write_text(
        "\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n", encoding="utf-8"
    )
    binomial = uncertainty(
        runner, tmp_path, "--scores", str(bare), "--bootstrap", DRAWS, name="b.json"
    )
    assert binomial["method"] == "binomial"
    assert binomial["items"] == {"ifeval": 500, "mmlu_pro": 500, "arc_easy": 100}


def items_answered(n: int, right: int) -> list[int | None]:
    """Answers to ``n`` 4-option items whose gold is A: the first ``right`` right (A), the
    rest wrong (B)."""
    return [0 if i < right else 1 for i in range(n)]


def test_item_bootstrap_is_paired(runner, tmp_path):
    """a is right on every item b is right on, and on 10 more of 400: resampling the same
    items for both keeps a above b in every draw; drawing them independently (binomial, the
    same n) does not. That is what the paired bootstrap knows and the binomial model cannot."""
    n = 400
    right = {"a": 210, "b": 200, "c": 100}
    root = tmp_path / "samples"
    for model, k in right.items():
        task = mc_task([0] * n, [4] * n, items_answered(n, k))
        write_samples_run(root, model, "0.4.13", {"karma_arc_easy": task})
    table = write_score_table(
        tmp_path / "s.csv", {m: (k / n,) for m, k in right.items()}, "model,arc_easy"
    )
    common = ["--scores", str(table), "--benchmarks", "arc_easy", "--bootstrap", DRAWS]
    paired = uncertainty(
        runner, tmp_path, *common, "--metric", "cosine", "--samples", str(root), name="p.json"
    )
    assert paired["method"] == "item_bootstrap"
    assert paired["items"] == {"arc_easy": n}
    assert "paired" in paired["description"]
    binomial = uncertainty(runner, tmp_path, *common, f"--items=arc_easy={n}", name="b.json")
    assert binomial["method"] == "binomial"
    assert order_p(paired, "a", "b") == 1.0
    assert order_p(binomial, "a", "b") < 0.95
    # The same samples with the sample-level kinship (ec) serve the bootstrap too.
    ec = uncertainty(runner, tmp_path, *common, "--samples", str(root), name="ec.json")
    assert ec["method"] == "item_bootstrap" and order_p(ec, "a", "b") == 1.0


# --- binarize: stability per config ----------------------------------------------------------


def write_pool(path: Path, models: tuple[str, ...], rows: int = 40) -> Path:
    rng = random.Random(0)
    lines = [
        make_row(rng, n_completions=len(models), models=models, response_words=8, index=i)
        for i in range(rows)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def binarize(runner, tmp_path: Path, table: Path, pool: Path, out: str, *extra: str) -> dict:
    invoke(
        runner, "binarize", "--dataset", str(pool), "--scores", str(table),
        "--out", str(tmp_path / out), *extra,
    )  # fmt: skip
    return json.loads((tmp_path / out / "kinship.json").read_text())


HEADER = "model,ifeval,mmlu_pro,arc_easy"


def test_a_dominated_table_is_perfectly_stable(runner, tmp_path):
    scores = {
        "a": (0.9, 0.8, 0.9),
        "b": (0.6, 0.5, 0.7),
        "c": (0.3, 0.3, 0.45),
        "d": (0.1, 0.2, 0.3),
    }
    table = write_score_table(tmp_path / "s.csv", scores, HEADER)
    pool = write_pool(tmp_path / "pool.jsonl", ("a", "b", "c"))
    many = [f"--items={b}=1000000" for b in ("ifeval", "mmlu_pro", "arc_easy")]
    doc = binarize(runner, tmp_path, table, pool, "out", "--bootstrap", DRAWS, *many)
    unc = doc["uncertainty"]
    assert set(unc["stability"]) == set(unc["sure_pairs"]) == set(doc["counts"])
    for config in ("k_score", "k_sim", "k_score_sim"):
        assert doc["counts"][config]["pairs"] == 40
        assert unc["stability"][config] == 1.0, config
        assert unc["sure_pairs"][config] == 1.0, config


def test_two_models_within_noise(runner, tmp_path):
    """a and b differ by less than their noise (200 items): the pair's orientation flips from
    draw to draw, and their S_pref intervals overlap."""
    scores = {"a": (0.52, 0.5, 0.51), "b": (0.5, 0.52, 0.5), "c": (0.1, 0.2, 0.15)}
    table = write_score_table(tmp_path / "s.csv", scores, HEADER)
    pool = write_pool(tmp_path / "pool.jsonl", ("a", "b"))
    few = [f"--items={b}=200" for b in ("ifeval", "mmlu_pro", "arc_easy")]
    doc = binarize(runner, tmp_path, table, pool, "out", "--bootstrap", DRAWS, *few)
    unc = doc["uncertainty"]
    for config in ("k_score", "k_sim", "k_score_sim"):
        assert doc["counts"][config]["pairs"] == 40
        assert unc["stability"][config] < 0.8, config
        assert unc["sure_pairs"][config] == 0.0, config
    (a_lo, a_hi), (b_lo, b_hi) = unc["s_pref"]["a"], unc["s_pref"]["b"]
    assert a_lo < b_hi and b_lo < a_hi
    assert 0.2 < order_p(unc, *sorted("ab", key=doc["s_pref"].get, reverse=True)) < 0.8


def test_binarize_summary_and_report(runner, tmp_path):
    pool = write_pool(tmp_path / "pool.jsonl", ("gpt-4", "bard", "alpaca-7b", "vicuna-33b"))
    out = tmp_path / "out"
    result = invoke(
        runner, "binarize", "--dataset", str(pool), "--out", str(out), "--bootstrap", DRAWS,
        "--report",
    )  # fmt: skip
    doc = json.loads((out / "kinship.json").read_text())
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Stability over 200"))
    for config, line in zip(doc["counts"], lines[start + 1 :], strict=False):
        share = doc["uncertainty"]["stability"][config]
        assert line.split()[0] == config
        assert f"{share:.1%} of the pairs unchanged per draw" in line
    assert (out / "figures" / "report.md").is_file()  # binarize --report: inside OUT
    report = invoke(
        runner, "report", "--out", str(tmp_path / "rep"), "--bootstrap", DRAWS, "--seed", "3"
    )
    assert "Error bars: binomial, 200 draws (seed 3)" in report.stdout


# --- refusals, determinism, no change without --bootstrap -----------------------------------


@pytest.mark.parametrize("draws", ["0", "1"])
@pytest.mark.parametrize("command", ["kinship", "binarize", "report"])
def test_fewer_than_two_draws_refused(tmp_path, command, draws):
    out = ["--out", str(tmp_path / "out")] if command != "kinship" else []
    before = snapshot(tmp_path)
    result = karma_build(command, "--bootstrap", draws, *out, cwd=tmp_path)
    assert_fails(result, 2, f"--bootstrap needs at least 2 draws, got {draws}")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--items", "gsm8k=10"], "--items: the score table has no benchmark 'gsm8k'"),
        (["--items", "??=10"], "--items: '??' is not a benchmark name"),
        (["--items", "ifeval=0"], "--items ifeval: expected a whole number of items, got '0'"),
        (["--items", "ifeval"], "--items expects BENCH=N"),
    ],
)
def test_bad_items_refused(tmp_path, args, message):
    assert_fails(karma_build("kinship", "--bootstrap", "5", *args, cwd=tmp_path), 2, message)


def test_scores_that_are_not_proportions_refused(tmp_path):
    table = write_score_table(tmp_path / "s.csv", {"a": (250.0,), "b": (120.0,)}, "model,arc_easy")
    result = karma_build("kinship", "--scores", table, "--bootstrap", "5", cwd=tmp_path)
    assert_fails(result, 2, "the arc_easy scores are not proportions")


def test_same_seed_same_draws(runner, tmp_path):
    one = uncertainty(runner, tmp_path, "--bootstrap", "50", "--seed", "7", name="1.json")
    two = uncertainty(runner, tmp_path, "--bootstrap", "50", "--seed", "7", name="2.json")
    other = uncertainty(runner, tmp_path, "--bootstrap", "50", "--seed", "8", name="3.json")
    assert one == two
    assert other["seed"] == 8 and other["s_pref"] != one["s_pref"]


def folder_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (".karma-build", "kinship.json", "README.md")
    }


def test_without_bootstrap_nothing_changes(runner, tmp_path):
    """--bootstrap adds the 'uncertainty' key and nothing else: the same pairs, files and
    kinship part; without it the key is absent."""
    plain = tmp_path / "plain"
    drawn = tmp_path / "drawn"
    invoke(runner, "binarize", "--out", str(plain))
    invoke(runner, "binarize", "--out", str(drawn), "--bootstrap", "20")
    assert folder_files(plain) == folder_files(drawn)
    a = json.loads((plain / "kinship.json").read_text())
    b = json.loads((drawn / "kinship.json").read_text())
    assert "uncertainty" not in a and "uncertainty" in b
    del b["uncertainty"]
    assert a == b
    invoke(runner, "kinship", "--json", str(tmp_path / "k.json"))
    assert "uncertainty" not in json.loads((tmp_path / "k.json").read_text())


@pytest.mark.parametrize("strategy", ["k_score", "k_sim", "k_score_sim", "rlaif"])
def test_fast_stability_equals_pairing_every_instruction_on_every_draw(strategy):
    """The shortcuts of PairingDraws (a set of models paired once; a pair that still wins by a
    strict margin kept without pairing again; many draws per call) give exactly what pairing
    every instruction on every draw gives, here on noisy draws where many pairs change."""
    import numpy as np

    from karma_plugin.core import pairing
    from karma_plugin.core.kinship import cosine_kinship, minmax_normalize, preference_scores
    from karma_plugin.core.uncertainty import PairingDraws

    rng = np.random.default_rng(5)
    m, n, draws, tau = 9, 600, 40, 0.6
    names = tuple(f"model-{i}" for i in range(m))
    scores = rng.random((m, 4))
    slots = np.argsort(rng.random((n, m)), axis=1)[:, :4]
    slots[rng.random((n, 4)) < 0.15] = -1  # unusable completions
    ratings = rng.integers(1, 6, (n, 4)).astype(float)
    draw_u = rng.random(n)
    noisy = minmax_normalize(scores[None] + rng.normal(0, 0.08, (draws, m, 4)))
    s_draws, k_draws = preference_scores(noisy), cosine_kinship(noisy)
    point_norm = minmax_normalize(scores)
    point = pairing.model_order(names, preference_scores(point_norm), cosine_kinship(point_norm))

    def select(order):
        if strategy == "rlaif":
            return pairing.rlaif(slots, ratings, order, draw_u, tau)
        return getattr(pairing, strategy)(slots, order, tau)

    at_point = select(point)
    paired = at_point.reason == 0
    rows = np.arange(n)
    same = []
    for d in range(draws):
        sel = select(pairing.model_order(names, s_draws[d], k_draws[d]))
        kept = (
            (sel.reason == 0)
            & (slots[rows, sel.chosen] == slots[rows, at_point.chosen])
            & (slots[rows, sel.rejected] == slots[rows, at_point.rejected])
        )
        same.append(kept[paired].mean())
    fast, _ = PairingDraws(names, point, s_draws, k_draws, tau).stability(
        strategy, slots, at_point, paired, ratings, draw_u
    )
    assert 0.2 < np.mean(same) < 0.98  # the draws do move pairs
    assert fast == pytest.approx(np.mean(same), abs=1e-12)
