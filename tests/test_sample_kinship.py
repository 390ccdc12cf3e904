"""Sample-level kinship (error consistency, CAPA) from hand-built lm-eval samples files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lmeval_samples import ifeval_line, mc_task, write_run
from lmsim.metrics import CAPA, EC

from karma_plugin.cli import main
from karma_plugin.lmeval.samples import (
    error_consistency,
    one_hot,
    read_samples,
    sample_kinship,
)

VERSIONS = ("0.4.11", "0.4.13")
N = 1200


def answers_for(golds, n_options, correct, shift):
    """Right where ``correct``, else a wrong letter chosen by ``shift`` (per-model mistakes)."""
    return [
        g if ok else (g + 1 + s % (k - 1)) % k
        for g, k, ok, s in zip(golds, n_options, correct, shift, strict=True)
    ]


@pytest.fixture(scope="module")
def pool():
    """Items of two multiple-choice tasks and IFEval, and four models' behaviour:
    a and b are right and wrong on exactly the same items (b picks other wrong letters),
    c is independent of a, w is weak."""
    rng = np.random.default_rng(7)
    tasks = {}
    for task, choices in (("karma_arc_easy", (3, 4, 5)), ("karma_mmlu_pro", (10,))):
        n_options = [int(rng.choice(choices)) for _ in range(N)]
        golds = [int(rng.integers(k)) for k in n_options]
        tasks[task] = (golds, n_options)
    right = {
        "a": {t: rng.random(N) < 0.6 for t in [*tasks, "karma_ifeval"]},
        "c": {t: rng.random(N) < 0.6 for t in [*tasks, "karma_ifeval"]},
        "w": {t: rng.random(N) < 0.3 for t in [*tasks, "karma_ifeval"]},
    }
    right["b"] = right["a"]
    shifts = {m: rng.integers(0, 100, N) for m in right}
    answers = {
        m: {
            t: answers_for(golds, n_options, right[m][t], shifts[m])
            for t, (golds, n_options) in tasks.items()
        }
        for m in right
    }
    # Model a writes no extractable answer on the first five ARC items (all of them wrong).
    for i in range(5):
        answers["a"]["karma_arc_easy"][i] = None
        right["a"]["karma_arc_easy"][i] = False
    arc_golds, arc_options = tasks["karma_arc_easy"]
    answers["b"]["karma_arc_easy"][:5] = [
        (g + 1) % k for g, k in zip(arc_golds[:5], arc_options[:5], strict=True)
    ]
    return tasks, right, answers


def write_pool(root: Path, pool, version: str, models=("a", "b", "c", "w"), drop=None) -> Path:
    tasks, right, answers = pool
    for m in models:
        lines = {}
        for t, (golds, n_options) in tasks.items():
            order = list(range(N))[::-1] if m == "b" else None  # other line order: match by id
            lines[t] = mc_task(golds, n_options, answers[m][t], order)
        lines["karma_ifeval"] = [
            ifeval_line(i, bool(ok)) for i, ok in enumerate(right[m]["karma_ifeval"])
        ]
        if drop and m == drop[0]:
            lines[drop[1]] = lines[drop[1]][: -2 * drop[2]] if drop[2] else []
            if not lines[drop[1]]:
                del lines[drop[1]]
        write_run(root, f"org/{m}", version, lines)
    return root


def onehots(answers, n_options):
    return one_hot(np.array([-1 if a is None else a for a in answers]), np.array(n_options))


@pytest.mark.parametrize("version", VERSIONS)
def test_identical_mistakes_ec_one_independent_near_zero(tmp_path, pool, version):
    samples = read_samples([write_pool(tmp_path, pool, version)])
    assert samples.models == ("org/a", "org/b", "org/c", "org/w")
    assert set(samples.tasks) == {"ifeval", "mmlu_pro", "arc_easy"}
    arc = samples.tasks["arc_easy"]
    assert list(arc.doc_ids) == list(range(N))
    # The headline filter was read, not the always-right fallback.
    assert 0.5 < arc.correct[0].mean() < 0.7
    assert list(arc.choice[0, :5]) == [-1] * 5
    ec, per = sample_kinship(samples, "ec")
    assert ec[0, 1] == pytest.approx(1.0)
    for bench in per:
        assert per[bench][0, 1] == pytest.approx(1.0)
    assert abs(ec[0, 2]) < 0.08
    assert abs(ec[1, 2]) < 0.08
    assert np.allclose(ec, ec.T) and np.allclose(np.diag(ec), 1.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_capa_matches_lm_sim_on_the_same_inputs(tmp_path, pool, version):
    tasks, _, answers = pool
    samples = read_samples([write_pool(tmp_path, pool, version, models=("a", "b", "c"))])
    capa, per = sample_kinship(samples, "capa")
    assert set(per) == {"arc_easy", "mmlu_pro"}  # IFEval has no options
    expected = {}
    for x, y in (("a", "b"), ("a", "c"), ("b", "c")):
        values = []
        for t, (golds, n_options) in tasks.items():
            out_x = onehots(answers[x][t], n_options)
            out_y = onehots(answers[y][t], n_options)
            values.append(CAPA(prob=True).compute_k(out_x, out_y, golds))
        expected[(x, y)] = float(np.mean(values))
    index = {"a": 0, "b": 1, "c": 2}
    for (x, y), value in expected.items():
        assert capa[index[x], index[y]] == pytest.approx(value, abs=1e-12)
    # Same right/wrong pattern but different wrong letters: CAPA sees it, EC does not.
    assert 0.3 < capa[0, 1] < 0.95


def test_error_consistency_matches_lm_sim():
    rng = np.random.default_rng(3)
    n_options = np.full(300, 4)
    gold = rng.integers(0, 4, 300)
    choice = rng.integers(0, 4, (3, 300))
    ours = error_consistency(choice == gold)
    for i in range(3):
        for j in range(3):
            if i != j:
                theirs = EC().compute_k(
                    one_hot(choice[i], n_options), one_hot(choice[j], n_options), list(gold)
                )
                assert ours[i, j] == pytest.approx(theirs)


def test_error_consistency_constant_models():
    correct = np.array([[True, True, True], [True, True, True], [False, False, False]])
    ec = error_consistency(correct)
    assert ec[0, 1] == 1.0  # both always right: identical behaviour
    assert ec[0, 2] == pytest.approx(0.0)  # expected agreement 0, observed 0


def test_newest_run_wins(tmp_path, pool):
    root = write_pool(tmp_path, pool, "0.4.13", models=("a", "b"))
    tasks, _, _ = pool
    golds, n_options = tasks["karma_mmlu_pro"]
    # An OLDER run of b that answers everything right; must be ignored.
    write_run(
        tmp_path,
        "org/b",
        "0.4.13",
        {"karma_mmlu_pro": mc_task(golds, n_options, golds)},
        stamp="2025-01-01T00-00-00.000001",
    )
    ec, _ = sample_kinship(read_samples([root], ("mmlu_pro",)), "ec")
    assert ec[0, 1] == pytest.approx(1.0)


def scores_csv(tmp_path: Path) -> Path:
    """a, b, c with IDENTICAL scores (cosine kinship 1 among them), w weak, z no samples."""
    path = tmp_path / "scores.csv"
    rows = ["model,ifeval,mmlu_pro,arc_easy"]
    rows += [f"{m},0.6,0.6,0.6" for m in ("a", "b", "c")]
    rows += ["w,0.3,0.3,0.3", "z,0.5,0.4,0.2"]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("version", VERSIONS)
def test_kinship_cli_same_scores_different_mistakes(tmp_path, runner, pool, version):
    root = write_pool(tmp_path / "runs", pool, version, models=("a", "b", "c", "w"))
    # A run of a model the table lacks, on other items: ignored before items are matched.
    write_run(root, "org/extra", version, {"karma_mmlu_pro": mc_task([0], [4], [1])})
    names = [f"--name=org/{m}={m}" for m in ("a", "b", "c", "w")]
    csv = scores_csv(tmp_path)
    cosine = runner.invoke(
        main, ["kinship", "--scores", str(csv), "--json", str(tmp_path / "c.json")]
    )
    assert cosine.exit_code == 0, cosine.output
    cos = json.loads((tmp_path / "c.json").read_text())["kinship"]
    assert cos["a"]["c"] == pytest.approx(1.0)  # the scores cannot tell a, b, c apart
    result = runner.invoke(
        main,
        [
            "kinship",
            "--scores",
            str(csv),
            "--benchmarks",
            "ifeval,mmlu_pro,arc_easy",
            "--samples",
            str(root),
            "--metric",
            "ec",
            "--json",
            str(tmp_path / "k.json"),
            *names,
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc["kinship_metric"] == "ec"
    assert doc["models"] == ["a", "b", "c", "w"]
    assert doc["kinship"]["a"]["b"] == pytest.approx(1.0)
    assert abs(doc["kinship"]["a"]["c"]) < 0.08
    assert ["a", "c"] in [pair[:2] for pair in doc["pairs_below_tau"]]
    assert ["a", "b"] not in [pair[:2] for pair in doc["pairs_below_tau"]]
    assert doc["excluded"] == {"z": "no samples for sample-level kinship"}
    assert doc["s_pref"]["a"] == doc["s_pref"]["c"] == 1.0
    assert "samples of org/extra ignored: not in the score table" in result.stderr
    assert "Kinship (ec;" in result.stdout


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (("c", "karma_mmlu_pro", 3), "did not answer the same items"),
        (("c", "karma_ifeval", 0), "karma_ifeval: samples for a, b but not for c"),
    ],
)
def test_mismatched_items_exit_2_one_line(tmp_path, runner, pool, drop, message):
    root = write_pool(tmp_path / "runs", pool, "0.4.13", models=("a", "b", "c"), drop=drop)
    names = [f"--name=org/{m}={m}" for m in ("a", "b", "c")]
    csv = scores_csv(tmp_path)
    result = runner.invoke(
        main, ["kinship", "--scores", str(csv), "--samples", str(root), "--metric", "ec", *names]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_changed_document_under_the_same_id(tmp_path, runner):
    golds, n_options = [0, 1], [4, 4]
    write_run(tmp_path / "r", "a", "0.4.13", {"karma_arc_easy": mc_task(golds, n_options, [0, 1])})
    write_run(tmp_path / "r", "b", "0.4.13", {"karma_arc_easy": mc_task([0, 2], n_options, [0, 1])})
    csv = scores_csv(tmp_path)
    result = runner.invoke(
        main, ["kinship", "--scores", str(csv), "--samples", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "doc_hash differs" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "capa"], "--metric capa needs --samples"),
        (["--samples", ".", "--metric", "cosine"], "--samples needs --metric ec or capa"),
        (["--samples", "/nonexistent/x"], "not found"),
    ],
)
def test_option_errors(runner, args, message):
    result = runner.invoke(main, ["kinship", *args])
    assert result.exit_code == 2
    assert message in result.stderr
