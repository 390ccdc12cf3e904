"""Does a judge agree with S_pref? The preference check (issue 18 item 6), pure numpy.

KARMA never asks a judge: the chosen answer is the one of the model with the higher S_pref. A
table of judged win rates (AlpacaEval's, a human arena's) for some of the same models is an
independent check of that choice at the level of models:

- the Spearman rank correlation of S_pref with the win rate, over the models both tables have;
- the pairwise agreement: the share of those models' pairs whose S_pref order the judge
  shares (pairs tied in either table are left out);
- per config, the same share over the pairs of models the config actually forms in a pool,
  each weighted by the number of instructions it is formed for. Kin pairs are close in S_pref,
  so this is where KARMA's labels are least sure; for a KARMA config the chosen side is the
  model with the higher S_pref, for ``rlaif`` the one the instance ratings preferred.

Every figure comes with a percentile interval over draws that carry both tables' noise: S_pref
drawn from the score table's sampling noise (``core.uncertainty.s_pref_draws``, passed in as a
(draws x models) array), and each win rate drawn as a Normal around it with the judge's
standard error (none known: the win rate is taken as exact). In a draw, a KARMA config's chosen
side is the model with the higher S_pref in that draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from karma_plugin.core.uncertainty import INTERVAL, percentile_interval

_DIGITS = 6
# The judge's draws come from their own stream, apart from those of the score table.
_JUDGE_STREAM = 0x6A75646765  # "judge"


@dataclass(frozen=True)
class ConfigPairs:
    """The model pairs a config formed: indices into the checked models, chosen first, with
    the number of instructions each was formed for; ``by_s_pref``: the chosen side is the
    higher S_pref (KARMA), not a rating's choice (rlaif)."""

    chosen: np.ndarray
    rejected: np.ndarray
    weight: np.ndarray
    by_s_pref: bool = True


@dataclass(frozen=True)
class Figure:
    """A figure of the check at the point estimate, its percentile interval over the draws
    (None: not defined, e.g. fewer than three models or no comparable pair) and the number of
    pairs (instructions, for a config) it rests on."""

    value: float | None
    interval: tuple[float, float] | None
    pairs: int


@dataclass(frozen=True)
class PreferenceCheck:
    spearman: Figure
    pairwise: Figure
    configs: dict[str, Figure]
    draws: int
    level: float = INTERVAL


def model_pairs(chosen: np.ndarray, rejected: np.ndarray, by_s_pref: bool = True) -> ConfigPairs:
    """Instruction-level pairs (the chosen and rejected model of each) as distinct model
    pairs, each with the number of instructions it was formed for."""
    both = np.stack([np.asarray(chosen, np.int64), np.asarray(rejected, np.int64)], axis=1)
    if not len(both):
        empty = np.zeros(0, np.int64)
        return ConfigPairs(empty, empty, empty, by_s_pref)
    unique, counts = np.unique(both, axis=0, return_counts=True)
    return ConfigPairs(unique[:, 0], unique[:, 1], counts.astype(np.int64), by_s_pref)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis (ties take their average rank); NaN where a side
    is constant."""
    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def _agreement(
    s_a: np.ndarray, s_b: np.ndarray, w_a: np.ndarray, w_b: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Weighted share of pairs (last axis) where the judge orders a and b as S_pref does;
    pairs tied on either side left out (NaN when none is left)."""
    s = np.sign(s_a - s_b)
    j = np.sign(w_a - w_b)
    comparable = (s != 0) & (j != 0)
    agree = comparable & (s == j)
    total = (weight * comparable).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0, (weight * agree).sum(axis=-1) / np.where(total > 0, total, 1), np.nan
        )


def _figure(point: float, draws: np.ndarray, pairs: int, level: float) -> Figure:
    if not np.isfinite(point):
        return Figure(None, None, pairs)
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Figure(round(float(point), _DIGITS), None, pairs)
    lo, hi = percentile_interval(finite, level)
    return Figure(
        round(float(point), _DIGITS), (round(float(lo), _DIGITS), round(float(hi), _DIGITS)), pairs
    )


def judge_draws(
    win_rate: np.ndarray, stderr: np.ndarray | None, draws: int, seed: int
) -> np.ndarray:
    """(draws, models) win rates: Normal around each with its standard error (NaN or none:
    exact)."""
    win = np.asarray(win_rate, np.float64)
    se = np.zeros_like(win) if stderr is None else np.nan_to_num(np.asarray(stderr, np.float64))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_JUDGE_STREAM,)))
    return win[None, :] + se[None, :] * rng.standard_normal((draws, len(win)))


def preference_check(
    s_pref: np.ndarray,
    s_pref_draws: np.ndarray,
    win_rate: np.ndarray,
    win_stderr: np.ndarray | None = None,
    configs: Mapping[str, ConfigPairs] | None = None,
    seed: int = 0,
    level: float = INTERVAL,
) -> PreferenceCheck:
    """The check over the models of ``s_pref`` (their S_pref; ``s_pref_draws`` (draws x
    models) from the score table's noise) and ``win_rate`` (the judge's, same order; its
    ``win_stderr`` or None). ``configs``: the model pairs each config formed."""
    s = np.asarray(s_pref, np.float64)
    sd = np.asarray(s_pref_draws, np.float64)
    win = np.asarray(win_rate, np.float64)
    if s.ndim != 1 or win.shape != s.shape or sd.ndim != 2 or sd.shape[1] != len(s):
        raise ValueError(f"shapes: s_pref {s.shape}, draws {sd.shape}, win rate {win.shape}")
    draws = sd.shape[0]
    wd = judge_draws(win, win_stderr, draws, seed)
    m = len(s)
    rho = float(spearman(s, win)) if m >= 3 else np.nan
    rho_draws = spearman(sd, wd) if m >= 3 else np.full(draws, np.nan)
    a, b = np.triu_indices(m, k=1)
    ones = np.ones(len(a))
    comparable = int(((s[a] != s[b]) & (win[a] != win[b])).sum())
    pair_point = float(_agreement(s[a], s[b], win[a], win[b], ones)) if len(a) else np.nan
    pair_draws = (
        _agreement(sd[:, a], sd[:, b], wd[:, a], wd[:, b], ones)
        if len(a)
        else np.full(draws, np.nan)
    )
    figures: dict[str, Figure] = {}
    for name, pairs in (configs or {}).items():
        c, r, w = pairs.chosen, pairs.rejected, pairs.weight.astype(np.float64)
        total = int(pairs.weight.sum())
        if not len(c):
            figures[name] = Figure(None, None, 0)
            continue
        # The chosen side's "S_pref" for the check: its own (KARMA), or a fixed +1/-1 for a
        # rating's choice (rlaif), which no draw of the scores changes.
        if pairs.by_s_pref:
            point = _agreement(s[c], s[r], win[c], win[r], w)
            drawn = _agreement(sd[:, c], sd[:, r], wd[:, c], wd[:, r], w)
        else:
            plus, minus = np.ones(len(c)), np.zeros(len(c))
            point = _agreement(plus, minus, win[c], win[r], w)
            drawn = _agreement(plus, minus, wd[:, c], wd[:, r], w)
        figures[name] = _figure(float(point), drawn, total, level)
    return PreferenceCheck(
        spearman=_figure(rho, rho_draws, m, level),
        pairwise=_figure(pair_point, pair_draws, comparable, level),
        configs=figures,
        draws=draws,
        level=level,
    )
