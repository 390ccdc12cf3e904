"""How sure is each KARMA decision? Error bars from the scores' sampling noise (issue 18).

Every benchmark score is an estimate from a finite set of items. Here the score table is drawn
N times from its sampling distribution and the paper's pipeline (min-max normalisation, S_pref,
the kinship cosine, the pairing of every instruction) is run on every draw, vectorised over
draws: numpy in, numpy out, no files, no terminal (docs/design.md §5.1).

The API, for the commands and for the other users of these draws (the dataset card and the
report render ``Uncertainty.to_json()``; the preference check needs S_pref per draw)::

    from karma_plugin.core import uncertainty as u

    source = u.noise_source(kin.scores, kin.benchmarks, n_items={"ifeval": 541, ...})
    # or stderr=(models x benchmarks), per_item={benchmark: (models x items) results}
    unc = u.bootstrap(kin, draws=1000, seed=42, source=source)      # -> Uncertainty
    unc.to_json()                       # the `uncertainty` key of kinship.json (names.md)
    s = u.s_pref_draws(kin, source, 1000, 42)                       # (draws, models)
    d = u.pipeline_draws(kin, source, 1000, 42, models=indices)     # S_pref and kinship
    # binarize's per-config figures (core.binarize.binarize(..., resample=u.Resample(...))):
    pd = u.PairingDraws(names, point_order, d.s_pref, d.kinship, tau)
    stable, sure = pd.stability("k_sim", slots, selection, paired)
    unc = unc.with_pairs({"k_sim": stable}, {"k_sim": sure})

``s_pref_draws`` and ``bootstrap`` with the same (kin, source, draws, seed) see the same draws:
a caller may combine the intervals of kinship.json with its own use of the draws.

Noise sources (``NoiseSource.method``), best first:

- ``item_bootstrap``: per-item results (models x items, 0/1 or in [0, 1]) of a benchmark. Each
  draw resamples its items with replacement, the same items for every model (paired), and
  moves the table's score by the resampled mean minus the full mean.
- ``stderr``: a reported standard error per score: Normal around the score, clipped.
- ``binomial``: the score as a proportion of n items: Normal with sd sqrt(p(1-p)/n), clipped
  to [0, 1]; benchmarks and models independent.

A benchmark column whose scores are all within [0, 1] is a fraction; one with scores up to 100
is a percentage (drawn as a fraction, written back on its scale; its stderr on the same scale).
Cells a better source does not cover fall back to the next one; ``method`` names the best used
and ``description`` says exactly what was done.

The same seed and inputs give the same draws, whatever subset of models is asked for: scores
are drawn for every model of the table in chunks whose size depends on the table alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from karma_plugin.core import pairing
from karma_plugin.core.kinship import (
    Kinship,
    Listing,
    cosine_kinship,
    list_models,
    minmax_normalize,
    preference_scores,
    rank_order,
)
from karma_plugin.errors import InputError

Method = Literal["item_bootstrap", "stderr", "binomial"]
METHODS: tuple[str, ...] = ("item_bootstrap", "stderr", "binomial")
INTERVAL = 0.95
SURE = 0.95  # a pair is "sure" when its chosen side is the better model in this share of draws
# Scores drawn at a time: draws x models x benchmarks (and draws x items for the bootstrap)
# stay below this many numbers (32 MB of float64), whatever the table.
_CHUNK_CELLS = 2**22
_DIGITS = 6
# The kinship of every draw is kept (draws x models x models): at most 2 GB of it. 1,000 draws
# of a pool with 500 models fit; a pool's models, not a leaderboard's, are asked for.
_MAX_KINSHIP_CELLS = 2**28


def check_draws(draws: int) -> int:
    """``--bootstrap N``: at least 2 draws (a percentile interval of 1 draw is no interval)."""
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 2:
        raise InputError(f"--bootstrap needs at least 2 draws, got {draws}")
    return int(draws)


# --- where the noise comes from -------------------------------------------------------------


@dataclass(frozen=True)
class NoiseSource:
    """How each score of a (models x benchmarks) table varies; built by ``noise_source``."""

    benchmarks: tuple[str, ...]
    scale: np.ndarray  # (benchmarks,): 1.0 (fractions) or 100.0 (percentages)
    stderr: np.ndarray  # (models, benchmarks): reported standard error, NaN where none
    n_items: np.ndarray  # (benchmarks,): items behind each score, NaN where unknown
    per_item: Mapping[int, np.ndarray]  # column -> (models, items) results; NaN row: none
    method: Method
    description: str
    cells: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # method -> benchmarks

    @property
    def items(self) -> dict[str, int | None]:
        """The n behind each benchmark (``uncertainty.items``): per-item results' count, else
        the given n, else None."""
        out: dict[str, int | None] = {}
        for j, bench in enumerate(self.benchmarks):
            if j in self.per_item:
                out[bench] = int(self.per_item[j].shape[1])
            elif np.isfinite(self.n_items[j]):
                out[bench] = int(self.n_items[j])
            else:
                out[bench] = None
        return out


def score_scale(scores: np.ndarray, benchmarks: Sequence[str]) -> np.ndarray:
    """Per column 1.0 when every score is in [0, 1], 100.0 when they are in [0, 100]."""
    scale = np.ones(len(benchmarks))
    for j, bench in enumerate(benchmarks):
        col = scores[:, j][np.isfinite(scores[:, j])]
        if len(col) and (col.min() < 0 or col.max() > 100):
            raise InputError(
                f"--bootstrap: the {bench} scores are not proportions (they range from "
                f"{col.min():g} to {col.max():g}; expected [0, 1] or [0, 100])"
            )
        if len(col) and col.max() > 1:
            scale[j] = 100.0
    return scale


def noise_source(
    scores: np.ndarray,
    benchmarks: Sequence[str],
    *,
    stderr: np.ndarray | None = None,
    n_items: Mapping[str, int | None] | None = None,
    per_item: Mapping[str, np.ndarray] | None = None,
    origin: str = "",
) -> NoiseSource:
    """Decide, cell by cell, how the ``scores`` (models x ``benchmarks``) are drawn.

    ``per_item``: benchmark -> (models, items) results in [0, 1] (a row of NaN: that model has
    none); ``stderr``: (models, benchmarks), NaN where none, on each column's scale;
    ``n_items``: benchmark -> n. ``origin`` names where the noise was read (for the
    description). InputError when a cell has no source at all.
    """
    scores = np.asarray(scores, np.float64)
    benchmarks = tuple(benchmarks)
    m, b = scores.shape
    scale = score_scale(scores, benchmarks)
    se = np.full((m, b), np.nan) if stderr is None else np.asarray(stderr, np.float64)
    if se.shape != (m, b):
        raise ValueError(f"stderr has shape {se.shape}, scores {scores.shape}")
    if (se[np.isfinite(se)] < 0).any():
        raise InputError("--bootstrap: a standard error is negative")
    given = dict(n_items or {})
    n = np.array([np.nan if given.get(x) is None else float(given[x] or 0) for x in benchmarks])
    if (n[np.isfinite(n)] < 1).any():
        raise InputError("--bootstrap: a benchmark's number of items must be at least 1")
    items: dict[int, np.ndarray] = {}
    for bench, results in (per_item or {}).items():
        if bench not in benchmarks:
            continue
        arr = np.asarray(results, np.float64)
        if arr.ndim != 2 or arr.shape[0] != m or arr.shape[1] < 1:
            raise ValueError(f"per-item results of {bench} have shape {arr.shape}")
        finite = arr[np.isfinite(arr)]
        if len(finite) and (finite.min() < 0 or finite.max() > 1):
            raise InputError(f"--bootstrap: per-item results of {bench} are not in [0, 1]")
        items[benchmarks.index(bench)] = arr

    how: dict[str, list[str]] = {key: [] for key in METHODS}
    for j, bench in enumerate(benchmarks):
        covered = np.zeros(m, bool)
        if j in items:
            covered = ~np.isnan(items[j]).any(axis=1)
            if covered.any():
                how["item_bootstrap"].append(bench)
        with_se = ~covered & np.isfinite(se[:, j])
        if with_se.any():
            how["stderr"].append(bench)
        rest = ~covered & ~with_se & np.isfinite(scores[:, j])
        if rest.any():
            if not np.isfinite(n[j]):
                raise InputError(
                    f"--bootstrap: no noise for {bench}: no per-item results or standard "
                    f"errors, and its number of items is unknown (give --items {bench}=N, "
                    "or an n_items row in the score table)"
                )
            how["binomial"].append(bench)
    method: Method = (
        "item_bootstrap" if how["item_bootstrap"] else "stderr" if how["stderr"] else "binomial"
    )
    cells = {key: tuple(v) for key, v in how.items() if v}
    return NoiseSource(
        benchmarks, scale, se, n, items, method, _describe(cells, n, benchmarks, origin), cells
    )


def _describe(
    cells: Mapping[str, tuple[str, ...]], n: np.ndarray, benchmarks: tuple[str, ...], origin: str
) -> str:
    """One sentence: what was resampled and how."""
    where = f" in {origin}" if origin else ""
    parts = []
    for key, benches in cells.items():
        names = ", ".join(benches)
        if key == "item_bootstrap":
            parts.append(
                f"the items of {names} resampled with replacement, the same items for every "
                f"model (a paired item bootstrap of lm-eval's per-item results{where})"
            )
        elif key == "stderr":
            parts.append(f"{names} drawn from a Normal with each score's reported standard error")
        else:
            counts = ", ".join(f"{x} {int(n[benchmarks.index(x)]):,}" for x in benches)
            parts.append(
                f"{names} drawn as proportions of their items (Normal, sd sqrt(p(1-p)/n), "
                f"n: {counts})"
            )
    return (
        "Each draw: " + "; ".join(parts) + "; scores clipped to their range, benchmarks "
        "drawn independently of each other."
    )


# --- drawing the scores and running the pipeline on every draw -----------------------------


def _chunk(source: NoiseSource, models: int, draws: int) -> int:
    widest = max([models * len(source.benchmarks), *(a.shape[1] for a in source.per_item.values())])
    return max(1, min(draws, _CHUNK_CELLS // max(widest, 1)))


def draw_scores(
    scores: np.ndarray, source: NoiseSource, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """``draws`` score tables (draws x models x benchmarks) from ``source``'s noise model."""
    scores = np.asarray(scores, np.float64)
    m, b = scores.shape
    out = np.empty((draws, m, b))
    for j in range(b):
        scale = source.scale[j]
        col = np.repeat(scores[None, :, j], draws, axis=0)
        left = np.isfinite(scores[:, j])
        results = source.per_item.get(j)
        if results is not None:
            have = ~np.isnan(results).any(axis=1)
            n = results.shape[1]
            # Paired: one resample of the item indices per draw, shared by every model.
            picks = rng.integers(0, n, size=(draws, n))
            counts = np.bincount(
                (picks + n * np.arange(draws)[:, None]).ravel(), minlength=draws * n
            ).reshape(draws, n)
            means = counts @ results[have].T / n
            col[:, have] += scale * (means - results[have].mean(axis=1))
            left &= ~have
        if left.any():
            p = np.clip(scores[left, j] / scale, 0.0, 1.0)
            se = source.stderr[left, j]
            binomial = np.sqrt(p * (1 - p) / source.n_items[j]) * scale
            sd = np.where(np.isfinite(se), se, binomial)
            col[:, left] += sd * rng.standard_normal((draws, int(left.sum())))
        out[:, :, j] = np.clip(col, 0.0, scale)
    return out


@dataclass(frozen=True)
class PipelineDraws:
    """S_pref and kinship on every draw, for the models ``models`` (indices into the Kinship's
    models; normalised over all of them, as the point estimate is)."""

    models: np.ndarray  # (m,)
    s_pref: np.ndarray  # (draws, m)
    kinship: np.ndarray  # (draws, m, m); a read-only broadcast when the metric is not cosine


def pipeline_draws(
    kin: Kinship,
    source: NoiseSource,
    draws: int,
    seed: int,
    models: np.ndarray | None = None,
) -> PipelineDraws:
    """Normalise, score and relate every draw of ``kin``'s scores (``source`` describes their
    noise), keeping S_pref and kinship of ``models`` only (all by default).

    A sample-level kinship (``ec``, ``capa``) is not a function of the scores: it is held at
    its point estimate (only S_pref varies; docs/design.md §5.1)."""
    draws = check_draws(draws)
    idx = np.arange(len(kin.models)) if models is None else np.asarray(models, np.int64)
    if draws * len(idx) ** 2 > _MAX_KINSHIP_CELLS:
        gb = draws * len(idx) ** 2 * 8 / 1e9
        raise InputError(
            f"--bootstrap {draws}: the kinship of {len(idx)} models on every draw would take "
            f"{gb:.1f} GB; use fewer draws"
        )
    rng = np.random.default_rng(seed)
    step = _chunk(source, len(kin.models), draws)
    s_pref = np.empty((draws, len(idx)))
    cosine = kin.metric == "cosine"
    kinship = np.empty((draws, len(idx), len(idx))) if cosine else None
    for lo in range(0, draws, step):
        hi = min(lo + step, draws)
        normalized = minmax_normalize(draw_scores(kin.scores, source, hi - lo, rng))
        s_pref[lo:hi] = preference_scores(normalized)[:, idx]
        if kinship is not None:
            kinship[lo:hi] = cosine_kinship(normalized[:, idx])
    if kinship is None:
        kinship = np.broadcast_to(kin.kinship[np.ix_(idx, idx)], (draws, len(idx), len(idx)))
    return PipelineDraws(idx, s_pref, kinship)


def s_pref_draws(
    kin: Kinship, source: NoiseSource, draws: int, seed: int, models: np.ndarray | None = None
) -> np.ndarray:
    """(draws, models) S_pref of every draw: the same draws ``bootstrap`` summarises."""
    return pipeline_draws(kin, source, draws, seed, models).s_pref


def percentile_interval(values: np.ndarray, level: float = INTERVAL) -> np.ndarray:
    """The central ``level`` percentile interval over the first axis: shape (2, ...)."""
    tail = (1.0 - level) / 2.0 * 100.0
    return np.percentile(values, [tail, 100.0 - tail], axis=0)


# --- pairing on every draw -------------------------------------------------------------------

_NONE = np.iinfo(np.int64).max  # pairing's "no such pair" rank
_BLOCK_CELLS = 2**16  # a stacked order's (draws x models)^2 matrices stay below this size


def stack_orders(orders: pairing.ModelOrder, draws: np.ndarray) -> pairing.ModelOrder:
    """One ModelOrder over the disjoint union of the models of the ``draws`` of ``orders`` (a
    ``pairing.model_order`` over a leading draws axis): model ``i`` of the k-th draw is
    ``k * m + i``. The strategies compare only models of one row, and a row here holds models
    of one draw, so a strategy pairs rows of many draws in one call. Ranks keep their meaning
    within a block; across blocks they are never compared."""
    m = orders.s_pref.shape[-1]
    size = m * len(draws)
    ids = np.arange(size).reshape(len(draws), m)
    rows, cols = ids[:, :, None], ids[:, None, :]
    kinship = np.zeros((size, size))
    pair_rank = np.full((size, size), _NONE, np.int64)
    partner_rank = np.full((size, size), _NONE, np.int64)
    kinship[rows, cols] = orders.kinship[draws]
    pair_rank[rows, cols] = orders.pair_rank[draws]
    partner_rank[rows, cols] = orders.partner_rank[draws]
    return pairing.ModelOrder(
        s_pref=orders.s_pref[draws].reshape(-1),
        kinship=kinship,
        score_rank=orders.score_rank[draws].reshape(-1),
        pair_rank=pair_rank,
        partner_rank=partner_rank,
        name_rank=np.tile(orders.name_rank, len(draws)),
    )


def _best(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values[:, columns].max(axis=-1)``: (draws, groups) from (draws, n) and (groups, k),
    one contiguous column at a time (a max over a short last axis is several times slower)."""
    best = values[:, columns[:, 0]]
    for j in range(1, columns.shape[1]):
        np.maximum(best, values[:, columns[:, j]], out=best)
    return best


def _groups(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of a small-integer matrix (entries >= -1), the group of each row and
    the size of each group: ``np.unique(axis=0)``, through one int64 key per row when the rows
    fit in one (a 64,000-row sort of structured rows costs 20 times more)."""
    base = int(rows.max(initial=0)) + 2
    if rows.shape[1] * np.log2(base) < 62:
        key = np.zeros(len(rows), np.int64)
        for col in rows.T:
            key = key * base + (col + 1)
        _, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        return rows[first], inverse.reshape(-1), counts
    groups, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return groups, inverse.reshape(-1), counts


class PairingDraws:
    """The pairing of a pool's instructions on every draw: per config, ``stability``.

    ``names`` are the models the strategies see (those of the pool), ``point`` their order at
    the point estimate, ``s_pref`` (draws, m) and ``kinship`` (draws, m, m) the draws for the
    same models. The per-draw orders are built once and shared by every strategy.

    How it stays cheap (1,000 draws of a 64,000-instruction pool cost well under a second):
    a KARMA strategy's pair depends only on the set of models that answered (every order it
    uses ranks models, not columns), so each distinct set (a group) is considered once,
    weighted by its instructions. In a draw, a group whose chosen pair still wins by a strict
    margin (k_score: the chosen and rejected models still the two best by S_pref; k_sim: their
    kinship still the highest of the set's pairs; k_score_sim: the chosen still the best and
    the rejected still its closest; and for all, the same S_pref order and the same side of
    tau) provably keeps its pair; only the others are paired again, with the strategy itself,
    many draws in one call (``stack_orders``). rlaif's pair depends on the ratings too, and on
    the draw only through which models pass tau beside the best-rated one: its instructions
    are paired again only where that changes.
    """

    def __init__(
        self,
        names: tuple[str, ...],
        point: pairing.ModelOrder,
        s_pref: np.ndarray,
        kinship: np.ndarray,
        tau: float,
    ) -> None:
        self.names, self.point, self.tau = names, point, tau
        self.s_pref, self.kinship = s_pref, kinship
        self._block: tuple[int, pairing.ModelOrder] | None = None

    @property
    def draws(self) -> int:
        return int(self.s_pref.shape[0])

    def _step(self) -> int:
        """Draws per chunk: a stacked order's matrices stay below ``_BLOCK_CELLS``."""
        return max(1, min(self.draws, int(np.sqrt(_BLOCK_CELLS)) // max(len(self.names), 1)))

    def _orders(self, d: int) -> tuple[int, pairing.ModelOrder]:
        """The orders of the block of draws that holds ``d`` (its first draw, the orders over a
        leading draws axis): whole chunks, up to 2**21 order cells (a few MB); for a pool's
        handful of models one block holds every draw, built once for every strategy."""
        step = self._step()
        size = max(step, (2**21 // max(len(self.names), 1) ** 2) // step * step)
        first = d // size * size
        if self._block is None or self._block[0] != first:
            block = slice(first, min(first + size, self.draws))
            orders = pairing.model_order(self.names, self.s_pref[block], self.kinship[block])
            self._block = (first, orders)
        return self._block

    def order(self, d: int) -> pairing.ModelOrder:
        """The orders of draw ``d``, as ``pairing.model_order`` gives them for one draw."""
        first, o = self._orders(d)
        x = d - first
        return pairing.ModelOrder(
            o.s_pref[x], o.kinship[x], o.score_rank[x], o.pair_rank[x], o.partner_rank[x],
            o.name_rank,
        )  # fmt: skip

    def _stacked(self, ds: np.ndarray) -> pairing.ModelOrder:
        """The orders of the chunk ``ds`` stacked into one (``stack_orders``)."""
        first, orders = self._orders(int(ds[0]))
        return stack_orders(orders, ds - first)

    def _chunks(self) -> list[np.ndarray]:
        step = self._step()
        return [np.arange(lo, min(lo + step, self.draws)) for lo in range(0, self.draws, step)]

    def stability(
        self,
        strategy: str,
        slots: np.ndarray,
        selection: pairing.Selection,
        paired: np.ndarray,
        ratings: np.ndarray | None = None,
        draw_u: np.ndarray | None = None,
    ) -> tuple[float | None, float | None]:
        """``(stability, sure_pairs)`` of one config; (None, None) when it has no pairs.

        ``slots`` (n, K) and ``selection`` as the strategy saw them at the point estimate,
        ``paired`` (n,) the instructions it paired there (rlaif also takes ``ratings`` and
        ``draw_u`` as ``pairing.rlaif`` does).

        Stability: the share of the paired instructions whose (chosen model, rejected model)
        is the same in a draw, averaged over draws (unpaired in a draw counts as changed).
        Sure pairs: the share of pairs whose chosen model has the higher S_pref in at least 95%
        of draws."""
        rows = np.flatnonzero(paired)
        if not len(rows):
            return None, None
        m = len(self.names)
        at = slots[rows]
        r = np.arange(len(rows))
        chosen, rejected = at[r, selection.chosen[rows]], at[r, selection.rejected[rows]]
        # Sure pairs depend on the two models alone: each distinct (chosen, rejected) once.
        pairs, count = np.unique(chosen * m + rejected, return_counts=True)
        better = (self.s_pref[:, pairs // m] > self.s_pref[:, pairs % m]).mean(axis=0) >= SURE
        sure = float(count[better].sum() / count.sum())
        if strategy == "rlaif":
            if ratings is None or draw_u is None:
                raise ValueError("rlaif's stability needs the ratings and draw_u")
            kept = self._rlaif(at, ratings[rows], draw_u[rows], chosen, rejected)
        else:
            groups, _, weight = _groups(np.column_stack([np.sort(at, axis=1), chosen, rejected]))
            k = at.shape[1]
            kept = self._karma(strategy, groups[:, :k], groups[:, k], groups[:, k + 1], weight)
        return kept / (self.draws * len(rows)), sure

    def _karma(
        self,
        strategy: str,
        g_slots: np.ndarray,
        g_c: np.ndarray,
        g_r: np.ndarray,
        weight: np.ndarray,
    ) -> float:
        """Over all draws, the instructions (weighted groups) that keep their pair."""
        select = getattr(pairing, strategy)
        m = len(self.names)
        valid = g_slots >= 0
        # Index m (of S_pref) and m * m (of the flat kinship) read -inf: a left-out model.
        none_s, none_k = m, m * m
        others = valid & (g_slots != g_c[:, None]) & (g_slots != g_r[:, None])
        if strategy == "k_score":  # the rejected beats every other model of the set
            s_rivals = np.where(others, g_slots, none_s)
        elif strategy == "k_score_sim":  # the chosen beats all; the rejected is its closest
            s_rivals = np.where(valid & (g_slots != g_c[:, None]), g_slots, none_s)
            k_rivals = np.where(others, g_c[:, None] * m + g_slots, none_k)
        elif strategy == "k_sim":  # the chosen pair is the closest of the set's pairs
            p, q = np.triu_indices(g_slots.shape[1], k=1)
            a, b = g_slots[:, p], g_slots[:, q]
            chosen_pair = ((a == g_c[:, None]) & (b == g_r[:, None])) | (
                (a == g_r[:, None]) & (b == g_c[:, None])
            )
            k_rivals = np.where((a >= 0) & (b >= 0) & ~chosen_pair, a * m + b, none_k)
        else:
            raise ValueError(f"not a KARMA strategy: {strategy}")
        cr = g_c * m + g_r
        kept = 0.0
        for ds in self._chunks():
            pad = np.full((len(ds), 1), -np.inf)
            s = np.concatenate([self.s_pref[ds], pad], axis=1)  # (C, m + 1)
            kin = np.concatenate([self.kinship[ds].reshape(len(ds), m * m), pad], axis=1)
            s_c, s_r, k_cr = s[:, g_c], s[:, g_r], kin[:, cr]  # (C, G)
            ok = (s_c > s_r) & (k_cr >= self.tau)
            if strategy == "k_score":
                ok &= s_r > _best(s, s_rivals)
            elif strategy == "k_score_sim":
                ok &= (s_c > _best(s, s_rivals)) & (k_cr > _best(kin, k_rivals))
            else:
                ok &= k_cr > _best(kin, k_rivals)
            kept += float((ok @ weight.astype(np.float64)).sum())  # over draws and groups
            again_d, again_g = np.nonzero(~ok)
            if not len(again_d):
                continue
            # The doubtful (draw, group) cells, paired again by the strategy itself.
            offset = again_d * m
            order = self._stacked(ds)
            rows = np.where(valid[again_g], g_slots[again_g] + offset[:, None], -1)
            sel = select(rows, order, self.tau)
            i = np.arange(len(rows))
            hit = (
                (sel.reason == 0)
                & (rows[i, sel.chosen] == g_c[again_g] + offset)
                & (rows[i, sel.rejected] == g_r[again_g] + offset)
            )
            kept += float(weight[again_g][hit].sum())
        return kept

    def _rlaif(
        self,
        slots: np.ndarray,
        ratings: np.ndarray,
        draw_u: np.ndarray,
        chosen: np.ndarray,
        rejected: np.ndarray,
    ) -> float:
        """Over all draws, the paired instructions (``slots`` etc. are theirs) that keep their
        pair. Only kinship enters rlaif: a draw changes nothing unless some model passes tau
        beside the best-rated one (the chosen) differently, which is rare."""
        m = len(self.names)
        flips = (self.kinship >= self.tau) != (self.point.kinship >= self.tau)[None]
        has = np.zeros((len(slots), m + 1), bool)  # has[i, x]: model x answered instruction i
        has[np.arange(len(slots))[:, None], np.where(slots >= 0, slots, m)] = True
        kept = float(self.draws * len(slots))
        flipped = flips.any(axis=(1, 2))
        for ds in self._chunks():
            # The instructions of every draw of the chunk that may change, paired again in one
            # call (their models offset per draw, as ``stack_orders`` numbers them).
            parts = []
            for x in np.flatnonzero(flipped[ds]):
                changed = np.zeros(len(slots), bool)
                for c, y in zip(*np.nonzero(flips[ds[x]]), strict=True):
                    changed |= (chosen == c) & has[:, y]
                parts.append((x, np.flatnonzero(changed)))
            parts = [(x, again) for x, again in parts if len(again)]
            if not parts:
                continue
            again = np.concatenate([a for _, a in parts])
            offset = np.concatenate([np.full(len(a), x * m) for x, a in parts])
            rows = np.where(slots[again] >= 0, slots[again] + offset[:, None], -1)
            sel = pairing.rlaif(rows, ratings[again], self._stacked(ds), draw_u[again], self.tau)
            i = np.arange(len(again))
            hit = (
                (sel.reason == 0)
                & (rows[i, sel.chosen] == chosen[again] + offset)
                & (rows[i, sel.rejected] == rejected[again] + offset)
            )
            kept -= len(again) - int(hit.sum())
        return kept


# --- what is reported -------------------------------------------------------------------------


@dataclass(frozen=True)
class Resample:
    """What ``--bootstrap N --seed S`` asks of binarize: the draws and their noise source."""

    source: NoiseSource
    draws: int
    seed: int


def _r(value: float) -> float:
    return round(float(value), _DIGITS)


@dataclass(frozen=True)
class Uncertainty:
    """The ``uncertainty`` key of kinship.json (docs/design.md §5.1; names.md fixes it)."""

    method: str
    description: str
    draws: int
    seed: int
    items: dict[str, int | None]
    s_pref: dict[str, tuple[float, float]]
    kinship: dict[str, dict[str, tuple[float, float]]]
    s_pref_order: tuple[tuple[str, str, float], ...]
    interval: float = INTERVAL
    stability: dict[str, float | None] | None = None  # binarize only
    sure_pairs: dict[str, float | None] | None = None  # binarize only

    def with_pairs(
        self, stability: Mapping[str, float | None], sure_pairs: Mapping[str, float | None]
    ) -> Uncertainty:
        """The same, with binarize's per-config figures (rounded as the rest)."""

        def rounded(d: Mapping[str, float | None]) -> dict[str, float | None]:
            return {c: None if v is None else _r(v) for c, v in d.items()}

        return replace(self, stability=rounded(stability), sure_pairs=rounded(sure_pairs))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "method": self.method,
            "description": self.description,
            "draws": self.draws,
            "seed": self.seed,
            "interval": self.interval,
            "items": dict(self.items),
            "s_pref": {m: list(v) for m, v in self.s_pref.items()},
            "kinship": {a: {b: list(v) for b, v in row.items()} for a, row in self.kinship.items()},
            "s_pref_order": [list(p) for p in self.s_pref_order],
        }
        if self.stability is not None:
            doc["stability"] = dict(self.stability)
        if self.sure_pairs is not None:
            doc["sure_pairs"] = dict(self.sure_pairs)
        return doc


def bootstrap(
    kin: Kinship,
    draws: int,
    seed: int,
    source: NoiseSource,
    listing: Listing | None = None,
) -> Uncertainty:
    """Intervals of S_pref and kinship for the listed models (``listing``, default as
    kinship.json lists them: at most 30) and the probability that each listed pair keeps its
    S_pref order (higher model first, pairs by rank), over ``draws`` draws."""
    draws = check_draws(draws)
    listing = listing or list_models(kin)
    idx = np.asarray(listing.indices, np.int64)
    d = pipeline_draws(kin, source, draws, seed, idx)
    names = tuple(kin.models[i] for i in idx)
    s_lo, s_hi = percentile_interval(d.s_pref)
    k_lo, k_hi = percentile_interval(d.kinship)
    s_pref = {m: (_r(lo), _r(hi)) for m, lo, hi in zip(names, s_lo, s_hi, strict=True)}
    kinship = {
        a: {b: (_r(k_lo[i, j]), _r(k_hi[i, j])) for j, b in enumerate(names)}
        for i, a in enumerate(names)
    }
    rank = rank_order(names, kin.s_pref[idx])
    order = []
    for x, i in enumerate(rank):
        for j in rank[x + 1 :]:
            p = (d.s_pref[:, i] > d.s_pref[:, j]).mean()
            order.append((names[i], names[j], _r(p)))
    return Uncertainty(
        method=source.method,
        description=source.description,
        draws=draws,
        seed=seed,
        items=source.items,
        s_pref=s_pref,
        kinship=kinship,
        s_pref_order=tuple(order),
    )
