"""Hierarchical clustering of origin models (paper Fig. 7): pure functions, numpy in and out.

Distance. With two or more benchmarks the distance is the kinship's complement, ``1 - S``
(cosine distance of the min-max normalised score vectors; for a sample-level metric, 1 - kappa).
With ONE benchmark cosine is useless: a 1-D non-negative vector points either along the axis or
nowhere, so the cosine of two models is 1 (both scores > 0) or 0 (one of them is the minimum,
normalised to 0) and the dendrogram would lump every model but the weakest together. There the
distance is the absolute difference of the normalised scores (Euclidean in 1-D), which lives in
[0, 1] like cosine distance, so the same cut keeps a comparable meaning ("40% of the range").

Linkage. Average linkage (UPGMA): the height at which two clusters merge is the mean distance
between their members, in the same units as the cut. Ward, centroid and median linkage assume
Euclidean geometry, which cosine distance is not; single linkage chains models that are only
transitively close. The paper does not name its linkage; average is the standard choice for a
similarity matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from karma_plugin.core.kinship import cosine_kinship

DEFAULT_CUT = 0.4
LINKAGE_METHOD = "average"


@dataclass(frozen=True)
class Clustering:
    """A linkage of ``models`` and its flat clusters at ``cut``."""

    models: tuple[str, ...]
    distance: np.ndarray  # square, symmetric, zero diagonal
    linkage: np.ndarray  # scipy linkage matrix
    cut: float
    labels: np.ndarray  # flat cluster id per model (1-based, scipy's fcluster)
    clusters: tuple[tuple[str, ...], ...]  # largest first; members in dendrogram leaf order
    distance_name: str
    method: str = LINKAGE_METHOD


def score_distance(normalized: np.ndarray) -> tuple[np.ndarray, str]:
    """Distance between models from their normalised scores (rows) and the distance's name."""
    if normalized.shape[1] == 1:
        col = normalized[:, 0]
        return np.abs(col[:, None] - col[None, :]), "absolute difference of normalised scores"
    return 1.0 - cosine_kinship(normalized), "cosine distance (1 - kinship)"


def kinship_distance(kinship: np.ndarray) -> np.ndarray:
    """``1 - S`` for any kinship matrix (cosine in [0, 1], kappa in [-1, 1])."""
    return 1.0 - kinship


def cluster_models(
    models: tuple[str, ...],
    distance: np.ndarray,
    distance_name: str,
    cut: float = DEFAULT_CUT,
    method: str = LINKAGE_METHOD,
) -> Clustering:
    """Average-linkage clustering of ``distance`` and the flat clusters at height ``cut``."""
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    if len(models) < 2:
        raise ValueError("clustering needs at least 2 models")
    square = np.array(distance, dtype=float)
    square = np.clip((square + square.T) / 2.0, 0.0, None)  # exact symmetry, no -1e-16
    np.fill_diagonal(square, 0.0)
    z = linkage(squareform(square, checks=False), method=method)
    labels = fcluster(z, t=cut, criterion="distance")
    leaf_rank = {int(leaf): r for r, leaf in enumerate(leaves_list(z))}
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    ordered = sorted(
        (sorted(members, key=leaf_rank.__getitem__) for members in groups.values()),
        key=lambda members: (-len(members), leaf_rank[members[0]]),
    )
    return Clustering(
        models=tuple(models),
        distance=square,
        linkage=z,
        cut=cut,
        labels=labels,
        clusters=tuple(tuple(models[i] for i in members) for members in ordered),
        distance_name=distance_name,
        method=method,
    )
