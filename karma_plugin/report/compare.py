"""Trained models side by side (paper Table 2 / Table 4, Fig. 5 / 6).

Each entry is one trained model's lm-eval results, labelled ``[GROUP/]COLUMN``: the column is
the strategy (``baseline``, ``k_score``, ...), the group the base model and method
(``Qwen2.5-3B/DPO``). Rows are benchmark x group, then a ``mean`` row per group: the plain mean
of the benchmarks that every column of the group has (Table 2's "Total"), so it compares like
with like. The best value of each row is marked (all of them on a tie).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from karma_plugin.core.benchmarks import BENCHMARKS
from karma_plugin.core.pairing import KARMA_STRATEGIES
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic
from karma_plugin.lmeval.results import Run, newest_scores, read_runs, runs_by_model
from karma_plugin.outputs.markdown import markdown_table

# Columns named like the paper's strategies come first, in the paper's order.
STRATEGY_ORDER = ("baseline", "rlaif", *KARMA_STRATEGIES)
MEAN = "mean"


@dataclass(frozen=True)
class Entry:
    group: str
    column: str
    scores: dict[str, float]
    sources: tuple[Path, ...]


@dataclass(frozen=True)
class Comparison:
    groups: tuple[str, ...]
    columns: tuple[str, ...]
    benchmarks: tuple[str, ...]
    rows: tuple[tuple[str, str], ...]  # (benchmark or "mean", group)
    values: np.ndarray  # (rows, columns), NaN = no result

    def best(self, r: int) -> list[int]:
        row = self.values[r]
        if not np.isfinite(row).any():
            return []
        top = np.nanmax(row)
        return [c for c, v in enumerate(row) if np.isfinite(v) and math.isclose(v, top)]

    def cell(self, benchmark: str, group: str, column: str) -> float:
        return float(self.values[self.rows.index((benchmark, group)), self.columns.index(column)])


def parse_label(name: str) -> tuple[str, str]:
    """``"Qwen2.5-3B/DPO/k_sim"`` -> (``"Qwen2.5-3B/DPO"``, ``"k_sim"``); no slash: no group."""
    group, _, column = name.strip().rpartition("/")
    if not column.strip():
        raise InputError(f"--label name {name!r} has no column after the last '/'")
    return group.strip(), column.strip()


def _merge(runs: list[Run]) -> tuple[dict[str, float], tuple[Path, ...]]:
    """Newest run per benchmark, by the score table's own rule (``newest_scores``)."""
    scores = {bench: value for bench, (_, value) in newest_scores(runs).items()}
    return scores, tuple(r.path for r in runs)


def read_entries(
    paths: Iterable[str | os.PathLike[str]],
    labels: Iterable[tuple[str, str]],
    metrics: Mapping[str, str] | None = None,
) -> list[Entry]:
    """Entries from unlabelled result paths (one per model lm-eval recorded, named by it) and
    from ``(NAME, PATH)`` labels (PATH must hold one model's runs)."""
    entries: list[Entry] = []
    unlabelled = list(paths)
    if unlabelled:
        for model, runs in runs_by_model(read_runs(unlabelled, metrics=metrics)).items():
            scores, sources = _merge(runs)
            entries.append(Entry("", model, scores, sources))
    for name, path in labels:
        group, column = parse_label(name)
        runs = read_runs([path], metrics=metrics)
        if not runs:
            raise InputError(f"--label {name}: {str(path)!r} has no karma_* task results")
        models = sorted({r.model for r in runs})
        if len(models) > 1:
            raise InputError(
                f"--label {name}: {str(path)!r} holds runs of several models "
                f"({', '.join(models)}); point it at one model's results"
            )
        scores, sources = _merge(runs)
        entries.append(Entry(group, column, scores, sources))
    if not entries:
        raise InputError("nothing to compare: give results paths and/or --label NAME=PATH")
    seen: set[tuple[str, str]] = set()
    for e in entries:
        key = (e.group, e.column)
        if key in seen:
            where = f"{e.group}/{e.column}" if e.group else e.column
            raise InputError(f"two results are labelled {where!r}; labels must be unique")
        seen.add(key)
    return entries


def build_comparison(entries: list[Entry]) -> Comparison:
    groups = tuple(dict.fromkeys(e.group for e in entries))
    names = list(dict.fromkeys(e.column for e in entries))
    known = [s for s in STRATEGY_ORDER if s in {n.lower() for n in names}]
    ordered = [n for s in known for n in names if n.lower() == s]
    columns = tuple(ordered + [n for n in names if n not in ordered])
    benchmarks = tuple(b for b in BENCHMARKS if any(b in e.scores for e in entries))
    if not benchmarks:
        raise InputError("none of the results has a karma_* benchmark score")
    cell = {(e.group, e.column): e.scores for e in entries}
    rows: list[tuple[str, str]] = []
    values: list[list[float]] = []
    for bench in benchmarks:
        for group in groups:
            rows.append((bench, group))
            values.append([cell.get((group, col), {}).get(bench, math.nan) for col in columns])
    for group in groups:
        present = [col for col in columns if (group, col) in cell]
        shared = [b for b in benchmarks if all(b in cell[(group, col)] for col in present)]
        rows.append((MEAN, group))
        values.append(
            [
                float(np.mean([cell[(group, col)][b] for b in shared]))
                if (group, col) in cell and shared
                else math.nan
                for col in columns
            ]
        )
    return Comparison(groups, columns, benchmarks, tuple(rows), np.array(values, dtype=float))


def _row_head(c: Comparison, bench: str, group: str) -> list[str]:
    return [bench, group] if any(c.groups) else [bench]


def to_markdown(c: Comparison) -> str:
    header = ["benchmark", "model / method"] if any(c.groups) else ["benchmark"]
    rows = []
    for r, (bench, group) in enumerate(c.rows):
        best = c.best(r)
        cells = [
            "—" if math.isnan(v) else (f"**{v:.4f}**" if i in best else f"{v:.4f}")
            for i, v in enumerate(c.values[r])
        ]
        rows.append([*_row_head(c, bench, group), *cells])
    return markdown_table([*header, *c.columns], rows)


def to_csv(c: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["benchmark", "group"] if any(c.groups) else ["benchmark"]
    writer.writerow([*head, *c.columns, "best"])
    for r, (bench, group) in enumerate(c.rows):
        cells = ["" if math.isnan(v) else f"{v:.6g}" for v in c.values[r]]
        best = ";".join(c.columns[i] for i in c.best(r))
        writer.writerow([*_row_head(c, bench, group), *cells, best])
    return out.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "all"


def render_comparison(c: Comparison, folder: str | os.PathLike[str]) -> list[str]:
    """``compare.md``, ``compare.csv`` and the bar charts into ``folder`` (a staging folder
    from ``staging.staged``, published whole); returns the names written."""
    from karma_plugin.report import figures

    stage = Path(folder)
    charts: list[tuple[str, str]] = []
    cats = [*c.benchmarks, MEAN]
    for group in c.groups:
        name = f"bars_{_slug(group)}.png" if any(c.groups) else "bars.png"
        series = {
            col: [c.values[c.rows.index((b, group)), j] for b in cats]
            for j, col in enumerate(c.columns)
        }
        title = f"{group}: " if group else ""
        figures.grouped_bars(cats, series, f"{title}score per benchmark", "score", stage / name)
        charts.append((group or "all", name))
    if len(c.groups) > 1:
        series = {
            col: [c.values[c.rows.index((MEAN, g)), j] for g in c.groups]
            for j, col in enumerate(c.columns)
        }
        figures.grouped_bars(
            list(c.groups),
            series,
            "mean score per model and method",
            "mean score",
            stage / "bars_mean.png",
        )
        charts.append(("mean per model and method", "bars_mean.png"))
    md = [
        "# Trained models compared",
        "",
        "Bold: the best value of the row (all of them on a tie). `mean`: the mean of the "
        "benchmarks every column of the group has. — : no result.",
        "",
        to_markdown(c),
        "",
    ]
    for title, name in charts:
        md += [f"![{title}]({name})", ""]
    atomic.write_text(stage / "compare.md", "\n".join(md))
    atomic.write_text(stage / "compare.csv", to_csv(c))
    return ["compare.md", "compare.csv", *(name for _, name in charts)]
