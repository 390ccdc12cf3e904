import json

from karma_plugin.cli import main


def test_kinship_prints_table_and_writes_json(runner, tmp_path):
    out = tmp_path / "k.json"
    result = runner.invoke(main, ["kinship", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "left out ultralm-65b" in result.stderr
    lines = result.stdout.splitlines()
    ranking = [line.split()[0] for line in lines[2:18]]
    assert ranking[:3] == ["gpt-4", "bard", "gpt-3.5-turbo"]
    assert "Pairs below tau=0.1: 1" in result.stdout
    assert "starchat ~ pythia-12b" in result.stdout or "pythia-12b ~ starchat" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["tau"] == 0.1
    assert len(doc["models"]) == 16
    assert doc["kinship"]["gpt-4"]["gpt-4"] == 1.0
    assert doc["s_pref"]["gpt-4"] > doc["s_pref"]["starchat"]


def test_kinship_category_and_tau(runner):
    result = runner.invoke(main, ["kinship", "--benchmarks", "knowledge", "--tau", "0.5"])
    assert result.exit_code == 0, result.output
    assert "2 benchmarks" in result.stdout
    assert "mmlu_stem" in result.stdout and "hellaswag" not in result.stdout


def test_kinship_bad_benchmark_is_usage_error(runner):
    result = runner.invoke(main, ["kinship", "--benchmarks", "gsm8k"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "karma-build: error: unknown benchmark or category 'gsm8k' (choose from: ifeval, "
        "mmlu_stem, mmlu_pro, hellaswag, arc_easy, arc_challenge, knowledge, reasoning, "
        "instruction_following)"
    )
