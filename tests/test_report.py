"""`karma-build report` on the authors' table: figures, cluster lists, atomic output."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic_scores import synthetic_score_csv

from karma_plugin.cli import main
from karma_plugin.core.clustering import cluster_models, score_distance
from karma_plugin.core.kinship import MAX_LISTED_MODELS, compute_kinship
from karma_plugin.core.score_table import read_scores
from karma_plugin.fs.staging import MARKER
from karma_plugin.report.figures import pca

FIGURES = (
    "s_pref.png",
    "kinship_heatmap.png",
    "pca.png",
    "dendrogram_all.png",
    "dendrogram_knowledge.png",
    "dendrogram_reasoning.png",
    "dendrogram_instruction_following.png",
)


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory) -> tuple[Path, object, str]:
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("r") / "report"
    result = CliRunner().invoke(main, ["report", "--out", f"{out}/"])  # as a shell completes it
    assert result.exit_code == 0, result.output
    return out, result, (out / "report.md").read_text()


def test_every_figure_is_a_sane_png_and_embedded(paper_report):
    out, _, md = paper_report
    for name in FIGURES:
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
            assert image.format == "PNG"
        assert 400 <= width <= 4000 and 300 <= height <= 4000, (name, width, height)
        assert f"]({name})" in md, f"{name} not embedded in report.md"
    assert sorted(p.name for p in out.iterdir()) == sorted([*FIGURES, "report.md", MARKER])


def _clusters_in_md(md: str, heading: str) -> list[set[str]]:
    section = md.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| \d+ \| \d+ \| (.+) \|$", section, flags=re.M)
    return [set(r.split(", ")) for r in rows]


def test_cluster_lists_on_the_authors_table(paper_report):
    """At the 0.4 cut, cosine distance of normalised scores. Reasoning about each:

    - all six: starchat's vector is nearly all MMLU-STEM (it is the minimum on MMLU-Pro,
      ARC-Easy and ARC-Challenge), a direction no other model shares; every other model is
      within ~0.27 of the rest.
    - knowledge: pythia-12b has the lowest MMLU-STEM, so its 2-D vector lies on the MMLU-Pro
      axis; everyone else points between the axes.
    - reasoning: starchat is the minimum on both ARCs, so its vector is pure HellaSwag.
    - instruction following (IFEval alone, absolute difference): the three commercial models
      (normalised 0.74-1.0) against the rest (at most 0.47, ultralm-13b).
    ultralm-65b has no scores and appears nowhere.
    """
    _, _, md = paper_report
    everyone = set(read_scores("paper").models) - {"ultralm-65b"}
    expected = {
        "All chosen benchmarks (cosine)": [everyone - {"starchat"}, {"starchat"}],
        "Knowledge": [everyone - {"pythia-12b"}, {"pythia-12b"}],
        "Reasoning": [everyone - {"starchat"}, {"starchat"}],
        "Instruction following": [
            everyone - {"gpt-4", "gpt-3.5-turbo", "bard"},
            {"gpt-4", "gpt-3.5-turbo", "bard"},
        ],
    }
    for heading, clusters in expected.items():
        assert _clusters_in_md(md, heading) == clusters, heading
    assert "ultralm-65b" in md.split("## Preference scores")[0]  # listed as left out


def test_cli_prints_clusters_and_names_distance_and_linkage(paper_report):
    out, result, md = paper_report
    assert "instruction_following: 2 clusters at 0.4" in result.output
    assert f"wrote {out}/report.md and 7 figures" in result.output  # one slash
    assert "average linkage" in md
    assert "absolute difference of the normalised scores" in md
    assert "Distance: absolute difference of normalised scores" in md
    assert "Distance: cosine distance (1 - kinship)" in md


def test_lower_cut_splits_the_instruction_following_clusters():
    table = read_scores("paper")
    k = compute_kinship(table, ("ifeval",))
    distance, _ = score_distance(k.normalized)
    coarse = cluster_models(k.models, distance, "d", cut=0.4)
    fine = cluster_models(k.models, distance, "d", cut=0.2)
    assert len(fine.clusters) > len(coarse.clusters)
    # gpt-3.5-turbo (0.74) merges with gpt-4/bard (0.94, 1.0) at mean distance ~0.23 > 0.2
    assert {"bard", "gpt-4"} in [set(c) for c in fine.clusters]
    assert ("gpt-3.5-turbo",) in fine.clusters


def test_single_benchmark_distance_is_not_cosine():
    normalized = np.array([[0.0], [0.5], [1.0]])
    distance, name = score_distance(normalized)
    assert "absolute" in name
    assert distance[1, 2] == pytest.approx(0.5)
    assert distance[0, 1] == pytest.approx(0.5)  # cosine would say 1 (0 vs 0.5) and 0 (0.5 vs 1)


def test_pca_explains_a_rank_two_table_fully():
    rng = np.random.default_rng(0)
    basis = rng.random((2, 5))
    normalized = rng.random((8, 2)) @ basis
    result = pca(normalized)
    assert result.explained.sum() == pytest.approx(1.0)
    assert result.explained[0] >= result.explained[1]


def test_pca_centres_the_scores_and_fixes_each_components_sign():
    """Against a reference computed with explicit centring (eigenvectors of the covariance),
    on scores far from the origin, where an SVD of the uncentred matrix finds the mean
    instead of the spread; and the sign rule of ``figures.pca``: each component's largest
    loading is positive."""
    rng = np.random.default_rng(1)
    mean = np.array([0.9, 0.8, 0.7, 0.6])
    spread = np.array([1.0, -1.0, 0.5, 0.0])
    normalized = (
        mean + rng.normal(scale=0.2, size=(10, 1)) * spread + rng.normal(scale=0.03, size=(10, 4))
    )
    result = pca(normalized)

    centred = normalized - normalized.mean(axis=0)
    variance, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    top = np.argsort(variance)[::-1][:2]
    reference = vectors[:, top]
    reference *= np.sign(reference[np.abs(reference).argmax(axis=0), [0, 1]])
    np.testing.assert_allclose(result.loadings, reference, atol=1e-8)
    np.testing.assert_allclose(result.coords, centred @ reference, atol=1e-8)
    np.testing.assert_allclose(result.explained, variance[top] / variance.sum(), rtol=1e-8)
    for j in range(2):
        assert result.loadings[np.abs(result.loadings[:, j]).argmax(), j] > 0
    np.testing.assert_allclose(result.coords.mean(axis=0), 0.0, atol=1e-12)

    # The data tells the two apart: the uncentred first direction is far from the centred one.
    _, _, uncentred = np.linalg.svd(normalized, full_matrices=False)
    assert abs(uncentred[0] @ reference[:, 0]) < 0.5
    # And the sign does not depend on the sign the SVD happens to return.
    flipped = pca(-normalized)
    for j in range(2):
        assert flipped.loadings[np.abs(flipped.loadings[:, j]).argmax(), j] > 0


def test_small_table_and_existing_folder(tmp_path, runner):
    csv = "model,ifeval,mmlu_pro\na,0.1,0.2\nb,0.5,0.3\nc,0.9,0.9\n"
    (tmp_path / "s.csv").write_text(csv)
    out = tmp_path / "r"
    result = runner.invoke(main, ["report", "--scores", str(tmp_path / "s.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = (out / "report.md").read_text()
    # No reasoning benchmark in the table: said so, not drawn.
    assert "### Reasoning\n\nNot drawn: none of its benchmarks is in the score table." in md
    assert not (out / "dendrogram_reasoning.png").exists()
    again = runner.invoke(main, ["report", "--scores", str(tmp_path / "s.csv"), "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists" in again.output
    assert again.stderr.count("\n") == 1, again.stderr


def test_failed_report_leaves_no_folder(tmp_path, monkeypatch, runner):
    from karma_plugin.report.document import figures

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(figures, "pca_map", broken)
    scores = tmp_path / "s.csv"
    scores.write_text("model,ifeval,mmlu_pro\na,1,2\nb,2,1\nc,3,3\n", encoding="utf-8")
    result = runner.invoke(main, ["report", "--scores", str(scores), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert result.stderr == "karma-build: error: No space left on device\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def test_thousands_of_models_draw_the_top_ones_or_the_pools(tmp_path, runner):
    """2,000 models: heatmap, bars and dendrograms of the 30 best (or, from binarize, of the
    pool's models); the PCA map shows all of them; nothing takes minutes or crashes."""
    table = tmp_path / "leaderboard.csv"
    table.write_text(synthetic_score_csv(2_000, seed=2), encoding="utf-8")
    out = tmp_path / "r"
    start = time.perf_counter()
    result = runner.invoke(main, ["report", "--scores", str(table), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 60
    md = (out / "report.md").read_text()
    assert (
        f"the figures and tables show the {MAX_LISTED_MODELS} models with the highest S_pref "
        "(of 1999)" in md
    )
    for name in FIGURES:
        with Image.open(out / name) as image:
            width, height = image.size
        assert 400 <= width <= 4000 and 300 <= height <= 4000, (name, width, height)
    for heading in ("All chosen benchmarks (cosine)", "Knowledge", "Reasoning"):
        assert sum(map(len, _clusters_in_md(md, heading))) == MAX_LISTED_MODELS, heading
    score_rows = md.split("## Preference scores")[1].split("## Kinship matrix")[0]
    assert score_rows.count("\n| org-") + score_rows.count("\n| gpt-4 |") == MAX_LISTED_MODELS

    binarized = tmp_path / "b"
    result = runner.invoke(
        main, ["binarize", "--scores", str(table), "--out", str(binarized), "--report"]
    )
    assert result.exit_code == 0, result.output
    md = (binarized / "figures" / "report.md").read_text()
    assert "show the 16 models that occur in the pool (of 1999)" in md
    clusters = _clusters_in_md(md, "All chosen benchmarks (cosine)")
    assert set().union(*clusters) == set(read_scores("paper").models) - {"ultralm-65b"}


UNCERTAIN_RGB = (214, 39, 40)  # figures.UNCERTAIN_COLOR


def _red_pixels(path: Path) -> int:
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(rgb - UNCERTAIN_RGB).sum(axis=2) < 40).sum())


FEW_ITEMS = [
    a
    for b in ("ifeval", "mmlu_stem", "mmlu_pro", "hellaswag", "arc_easy", "arc_challenge")
    for a in ("--items", f"{b}=250")
]


@pytest.fixture(scope="module")
def uncertain_report(tmp_path_factory) -> tuple[Path, dict, str]:
    """`report --bootstrap 200` of the authors' table at 250 items a benchmark, and the
    `uncertainty` key of `kinship --bootstrap` with the same draws."""
    import json

    from click.testing import CliRunner

    base = tmp_path_factory.mktemp("u")
    out = base / "report"
    result = CliRunner().invoke(
        main, ["report", "--bootstrap", "200", *FEW_ITEMS, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = base / "kinship.json"
    result = CliRunner().invoke(
        main, ["kinship", "--bootstrap", "200", *FEW_ITEMS, "--json", str(doc)]
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(doc.read_text())["uncertainty"], (out / "report.md").read_text()


def test_report_draws_the_uncertainty(uncertain_report, paper_report):
    out, key, md = uncertain_report
    plain, _, plain_md = paper_report
    # `report` has no pool: no stability figure (binarize draws it, see test_binarize_report).
    assert sorted(p.name for p in out.iterdir()) == sorted([*FIGURES, "report.md", MARKER])
    assert "## Stability of the pairs" not in md
    # S_pref: error bars in the figure, the interval in the table.
    assert (out / "s_pref.png").read_bytes() != (plain / "s_pref.png").read_bytes()
    lo, hi = key["s_pref"]["gpt-4"]
    assert f"| {lo:.3f}–{hi:.3f} |" in md and "S_pref 95% interval" in md
    assert "S_pref 95% interval" not in plain_md
    # The heatmap marks the cells whose interval holds tau (red hatching; viridis has no red).
    crossing = re.search(r"holds tau = 0\.1, so that whether they may be paired .*?: (.*)\.\n", md)
    assert crossing, md
    named = crossing.group(1).split("; ")
    expected = [
        (a, b)
        for a in key["kinship"]
        for b in key["kinship"]
        if a < b and key["kinship"][a][b][0] < 0.1 <= key["kinship"][a][b][1]
    ]
    assert len(named) == len(expected) >= 1
    assert _red_pixels(out / "kinship_heatmap.png") > 100
    assert _red_pixels(plain / "kinship_heatmap.png") == 0
    for name in ("s_pref.png", "kinship_heatmap.png"):
        with Image.open(out / name) as image:
            width, height = image.size
        assert 400 <= width <= 4000 and 300 <= height <= 4000, (name, width, height)


def test_report_with_no_pair_near_tau_marks_nothing(tmp_path, runner):
    items = [a.replace("=250", "=10000000") for a in FEW_ITEMS]
    result = runner.invoke(
        main, ["report", "--bootstrap", "20", *items, "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    md = (tmp_path / "r" / "report.md").read_text()
    assert "No listed pair's 95% kinship interval holds tau = 0.1" in md
    assert "Every model stays above the next one in at least 95% of the draws." in md
    assert _red_pixels(tmp_path / "r" / "kinship_heatmap.png") == 0
