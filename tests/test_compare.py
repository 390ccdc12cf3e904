"""`karma-build compare` on fixture lm-eval results: the paper's Table 4 numbers (DPO rows)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from karma_plugin.cli import main

STRATEGIES = ("baseline", "k_score", "k_sim", "k_score_sim")
# Paper Table 4, DPO rows: benchmark -> group -> values per strategy.
TABLE4 = {
    "mmlu_stem": {
        "Qwen2.5-3B/DPO": (0.4706, 0.4212, 0.4400, 0.4580),
        "Llama-3.1-8B/DPO": (0.4902, 0.4349, 0.4867, 0.2880),
    },
    "mmlu_pro": {
        "Qwen2.5-3B/DPO": (0.2275, 0.2254, 0.2029, 0.2111),
        "Llama-3.1-8B/DPO": (0.1168, 0.1025, 0.1168, 0.1107),
    },
    "ifeval": {
        "Qwen2.5-3B/DPO": (0.3633, 0.3058, 0.3094, 0.1715),
        "Llama-3.1-8B/DPO": (0.2421, 0.1882, 0.2292, 0.2494),
    },
    "arc_easy": {
        "Qwen2.5-3B/DPO": (0.8497, 0.8754, 0.5295, 0.8157),
        "Llama-3.1-8B/DPO": (0.2176, 0.1540, 0.4720, 0.0680),
    },
    "arc_challenge": {
        "Qwen2.5-3B/DPO": (0.7398, 0.8241, 0.4470, 0.7078),
        "Llama-3.1-8B/DPO": (0.5463, 0.1763, 0.3596, 0.2946),
    },
}
METRIC = {"ifeval": "prompt_level_strict_acc,none"}


def results_doc(model: str, scores: dict[str, float], version: str) -> dict:
    results = {
        f"karma_{b}": {"alias": f"karma_{b}", METRIC.get(b, "exact_match,answer-is"): v}
        for b, v in scores.items()
    }
    args: dict | str = {"pretrained": model}
    if version == "0.4.11":
        args = f"pretrained={model},dtype=bfloat16"
    return {"results": results, "config": {"model": "hf", "model_args": args}}


def write(root: Path, model: str, scores: dict[str, float], version="0.4.13", stamp=None) -> Path:
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = stamp or "2026-11-27T00-07-13.186587"
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps(results_doc(model, scores, version)))
    return folder


@pytest.fixture
def table4(tmp_path) -> list[str]:
    labels = []
    for group in ("Qwen2.5-3B/DPO", "Llama-3.1-8B/DPO"):
        for s, strategy in enumerate(STRATEGIES):
            scores = {b: rows[group][s] for b, rows in TABLE4.items()}
            model = f"ckpt/{group.replace('/', '-')}-{strategy}"
            version = "0.4.11" if s % 2 else "0.4.13"
            labels.append(
                f"--label={group}/{strategy}={write(tmp_path / 'runs', model, scores, version)}"
            )
    return labels


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_table4_layout_with_best_marked(tmp_path, runner, table4):
    out = tmp_path / "cmp"
    result = runner.invoke(main, ["compare", *table4, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "compare.csv")
    assert list(rows[0]) == ["benchmark", "group", *STRATEGIES, "best"]
    by_key = {(r["benchmark"], r["group"]): r for r in rows}
    # 5 benchmarks x 2 groups + 2 mean rows, in the canonical benchmark order.
    assert [r["benchmark"] for r in rows[::2]] == [
        "ifeval",
        "mmlu_stem",
        "mmlu_pro",
        "arc_easy",
        "arc_challenge",
        "mean",
    ]
    assert by_key[("mmlu_stem", "Qwen2.5-3B/DPO")]["k_sim"] == "0.44"
    assert by_key[("arc_easy", "Llama-3.1-8B/DPO")]["k_score_sim"] == "0.068"
    # Best per row, as bold in the paper.
    assert by_key[("mmlu_stem", "Qwen2.5-3B/DPO")]["best"] == "baseline"
    assert by_key[("arc_easy", "Qwen2.5-3B/DPO")]["best"] == "k_score"
    assert by_key[("arc_easy", "Llama-3.1-8B/DPO")]["best"] == "k_sim"
    assert by_key[("ifeval", "Llama-3.1-8B/DPO")]["best"] == "k_score_sim"
    assert by_key[("mmlu_pro", "Llama-3.1-8B/DPO")]["best"] == "baseline;k_sim"  # a tie
    mean = by_key[("mean", "Qwen2.5-3B/DPO")]
    expected = sum(TABLE4[b]["Qwen2.5-3B/DPO"][1] for b in TABLE4) / 5
    assert float(mean["k_score"]) == pytest.approx(expected, abs=1e-5)
    assert mean["best"] == "k_score"  # 0.53038 against the baseline's 0.53018
    md = (out / "compare.md").read_text()
    assert "| arc_easy | Llama-3.1-8B/DPO | 0.2176 | 0.1540 | **0.4720** | 0.0680 |" in md
    assert "| mmlu_pro | Llama-3.1-8B/DPO | **0.1168** | 0.1025 | **0.1168** | 0.1107 |" in md
    for name in ("bars_Qwen2.5-3B_DPO.png", "bars_Llama-3.1-8B_DPO.png", "bars_mean.png"):
        assert f"]({name})" in md
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
    assert "| arc_easy | Llama-3.1-8B/DPO |" in result.stdout


def test_table2_layout_from_unlabelled_results(tmp_path, runner):
    """No groups: one row per benchmark, columns named by the model lm-eval recorded; a newer
    run of the same model replaces a benchmark's score; a missing score is a dash."""
    root = tmp_path / "runs"
    write(root, "out/baseline", {"mmlu_stem": 0.36, "ifeval": 0.28, "arc_easy": 0.40})
    write(root, "out/k_score", {"mmlu_stem": 0.33, "ifeval": 0.30, "arc_easy": 0.40})
    write(root, "out/k_score", {"ifeval": 0.31}, stamp="2026-11-28T00-00-00.000001")
    write(root, "out/k_sim", {"mmlu_stem": 0.34, "ifeval": 0.29}, version="0.4.11")
    out = tmp_path / "cmp"
    result = runner.invoke(main, ["compare", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "compare.csv")
    assert list(rows[0]) == ["benchmark", "out/baseline", "out/k_score", "out/k_sim", "best"]
    by_bench = {r["benchmark"]: r for r in rows}
    assert by_bench["ifeval"]["out/k_score"] == "0.31"
    assert by_bench["ifeval"]["best"] == "out/k_score"
    assert by_bench["arc_easy"]["out/k_sim"] == ""
    assert by_bench["arc_easy"]["best"] == "out/baseline;out/k_score"
    # mean over the benchmarks all three have (ifeval, mmlu_stem)
    assert float(by_bench["mean"]["out/baseline"]) == pytest.approx((0.36 + 0.28) / 2)
    assert float(by_bench["mean"]["out/k_sim"]) == pytest.approx((0.34 + 0.29) / 2)
    md = (out / "compare.md").read_text()
    assert "| arc_easy | 0.4000 | 0.4000 | — |" not in md
    assert "| arc_easy | **0.4000** | **0.4000** | — |" in md
    assert "](bars.png)" in md and (out / "bars.png").is_file()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("duplicate", "labels must be unique"),
        ("two_models", "holds runs of several models"),
        ("no_column", "has no column after the last '/'"),
        ("bad_pair", "--label expects NAME=PATH"),
        ("missing", "not found"),
        ("nothing", "nothing to compare"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, runner, setup, message):
    root = tmp_path / "runs"
    a = write(root, "m/a", {"ifeval": 0.3})
    write(root, "m/b", {"ifeval": 0.4})
    args = {
        "duplicate": [f"--label=x={a}", f"--label=x={a}"],
        "two_models": [f"--label=x={root}"],
        "no_column": [f"--label=grp/={a}"],
        "bad_pair": ["--label=justaname"],
        "missing": [f"--label=x={tmp_path / 'nope'}"],
        "nothing": [],
    }[setup]
    result = runner.invoke(main, ["compare", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_equally_new_runs_resolve_as_in_the_score_table(tmp_path, runner):
    """Two runs of one model with the same timestamp: compare keeps the score that
    `karma-build scores` keeps (the last one read), not the first."""
    root = tmp_path / "runs"
    write(root / "a", "org/m", {"ifeval": 0.3, "arc_easy": 0.5})
    write(root / "b", "org/m", {"ifeval": 0.4})
    write(root, "org/n", {"ifeval": 0.2, "arc_easy": 0.6})
    scores = runner.invoke(main, ["scores", str(root)])
    assert scores.exit_code == 0, scores.output
    assert "org/m,0.4,0.5" in scores.stdout.splitlines()
    result = runner.invoke(main, ["compare", str(root), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    by_bench = {r["benchmark"]: r for r in read_csv(tmp_path / "o" / "compare.csv")}
    assert by_bench["ifeval"]["org/m"] == "0.4" and by_bench["arc_easy"]["org/m"] == "0.5"
    assert by_bench["ifeval"]["best"] == "org/m"
