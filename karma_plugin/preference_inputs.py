"""The preference check a run asks for (``--preference TABLE --preference-columns ...``):
a judge's table of win rates, read with the one table reader (``karma_plugin.tables``), its
models matched to the score table's, S_pref drawn from the score table's noise
(``core.uncertainty``), the maths of ``core.preference``; the result as kinship.json's
``preference_check`` key. For Python callers as for `report` and `binarize`::

    from karma_plugin.preference_inputs import read_judge_table, preference_check_doc
    judge = read_judge_table("alpaca.csv", "win_rate=length_controlled_winrate")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np

from karma_plugin.core import preference, uncertainty
from karma_plugin.core.kinship import MAX_LISTED_MODELS, Kinship
from karma_plugin.core.pairing import KARMA_STRATEGIES
from karma_plugin.errors import InputError
from karma_plugin.pools.layout import parse_mapping
from karma_plugin.tables import mapped_columns, names_of, numbers_of, read_table

OPTION = "--preference-columns"
KEYS = ("model", "win_rate", "stderr")
DEFAULT_DRAWS = 1000  # the check's draws when the run has no --bootstrap N


@dataclass(frozen=True)
class JudgeTable:
    """A judge's win rate per model (NaN: none), its standard errors if given, where from."""

    source: str
    win_rate_column: str
    stderr_column: str | None
    models: tuple[str, ...]
    win_rate: np.ndarray
    stderr: np.ndarray | None


def judge_from_options(
    spec: str | None, columns: str | None, names: tuple[tuple[str, str], ...] = ()
) -> JudgeTable | None:
    """The judge table of ``--preference`` (read before any other work), or None; its
    companion options without it are refused."""
    if spec is None:
        if columns is not None or names:
            which = "--preference-columns" if columns is not None else "--preference-name"
            raise InputError(f"{which} needs --preference TABLE")
        return None
    return read_judge_table(spec, columns)


def local_inputs(spec: str | None) -> list[str]:
    """The local file ``--preference`` reads, if any (never to be replaced by an output)."""
    from pathlib import Path

    return [spec] if spec and Path(spec).exists() else []


def shipped_names() -> dict[str, str]:
    """AlpacaEval's names of the authors' models -> the authors' names (package data)."""
    doc = json.loads((files("karma_plugin.data") / "alpaca_eval_names.json").read_text("utf-8"))
    return dict(doc["names"])


def read_judge_table(spec: str, columns: str | None, split: str = "train") -> JudgeTable:
    """``spec`` (a .csv/.parquet file or ORG/NAME[@REV]) through ``columns``:
    ``model=COL,win_rate=COL[,stderr=COL]``; ``model`` defaults to the first column (an
    unnamed pandas index, as AlpacaEval writes its leaderboards)."""
    if not columns:
        raise InputError(f"--preference needs {OPTION} win_rate=COLUMN[,stderr=COLUMN]")
    mapping = parse_mapping(
        columns, OPTION, required=("win_rate",), allowed=KEYS, optional_first="model"
    )
    table = read_table(spec, split, what="preference table")
    found = mapped_columns(table, mapping, OPTION)
    models = names_of(found["model"], OPTION, "model", table.source)
    seen: dict[str, int] = {}
    for model in models:
        seen[model] = seen.get(model, 0) + 1
    twice = [m for m, n in seen.items() if n > 1]
    if twice:
        raise InputError(f"{OPTION}: model {twice[0]!r} appears twice in {table.source}")
    win = numbers_of(found["win_rate"], OPTION, "win_rate", table.source, models)
    stderr = None
    if "stderr" in found:
        stderr = numbers_of(found["stderr"], OPTION, "stderr", table.source, models)
        if (stderr[np.isfinite(stderr)] < 0).any():
            raise InputError(f"{OPTION}: a stderr of {table.source} is negative")

    def header(key: str) -> str:
        from karma_plugin.tables import find_column

        name = table.names[find_column(table, mapping[key], OPTION, key)]
        return name or mapping[key]

    return JudgeTable(
        table.source,
        header("win_rate"),
        header("stderr") if "stderr" in mapping else None,
        tuple(models),
        win,
        stderr,
    )


def match_models(
    models: tuple[str, ...], judge: JudgeTable, names: Mapping[str, str] | None = None
) -> dict[str, str]:
    """score-table model -> judge-table model, for every model of ``models`` that the judge
    scored: through ``names`` (``--preference-name JUDGE_MODEL=MODEL``) first, then the same
    name, then the same name in any case, then the shipped AlpacaEval names."""
    given = dict(names or {})
    scored = {m for m, w in zip(judge.models, judge.win_rate, strict=True) if np.isfinite(w)}
    unknown = [j for j in given if j not in judge.models]
    if unknown:
        raise InputError(f"--preference-name: {judge.source} has no model {unknown[0]!r}")
    targets = [t for t in given.values() if t not in models]
    if targets:
        raise InputError(f"--preference-name: the score table has no model {targets[0]!r}")
    matched: dict[str, str] = {}

    def take(score_model: str, judge_model: str) -> None:
        if score_model in matched or judge_model in matched.values():
            return
        if judge_model in scored:
            matched[score_model] = judge_model

    for judge_model, score_model in given.items():
        if score_model in matched:
            raise InputError(f"--preference-name: two judge models are named {score_model!r}")
        take(score_model, judge_model)
    lower = {j.lower(): j for j in scored}
    for model in models:
        if model in scored:
            take(model, model)
    for model in models:
        if model.lower() in lower:
            take(model, lower[model.lower()])
    in_table = set(models)
    for judge_model, score_model in shipped_names().items():
        if score_model in in_table:
            take(score_model, judge_model)
    if len(matched) < 2:
        raise InputError(
            f"--preference: {len(matched)} of the score table's models are in {judge.source} "
            "(at least 2 are needed); --preference-name JUDGE_MODEL=MODEL matches one named "
            "otherwise"
        )
    return {m: matched[m] for m in models if m in matched}  # in score-table order


def config_pairs(
    result: Any, kin: Kinship, matched: Mapping[str, str]
) -> dict[str, preference.ConfigPairs]:
    """The model pairs each config of a binarize ``result`` formed, between models the judge
    scored (indices into the matched models, in score-table order)."""
    position = {kin.models.index(m): i for i, m in enumerate(matched)}
    local = np.full(len(kin.models), -1, np.int64)
    for model_index, i in position.items():
        local[model_index] = i
    out = {}
    for config, pairs in result.pairs.items():
        chosen = local[result.flat_model[pairs.chosen]]
        rejected = local[result.flat_model[pairs.rejected]]
        keep = (chosen >= 0) & (rejected >= 0)
        out[config] = preference.model_pairs(
            chosen[keep], rejected[keep], by_s_pref=config in KARMA_STRATEGIES
        )
    return out


def _figure(figure: preference.Figure, with_pairs: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "value": figure.value,
        "interval": None if figure.interval is None else list(figure.interval),
    }
    if with_pairs:
        doc["pairs"] = figure.pairs
    return doc


def preference_check_doc(
    kin: Kinship,
    judge: JudgeTable,
    source: uncertainty.NoiseSource,
    draws: int,
    seed: int,
    names: Mapping[str, str] | None = None,
    result: Any = None,
    table: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """kinship.json's ``preference_check`` (docs/design.md): ``source`` is the score table's
    noise (``kinship_inputs.noise_from_options``); ``result`` a binarize Result, for the
    per-config figures; ``table`` how the judge table is named in the output (default: as
    read)."""
    matched = match_models(kin.models, judge, names)
    idx = np.array([kin.models.index(m) for m in matched], np.int64)
    rows = np.array([judge.models.index(j) for j in matched.values()], np.int64)
    s_draws = uncertainty.s_pref_draws(kin, source, draws, seed, idx)
    check = preference.preference_check(
        kin.s_pref[idx],
        s_draws,
        judge.win_rate[rows],
        None if judge.stderr is None else judge.stderr[rows],
        config_pairs(result, kin, matched) if result is not None else None,
        seed=seed,
    )
    unmatched = [m for m in kin.models if m not in matched]
    doc: dict[str, Any] = {
        "table": table or judge.source,
        "win_rate_column": judge.win_rate_column,
        "stderr_column": judge.stderr_column,
        "matched": dict(matched),
        "unmatched": unmatched[:MAX_LISTED_MODELS],
    }
    # The numbers the check compared, per matched model (the card's and report's table).
    doc["s_pref"] = {m: round(float(kin.s_pref[i]), 6) for m, i in zip(matched, idx, strict=True)}
    doc["win_rate"] = {
        m: round(float(judge.win_rate[r]), 6) for m, r in zip(matched, rows, strict=True)
    }
    if len(unmatched) > MAX_LISTED_MODELS:
        doc["unmatched_count"] = len(unmatched)
    doc.update(
        {
            "draws": check.draws,
            "seed": seed,
            "interval": check.level,
            "noise": source.method,
            "spearman": _figure(check.spearman, with_pairs=False),
            "pairwise_agreement": _figure(check.pairwise),
            "configs": {c: _figure(f) for c, f in check.configs.items()},
        }
    )
    if unmatched and warn:
        more = f" and {len(unmatched) - 10} more" if len(unmatched) > 10 else ""
        warn(
            f"--preference: {len(unmatched)} of the score table's models are not in "
            f"{judge.source}: {', '.join(unmatched[:10])}{more}"
        )
    return doc


def noise_for_check(
    kin: Kinship,
    scores: str,
    samples: tuple[str, ...] = (),
    items: Mapping[str, int] | None = None,
    names: Mapping[str, str] | None = None,
) -> uncertainty.NoiseSource:
    """The score table's noise for the check's S_pref draws (as ``--bootstrap`` finds it)."""
    from karma_plugin.kinship_inputs import noise_from_options

    try:
        return noise_from_options(kin, scores, samples, items, names)
    except InputError as exc:
        raise InputError(f"--preference draws S_pref from the scores' noise: {exc}") from None


def summary_line(doc: Mapping[str, Any]) -> str:
    """One line of the check for the terminal."""

    def show(fig: Mapping[str, Any], percent: bool) -> str:
        if fig.get("value") is None:
            return "–"
        fmt = (lambda v: f"{100 * v:.0f}%") if percent else (lambda v: f"{v:.2f}")
        lo_hi = fig.get("interval")
        text = fmt(fig["value"])
        return text + (f" [{fmt(lo_hi[0])}, {fmt(lo_hi[1])}]" if lo_hi else "")

    parts = [
        f"Spearman {show(doc['spearman'], False)}",
        f"pairwise agreement {show(doc['pairwise_agreement'], True)}",
        *(f"{c} {show(f, True)}" for c, f in doc.get("configs", {}).items()),
    ]
    return (
        f"Preference check ({len(doc['matched'])} models of {doc['table']}, "
        f"{doc['win_rate_column']}): " + "; ".join(parts)
    )
