import json

import numpy as np
import pytest

from karma_plugin.core.kinship import (
    MAX_LISTED_MODELS,
    compute_kinship,
    cosine_kinship,
    list_models,
    minmax_normalize,
)
from karma_plugin.core.score_table import ScoreTable, read_scores
from karma_plugin.errors import InputError
from karma_plugin.outputs.manifest import kinship_document

# The paper's Table 3 "Average Score" column (S_pref after min-max normalisation).
PAPER_AVERAGE = {
    "gpt-4": 0.99,
    "gpt-3.5-turbo": 0.77,
    "bard": 0.86,
    "llama-2-7b-chat": 0.41,
    "llama-2-13b-chat": 0.45,
    "llama-2-70b-chat": 0.58,
    "ultralm-13b": 0.40,
    "wizardlm-7b": 0.34,
    "wizardlm-13b": 0.45,
    "wizardlm-70b": 0.58,
    "vicuna-33b": 0.57,
    "alpaca-7b": 0.16,
    "falcon-40b-instruct": 0.47,
    "mpt-30b-chat": 0.38,
    "starchat": 0.05,
    "pythia-12b": 0.07,
}


def test_s_pref_reproduces_table_3():
    kin = compute_kinship(read_scores("paper"))
    got = dict(zip(kin.models, kin.s_pref, strict=True))
    assert set(got) == set(PAPER_AVERAGE)
    for model, expected in PAPER_AVERAGE.items():
        assert got[model] == pytest.approx(expected, abs=0.006), model
    assert set(kin.excluded) == {"ultralm-65b"}
    assert "missing score" in kin.excluded["ultralm-65b"]


def test_kinship_is_cosine_of_normalised_vectors():
    kin = compute_kinship(read_scores("paper"))
    i, j = kin.models.index("gpt-4"), kin.models.index("starchat")
    a, b = kin.normalized[i], kin.normalized[j]
    assert kin.kinship[i, j] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    np.testing.assert_allclose(np.diag(kin.kinship), 1.0)
    np.testing.assert_allclose(kin.kinship, kin.kinship.T)
    assert kin.normalized.min() == 0.0 and kin.normalized.max() == 1.0


def test_constant_benchmark_is_dropped_with_a_reason():
    table = ScoreTable(
        ("a", "b", "c"), ("ifeval", "mmlu_stem"), np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    )
    kin = compute_kinship(table)
    assert kin.benchmarks == ("ifeval",)
    assert "constant" in kin.excluded["mmlu_stem"]
    np.testing.assert_allclose(kin.s_pref, [0.0, 0.5, 1.0])


def test_all_zero_vector_has_kinship_zero():
    matrix = cosine_kinship(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    assert matrix[0].tolist() == [0.0, 0.0, 0.0]
    assert matrix[1, 2] == pytest.approx(1 / np.sqrt(2))


def test_minmax_maps_each_column_to_unit_interval():
    out = minmax_normalize(np.array([[10.0, 0.2], [20.0, 0.6], [15.0, 0.4]]))
    np.testing.assert_allclose(out, [[0, 0], [1, 1], [0.5, 0.5]])


def test_category_subset_changes_kinship():
    table = read_scores("paper")
    knowledge = compute_kinship(table, ("mmlu_stem", "mmlu_pro"))
    assert knowledge.benchmarks == ("mmlu_stem", "mmlu_pro")
    full = compute_kinship(table)
    assert not np.allclose(knowledge.kinship, full.kinship)


def test_pairs_below_tau_listed():
    table = ScoreTable(
        ("a", "b", "c"), ("ifeval", "mmlu_stem"), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    )
    kin = compute_kinship(table, tau=0.1)
    assert [(a, b) for a, b, _ in kin.pairs_below_tau()] == [("a", "b")]
    assert kinship_document(kin)["pairs_below_tau"][0][:2] == ["a", "b"]


def test_too_few_models_is_an_input_error():
    table = ScoreTable(("a", "b"), ("ifeval",), np.array([[1.0], [np.nan]]))
    with pytest.raises(InputError, match="at least 2 models"):
        compute_kinship(table)


def test_tau_out_of_range():
    with pytest.raises(InputError, match="tau"):
        compute_kinship(read_scores("paper"), tau=2.0)


# --- large tables: what kinship.json lists ------------------------------------------------------
def _random_table(n: int, seed: int = 0) -> ScoreTable:
    rng = np.random.default_rng(seed)
    names = tuple(f"m{i:05d}" for i in range(n))
    return ScoreTable(names, ("ifeval", "mmlu_stem", "mmlu_pro"), rng.normal(size=(n, 3)))


def test_pairs_below_tau_counted_in_blocks_and_listed_among_a_subset():
    # 3,000 models: more than one block of rows.
    kin = compute_kinship(_random_table(3000), tau=0.6)
    every = kin.pairs_below_tau()
    assert 0 < kin.count_below_tau() == len(every)
    among = np.sort(np.random.default_rng(1).choice(3000, 400, replace=False))
    inside = set(kin.models[i] for i in among)
    expected = [p for p in every if p[0] in inside and p[1] in inside]
    assert kin.pairs_below_tau(among) == expected


def test_small_tables_are_listed_whole_and_large_ones_by_rule():
    small = compute_kinship(_random_table(MAX_LISTED_MODELS))
    assert list_models(small).complete
    assert "all_models" not in kinship_document(small)

    kin = compute_kinship(_random_table(500))
    top = list_models(kin)
    assert len(top.indices) == MAX_LISTED_MODELS and not top.complete
    best = sorted(range(500), key=lambda i: (-kin.s_pref[i], kin.models[i]))[:MAX_LISTED_MODELS]
    assert top.indices.tolist() == sorted(best)
    pool = list_models(kin, in_pool=np.array([400, 7, 123]))
    assert pool.indices.tolist() == [7, 123, 400]
    assert pool.rule == "the 3 models that occur in the pool"
    many = list_models(kin, in_pool=np.arange(100, 200))
    assert len(many.indices) == MAX_LISTED_MODELS and "of the 100 that occur" in many.rule
    assert set(many.indices) <= set(range(100, 200))
    assert list_models(kin, in_pool=np.zeros(0, np.int64)).indices.tolist() == sorted(best)


def test_large_table_json_holds_the_listing_and_all_models():
    kin = compute_kinship(_random_table(2000), tau=0.6)
    listing = list_models(kin, in_pool=np.array([5, 50, 500, 1500]))
    doc = kinship_document(kin, listing, "kinship_matrix.parquet")
    names = [kin.models[i] for i in (5, 50, 500, 1500)]
    assert doc["models"] == names
    assert list(doc["kinship"]) == names and list(doc["kinship"][names[0]]) == names
    assert doc["kinship"][names[1]][names[2]] == round(float(kin.kinship[50, 500]), 10)
    assert doc["s_pref"][names[3]] == round(float(kin.s_pref[1500]), 10)
    everything = doc["all_models"]
    assert everything["count"] == 2000
    assert everything["listed"] == "the 4 models that occur in the pool"
    assert everything["pairs_below_tau"] == kin.count_below_tau()
    assert everything["kinship_matrix"] == "kinship_matrix.parquet"
    assert everything["score_range"]["ifeval"] == {
        "min": float(kin.scores[:, 0].min()),
        "max": float(kin.scores[:, 0].max()),
    }
    rank = sorted(range(2000), key=lambda i: (-kin.s_pref[i], kin.models[i])).index(500) + 1
    assert everything["s_pref_rank"][names[2]] == rank
    assert len(json.dumps(doc)) < 20_000  # not O(M^2): the full document would be ~100 MB


def test_restrict_keeps_the_normalisation_over_all_models():
    kin = compute_kinship(_random_table(50))
    part = kin.restrict(np.array([3, 9, 27]))
    assert part.models == (kin.models[3], kin.models[9], kin.models[27])
    np.testing.assert_array_equal(part.normalized, kin.normalized[[3, 9, 27]])
    np.testing.assert_array_equal(part.kinship, kin.kinship[np.ix_([3, 9, 27], [3, 9, 27])])
    np.testing.assert_array_equal(part.s_pref, kin.s_pref[[3, 9, 27]])


def test_kinship_from_options_serves_python_callers(tmp_path):
    from karma_plugin.kinship_inputs import kinship_from_options, kinship_inputs

    kin = kinship_from_options(benchmarks="knowledge", tau=0.2)
    direct = compute_kinship(read_scores(), ("mmlu_stem", "mmlu_pro"), 0.2)
    assert kin.models == direct.models and kin.benchmarks == ("mmlu_stem", "mmlu_pro")
    np.testing.assert_array_equal(kin.kinship, direct.kinship)
    assert kin.excluded == direct.excluded and "ultralm-65b" in kin.excluded
    with pytest.raises(InputError, match="unknown kinship metric 'kappa'"):
        kinship_from_options(metric="kappa")
    with pytest.raises(InputError, match="needs --samples"):
        kinship_from_options(metric="capa")
    assert kinship_inputs("paper") == []
    assert kinship_inputs(tmp_path / "s.csv", [tmp_path]) == [
        str(tmp_path),
        str(tmp_path / "s.csv"),
    ]
