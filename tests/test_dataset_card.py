"""The dataset card: YAML that huggingface_hub reads back, and a body built from kinship.json."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest
from huggingface_hub import DatasetCard, metadata_load
from synthetic_scores import synthetic_score_csv

from karma_plugin.core.kinship import compute_kinship, list_models
from karma_plugin.core.score_table import parse_score_csv, read_scores
from karma_plugin.outputs.card import SPLITS, card_metadata, render_card, size_category
from karma_plugin.outputs.manifest import kinship_document
from karma_plugin.outputs.markdown import ranked_names
from karma_plugin.outputs.matrix import MATRIX_FILE


@pytest.fixture
def doc() -> dict:
    """A kinship.json document as `binarize` writes it, for two configs."""
    kin = compute_kinship(read_scores("paper"), None, 0.1)
    doc = kinship_document(kin)
    configs = ("k_sim", "rlaif")
    doc.update(
        {
            "dataset": "openbmb/UltraFeedback",
            "rating": "overall_score",
            "counts": {
                "k_sim": {"pairs": 1200, "skipped": {"below_tau": 3, "s_pref_tie": 0}},
                "rlaif": {"pairs": 1190, "skipped": {"all_ratings_tied": 13}},
            },
            "agreement": {"k_sim": 0.6121},
            "versions": {"karma-plugin": "0.1.0", "datasets": "4.8.4"},
            "command": "karma-build binarize --dataset openbmb/UltraFeedback --out OUT",
            "splits": {c: dict(zip(SPLITS, (1140, 60, 1140, 60), strict=True)) for c in configs},
            "files": {c: {s: [f"{c}/{s}-00000-of-00001.parquet"] for s in SPLITS} for c in configs},
        }
    )
    return doc


@pytest.mark.deps  # huggingface_hub reads the card
def test_yaml_header_reads_back_with_the_configs(doc: dict, tmp_path) -> None:
    text = render_card(doc)
    (tmp_path / "README.md").write_text(text)
    meta = metadata_load(tmp_path / "README.md")
    assert meta == card_metadata(doc)
    card = DatasetCard(text)
    assert [c["config_name"] for c in card.data.configs] == ["k_sim", "rlaif"]
    for config in card.data.configs:
        assert [f["split"] for f in config["data_files"]] == list(SPLITS)
    assert card.data.license == "mit"
    assert card.data.size_categories == ["1K<n<10K"]
    assert card.data.task_categories == ["text-generation"]
    assert card.data.source_datasets == ["openbmb/UltraFeedback"]
    assert card.data.pretty_name


@pytest.mark.parametrize(
    ("recorded", "default"),
    [("rlaif", "rlaif"), (None, "k_sim"), ("k_score", "k_sim")],  # k_score: not in this folder
)
def test_one_config_is_marked_default(doc: dict, recorded, default) -> None:
    if recorded:
        doc["options"] = {"strategies": ["k_sim", "rlaif"], "default_config": recorded}
    configs = card_metadata(doc)["configs"]
    assert [c["config_name"] for c in configs if c.get("default")] == [default]
    assert f"# the default config, {default}" in render_card(doc)
    only_rlaif = {**doc, "files": {"rlaif": doc["files"]["rlaif"]}}
    assert card_metadata(only_rlaif)["configs"][0]["default"] is True


def test_body_shows_the_inputs_and_results(doc: dict) -> None:
    text = render_card({**doc, "repo_id": "me/karma"})
    assert "| `k_sim` | 1200 | 1140 | 60 | 1140 | 60 | 61.2% |" in text
    assert "| `rlaif` | 1190 | 1140 | 60 | 1140 | 60 | – |" in text
    # Skip reasons: every reason of any config is a column, 0 where a config has none.
    assert "| config | all ratings tied | below tau | s pref tie |" in text
    assert "| `k_sim` | 0 | 3 | 0 |" in text
    best = max(doc["s_pref"], key=doc["s_pref"].get)
    assert f"| `{best}` |" in text and "S_pref" in text
    assert "tau = 0.1" in text
    assert doc["command"] in text
    assert "| datasets | 4.8.4 |" in text
    assert 'load_dataset("me/karma", "rlaif")' in text
    assert "KARMA_DATASET_CONFIG=k_sim axolotl train dpo.yml" in text
    assert "eprint        = {2502.18744}" in text
    assert "Jung, Jeesu and Park, Chanjun and Jung, Sangkeun" in text
    # The kinship matrix: a header with every model and one row per model.
    header = next(line for line in text.splitlines() if line.startswith("|  |"))
    assert header.count("|") == len(doc["models"]) + 2


def test_excluded_models_are_named(doc: dict) -> None:
    doc = copy.deepcopy(doc)
    doc["excluded"] = {"ultralm-65b": "missing score for ifeval"}
    assert "- `ultralm-65b`: missing score for ifeval" in render_card(doc)


def test_card_of_a_local_pool_claims_no_source_dataset(doc: dict) -> None:
    doc = {**doc, "dataset": "/data/pool.jsonl"}
    assert "source_datasets" not in card_metadata(doc)
    assert "`/data/pool.jsonl`" in render_card(doc)


@pytest.mark.parametrize(
    ("n", "label"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (61_000, "10K<n<100K")]
)
def test_size_category(n: int, label: str) -> None:
    assert size_category(n) == label


def test_card_is_json_safe(doc: dict) -> None:
    # kinship.json round-trips through JSON before a push re-renders the card.
    assert render_card(json.loads(json.dumps(doc))) == render_card(doc)


def test_card_of_a_large_table_lists_the_pool_and_points_to_the_matrix(doc: dict) -> None:
    """2,000 models and 100 left out: the card shows the pool's models with their S_pref rank,
    their kinship, how many pairs of all models fall below tau, and how to load the matrix."""
    kin = compute_kinship(parse_score_csv(synthetic_score_csv(2_000, seed=4)))
    pool = [kin.models.index(m) for m in ("gpt-4", "bard", "alpaca-7b")]
    listing = list_models(kin, in_pool=np.array(pool))
    large = {**doc, **kinship_document(kin, listing, MATRIX_FILE), "repo_id": "me/karma"}
    large["excluded"] = {f"gone-{i:03d}": "missing score for ifeval" for i in range(100)}
    text = render_card(json.loads(json.dumps(large)))

    assert "holds 1999 models, too many to list: shown here are\nthe 3 models that occur" in text
    rank = large["all_models"]["s_pref_rank"]
    assert "| arc_challenge | S_pref | rank |" in text
    assert text.split("| `gpt-4` |", 1)[1].splitlines()[0].endswith(f" | {rank['gpt-4']} |")
    header = next(line for line in text.splitlines() if line.startswith("|  |"))
    assert header == "|  | gpt-4 | bard | alpaca-7b |"
    below = large["all_models"]["pairs_below_tau"]
    assert f"Among all\n1999 models, {below} pair(s) fall below tau." in text
    assert 'hf_hub_download("me/karma", "kinship_matrix.parquet", repo_type="dataset")' in text
    assert "`gone-029`" in text and "`gone-030`" not in text
    assert "- and 70 more (`kinship.json` lists them all)" in text
    assert len(text) < 20_000

    small = render_card(doc)
    assert "rank |" not in small and "kinship_matrix" not in small and "too many" not in small


def test_published_card_holds_no_absolute_local_path(tmp_path) -> None:
    """`push` publishes the card and kinship.json: local paths appear relative to the folder
    that holds the output, never as the user's absolute layout."""
    from cli import karma_build

    from karma_plugin.core.score_table import paper_csv_path

    home = tmp_path / "home" / "alice"
    (home / "data").mkdir(parents=True)
    pool = home / "data" / "pool.jsonl"
    pool.write_bytes((paper_csv_path().parent / "ultrafeedback_sample.jsonl").read_bytes())
    scores = home / "data" / "scores.csv"
    scores.write_bytes(paper_csv_path().read_bytes())
    out = home / "work" / "karma-out"
    result = karma_build(
        "binarize", "--dataset", pool, f"--scores={scores}", "--out", out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((out / "kinship.json").read_text())
    assert doc["dataset"] == "../data/pool.jsonl"
    assert doc["command"] == (
        "karma-build binarize --dataset ../data/pool.jsonl --scores=../data/scores.csv "
        "--out karma-out"
    )
    for name in ("README.md", "kinship.json"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and "alice" not in text, name


@pytest.mark.deps  # huggingface_hub reads the card
def test_splits_and_configs_without_rows_are_not_declared(doc: dict, tmp_path) -> None:
    """`datasets` cannot load a split of no rows ("corresponds to no data"), and one declared
    would sink its whole config: the header declares only splits that hold rows."""
    doc = copy.deepcopy(doc)
    doc["splits"]["k_sim"].update(test_prefs=0, test_sft=0)  # --test-size 0
    doc["splits"]["rlaif"] = dict.fromkeys(SPLITS, 0)  # no pair at all
    doc["bytes"] = {c: dict.fromkeys(SPLITS, 100) for c in doc["files"]}
    doc["options"] = {"strategies": ["k_sim", "rlaif"], "default_config": "rlaif"}
    meta = card_metadata(doc)
    [k_sim] = meta["configs"]
    assert k_sim["config_name"] == "k_sim" and k_sim["default"] is True  # rlaif: nothing to load
    assert [f["split"] for f in k_sim["data_files"]] == ["train_prefs", "train_sft"]
    [info] = meta["dataset_info"]
    assert [s["name"] for s in info["splits"]] == ["train_prefs", "train_sft"]
    assert info["dataset_size"] == 200
    text = render_card(doc)
    assert (
        "their files are in the repo all the same: `k_sim/test_prefs`, `k_sim/test_sft`, " in text
    )
    assert "`rlaif/train_prefs`" in text
    assert 'load_dataset("ORG/NAME", "rlaif")' not in text
    assert "--dataset_test_split" not in text  # the default config has no test split
    (tmp_path / "README.md").write_text(text)
    assert metadata_load(tmp_path / "README.md") == meta


def test_card_of_a_generated_pool(doc: dict) -> None:
    """A pool from `karma-build pool`: where the answers came from, and no claim of
    UltraFeedback's licence or name."""
    doc = copy.deepcopy(doc)
    doc["dataset"] = "pool.parquet"
    doc["files"].pop("rlaif")
    doc["skipped_configs"] = {"rlaif": "the pool has no instance ratings (--rating x)"}
    doc["pool_provenance"] = {
        "karma_plugin": "0.1.0",
        "task": "karmagen",
        "prompts": 64,
        "prompt_set": {
            "dataset_path": "openbmb/UltraFeedback",
            "dataset_kwargs": {"revision": "40b4366"},
        },
        "responses": {"qwen": 64, "llama": 63},
        "runs": [
            {
                "model": "qwen",
                "lm_eval_model": "Qwen/Qwen2.5-7B-Instruct",
                "backend": "vllm",
                "generation_kwargs": {"max_gen_toks": 2048, "until": ["a|b"]},
                "chat_template_applied": True,
                "lm_eval_version": "0.4.11",
            },
            {"model": "llama", "backend": "hf"},
        ],
    }
    meta = card_metadata(doc)
    assert "license" not in meta and "ultrafeedback" not in meta["tags"]
    text = render_card(json.loads(json.dumps(doc)))
    assert "on 64 prompts from `openbmb/UltraFeedback` at revision `40b4366`" in text
    assert (
        '| `qwen` | `Qwen/Qwen2.5-7B-Instruct` | `vllm` | `{"max_gen_toks": 2048, "until": '
        '["a\\|b"]}` | yes | `0.4.11` | 64 |' in text
    )
    assert "| `llama` | – | `hf` | – | no | – | 63 |" in text
    assert "`rlaif` was not built here: the pool has no instance ratings (--rating x)." in text
    assert "License: none is claimed" in text and "as UltraFeedback" not in text
    plain = render_card({k: v for k, v in doc.items() if k != "pool_provenance"})
    assert "## The response pool" not in plain and "License: MIT" in plain


# Few items a benchmark: the authors' scores are then within noise of each other in places.
FEW_ITEMS = [
    a
    for b in ("ifeval", "mmlu_stem", "mmlu_pro", "hellaswag", "arc_easy", "arc_challenge")
    for a in ("--items", f"{b}=250")
]


def _binarize(tmp_path_factory: pytest.TempPathFactory, *args: str) -> tuple[str, dict]:
    from click.testing import CliRunner

    from karma_plugin.cli import main

    out = tmp_path_factory.mktemp("b") / "out"
    result = CliRunner().invoke(
        main, ["binarize", "--strategy", "k_sim,rlaif", *args, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return (out / "README.md").read_text(), json.loads((out / "kinship.json").read_text())


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """The card and kinship.json of `binarize --bootstrap 200` at 250 items a benchmark."""
    return _binarize(tmp_path_factory, "--bootstrap", "200", *FEW_ITEMS)


def test_card_shows_how_stable_the_pairs_are(bootstrapped, tmp_path_factory) -> None:
    """With `--bootstrap`: stability and sure pairs beside agreement, what they mean, S_pref
    with its interval, the neighbours whose order is not sure and the pairs whose kinship
    interval holds tau, all as kinship.json's `uncertainty` has them."""
    text, doc = bootstrapped
    key = doc["uncertainty"]
    assert "| agreement | stability | sure pairs |" in text
    for config in ("k_sim", "rlaif"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{config}` |"))
        stable, sure = key["stability"][config], key["sure_pairs"][config]
        assert row.endswith(f" | {stable:.1%} | {sure:.1%} |"), row
    assert "*Stability* is the share of this config's pairs that stay the same" in text
    assert f"averaged over 200 draws (method `{key['method']}`, seed 42)" in text
    assert key["description"].rstrip(".") in text.replace("\n", " ")
    # S_pref with its interval, for every model, in the one table.
    assert "| S_pref | S_pref 95% interval |" in text
    for model, (lo, hi) in key["s_pref"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{model}` |"))
        assert row.endswith(f" | {doc['s_pref'][model]:.3f} | {lo:.3f}–{hi:.3f} |"), row
    # At 250 items a benchmark, some neighbours in the ranking swap in many draws.
    order = ranked_names(doc)
    held = {(a, b): p for a, b, p in key["s_pref_order"]}
    unsure = [(a, b) for a, b in itertools.pairwise(order) if held[a, b] < 0.95]
    assert unsure, "at 250 items some neighbours should be within noise"
    sentence = text.split("Models next to each other whose order holds")[1].split("\n\n")[0]
    assert sentence.count(" over ") == len(unsure)
    for a, b in unsure:
        assert f"`{a}` over `{b}` ({100 * held[a, b]:.0f}%)" in sentence
    tau = doc["tau"]
    crossing = [
        (a, b)
        for x, a in enumerate(order)
        for b in order[x + 1 :]
        if key["kinship"][a][b][0] < tau <= key["kinship"][a][b][1]
    ]
    assert crossing, "at 250 items a pair near tau should be uncertain"
    kinship_part = text.split("## Kinship matrix")[1].split("## Columns")[0]
    assert f"kinship interval holds tau = {tau:g}" in kinship_part
    for a, b in crossing:
        lo, hi = key["kinship"][a][b]
        assert f"{a} ~ {b} ({lo:.3f}–{hi:.3f})" in kinship_part


def test_card_without_bootstrap_says_nothing_of_it(bootstrapped, tmp_path_factory) -> None:
    """The same run without --bootstrap: no uncertainty key, and the card is the bootstrapped
    one without its additions (the rest byte for byte)."""
    plain, doc = _binarize(tmp_path_factory)
    assert "uncertainty" not in doc
    for word in ("stability", "Stability", "interval", "sampling noise", "draws"):
        assert word not in plain, word
    text, _ = bootstrapped
    added = ("*Stability*", "The S_pref interval", "Pairs whose 95% kinship interval")
    kept = [p for p in text.split("\n\n") if not p.startswith(added)]
    tables = {p for p in plain.split("\n\n") if p.startswith("| ")}
    assert [p for p in kept if not p.startswith("| ")] == [
        p for p in plain.split("\n\n") if p not in tables
    ]


def test_card_with_intervals_that_never_overlap(tmp_path_factory) -> None:
    """Scores of ten million items each: every order holds and no pair is near tau, and the
    card says so rather than listing nothing."""
    items = [a.replace("=250", "=10000000") for a in FEW_ITEMS]
    text, doc = _binarize(tmp_path_factory, "--bootstrap", "20", *items)
    assert "Every model\nstays above the next one in at least 95% of the draws." in text
    assert f"No listed pair's 95% kinship interval holds\ntau = {doc['tau']:g}." in text
    assert "Models next to each other" not in text and "Pairs whose 95%" not in text


def test_model_names_with_line_breaks_and_pipes_keep_the_tables_whole(tmp_path) -> None:
    """issue 16, item 11b: a name holding a newline (or a |) would end a table row of the card;
    every row of every table stays one line with the header's number of cells."""
    import re

    from cli import karma_build

    names = ["gpt\n4", "bard | x", "llama`2", "vicuna"]
    rows = [[0.9, 0.5, 0.7], [0.6, 0.8, 0.2], [0.3, 0.4, 0.9], [0.5, 0.1, 0.3]]
    lines = ["model,ifeval,mmlu_stem,hellaswag"]
    lines += [json.dumps(n) + "," + ",".join(map(str, r)) for n, r in zip(names, rows, strict=True)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pool = [
        {"instruction": f"Question {i}?", "completions": [
            {"model": m, "response": f"answer {i} of {m}", "overall_score": float(j)}
            for j, m in enumerate(names)
        ]}
        for i in range(8)
    ]  # fmt: skip
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    result = karma_build(
        "binarize", "--dataset", "p.jsonl", "--scores", "s.csv", "--tau", "-1", "--out", "o",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    card = (tmp_path / "o" / "README.md").read_text(encoding="utf-8")
    body = card.split("\n---\n", 1)[1]
    tables, current = [], []
    for line in [*body.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    cells = [[len(re.split(r"(?<!\\)\|", row)) for row in table] for table in tables]
    assert tables and all(len(set(c)) == 1 for c in cells), cells
    scores = next(t for t in tables if t[0].startswith("| model |"))
    assert len(scores) == 2 + len(names)
    assert "| `gpt\\n4` |" in card and "`bard \\| x`" in card and "`llama'2`" in card
