import numpy as np
import pytest

from karma_plugin.errors import InputError
from karma_plugin.kinship import compute_kinship, cosine_kinship, minmax_normalize
from karma_plugin.score_table import ScoreTable, read_scores

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
    assert kin.to_json()["pairs_below_tau"][0][:2] == ["a", "b"]


def test_too_few_models_is_an_input_error():
    table = ScoreTable(("a", "b"), ("ifeval",), np.array([[1.0], [np.nan]]))
    with pytest.raises(InputError, match="at least 2 models"):
        compute_kinship(table)


def test_tau_out_of_range():
    with pytest.raises(InputError, match="tau"):
        compute_kinship(read_scores("paper"), tau=2.0)
