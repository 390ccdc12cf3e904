"""The score table: one row per origin model, one column per benchmark key.

Reads the authors' CSV (byte-order mark, percent strings, an empty row) and any CSV of the
same shape; writes ours. Scores may come on any scale: kinship min-max normalises them. Every
column after the first is a benchmark: the six of the paper under any of their spellings
(``core.benchmarks``), any other under its own name (``benchmark_key``).

What `--bootstrap` needs to know about a score's noise (docs/design.md §4) may ride along:
a column ``<benchmark>_stderr`` (e.g. ``mmlu_pro_stderr``) holds each model's standard error
of that score, on the score column's scale; a row named ``n_items`` holds the number of items
behind each benchmark column (not a model). ``karma-build scores`` writes both from lm-eval's
``*_stderr`` metrics and ``n-samples``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from karma_plugin.core.benchmarks import BENCHMARKS, benchmark_key
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic
from karma_plugin.fs.paths import read_text

PAPER = "paper"
N_ITEMS_ROW = "n_items"  # the row giving each benchmark's number of items
STDERR_SUFFIX = "_stderr"  # a column <benchmark>_stderr: the standard errors of its scores


@dataclass(frozen=True)
class ScoreTable:
    """Scores as a float matrix; NaN marks a missing score."""

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    values: np.ndarray  # shape (len(models), len(benchmarks))
    source: str = ""
    stderr: np.ndarray | None = None  # same shape; NaN where none is known; None: no column
    n_items: dict[str, int] | None = None  # benchmark -> items behind its scores (if known)

    def noise_of(self, models: tuple[str, ...], benchmarks: tuple[str, ...]) -> np.ndarray:
        """The standard errors of ``models`` x ``benchmarks`` (NaN where none is known)."""
        out = np.full((len(models), len(benchmarks)), np.nan)
        if self.stderr is None:
            return out
        rows = {m: i for i, m in enumerate(self.models)}
        for j, bench in enumerate(benchmarks):
            if bench in self.benchmarks:
                col = self.benchmarks.index(bench)
                out[:, j] = [self.stderr[rows[m], col] if m in rows else np.nan for m in models]
        return out


def model_key(name: str) -> str:
    """How a model name is matched (a pool's ``model`` field against the table's names):
    without surrounding whitespace, case-folded as ``str.lower`` does."""
    return name.strip().lower()


def parse_score(text: str) -> float:
    """``"86.40%"`` -> 0.864, ``"0.6371"`` -> 0.6371, ``"85.37"`` -> 85.37, ``""`` -> NaN.

    Percent strings become fractions; a column may not mix them with plain numbers (see
    ``parse_score_csv``).
    """
    cell = text.strip()
    if cell in ("", "-", "N/A", "NA", "nan", "NaN", "None", "null"):
        return math.nan
    percent = cell.endswith("%")
    number = float(cell.rstrip("%").strip())
    if not math.isfinite(number):
        raise ValueError(cell)
    return number / 100.0 if percent else number


def paper_csv_path() -> Path:
    """The authors' table shipped in the package (ZEBRA repository, MIT)."""
    return Path(str(files("karma_plugin.data") / "zebra_benchmark.csv"))


def read_scores(spec: str | os.PathLike[str] = PAPER) -> ScoreTable:
    """Load ``paper`` (the embedded authors' table) or a CSV path."""
    path = paper_csv_path() if str(spec) == PAPER else Path(spec)
    if not path.is_file():
        raise InputError(f"score table {str(path)!r} not found")
    text = read_text(path, "score table")
    return parse_score_csv(text, source=PAPER if str(spec) == PAPER else str(path))


def parse_score_csv(text: str, source: str = "") -> ScoreTable:
    """Parse CSV text: a model column first, then benchmark columns in any order or naming."""
    try:
        lines = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        rows = [r for r in lines if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise InputError(f"score table {source!r} is not a CSV table: {exc}") from None
    if len(rows) < 2:
        raise InputError(f"score table {source!r} has no model rows")
    header, body = rows[0], rows[1:]
    columns: dict[int, str] = {}
    stderr_columns: dict[int, str] = {}
    for idx, name in enumerate(header[1:], start=1):
        stem = name.strip()
        if stem.lower().endswith(STDERR_SUFFIX):
            key = benchmark_key(stem[: -len(STDERR_SUFFIX)])
            if key is None:
                raise InputError(
                    f"score table {source!r}: column {stem!r} is not the standard error of a "
                    f"benchmark (expected <benchmark>{STDERR_SUFFIX})"
                )
            if key in stderr_columns.values():
                raise InputError(f"score table {source!r}: {key}{STDERR_SUFFIX} appears twice")
            stderr_columns[idx] = key
            continue
        key = benchmark_key(name)
        if key is None:
            raise InputError(
                f"score table {source!r}: column {idx + 1} ({name.strip()!r}) has no benchmark name"
            )
        if key in columns.values():
            raise InputError(f"score table {source!r}: benchmark {key!r} appears twice")
        columns[idx] = key
    # The six first, in their usual order (as before any other column was accepted), then
    # the others as the table has them.
    benchmarks = (
        *(b for b in BENCHMARKS if b in columns.values()),
        *(key for key in columns.values() if key not in BENCHMARKS),
    )
    order = {key: idx for idx, key in columns.items()}
    lone = [b for b in stderr_columns.values() if b not in benchmarks]
    if lone:
        raise InputError(
            f"score table {source!r}: {lone[0]}{STDERR_SUFFIX} without its {lone[0]} column"
        )
    n_items_rows = [r for r in body if r[0].strip() == N_ITEMS_ROW]
    if len(n_items_rows) > 1:
        raise InputError(f"score table {source!r}: the {N_ITEMS_ROW} row appears twice")
    n_items = _n_items(n_items_rows[0], order, source) if n_items_rows else None
    body = [r for r in body if r[0].strip() != N_ITEMS_ROW]
    if not body:
        raise InputError(f"score table {source!r} has no model rows")
    models: list[str] = []
    keys: dict[str, str] = {}  # model_key -> the name as given (a dict: linear, not a scan)
    values = np.full((len(body), len(benchmarks)), np.nan)
    # Per benchmark, the first percent cell and the first plain number seen: (model, cell).
    percent: dict[str, tuple[str, str]] = {}
    plain: dict[str, tuple[str, str]] = {}
    for r, row in enumerate(body, start=2):
        model = row[0].strip()
        if not model:
            raise InputError(f"score table {source!r}: row {r} has no model name")
        first = keys.get(model_key(model))
        if first == model:
            raise InputError(f"score table {source!r}: model {model!r} appears twice")
        if first is not None:
            raise InputError(
                f"score table {source!r}: models {first!r} and {model!r} are one name (a "
                "pool's answers are matched to the table's models without regard to case): "
                "keep one, or rename the other"
            )
        keys[model_key(model)] = model
        models.append(model)
        for j, bench in enumerate(benchmarks):
            idx = order[bench]
            cell = row[idx] if idx < len(row) else ""
            try:
                values[len(models) - 1, j] = parse_score(cell)
            except ValueError:
                raise InputError(
                    f"score table {source!r}: {model!r} has a non-numeric {bench} score {cell!r}"
                ) from None
            if not np.isnan(values[len(models) - 1, j]):
                seen = percent if cell.strip().endswith("%") else plain
                seen.setdefault(bench, (model, cell.strip()))
    stderr = _stderr(body, models, benchmarks, stderr_columns, source) if stderr_columns else None
    for bench in benchmarks:
        # "85.37%" beside 72.54 (or 0.72) has no one reading: 72.54 may be a percent or not.
        if bench in percent and bench in plain:
            (pm, pc), (nm, nc) = percent[bench], plain[bench]
            raise InputError(
                f"score table {source!r}: column {header[order[bench]].strip()!r} ({bench}) "
                f"mixes percent strings ({pm}: {pc!r}) and plain numbers ({nm}: {nc!r}); "
                "write the whole column on one scale"
            )
    return ScoreTable(tuple(models), benchmarks, values, source, stderr, n_items)


def _n_items(row: list[str], order: dict[str, int], source: str) -> dict[str, int]:
    """The ``n_items`` row: a whole number of items per benchmark column (empty: unknown)."""
    found: dict[str, int] = {}
    for bench, idx in order.items():
        cell = row[idx].strip() if idx < len(row) else ""
        if not cell:
            continue
        try:
            number = float(cell.replace(",", "").replace("_", ""))
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 1 and number == int(number)):
            raise InputError(
                f"score table {source!r}: the {N_ITEMS_ROW} row's {bench} cell {cell!r} is "
                "not a whole number of items"
            )
        found[bench] = int(number)
    return found


def _stderr(
    body: list[list[str]],
    models: list[str],
    benchmarks: tuple[str, ...],
    columns: dict[int, str],
    source: str,
) -> np.ndarray:
    stderr = np.full((len(models), len(benchmarks)), np.nan)
    for i, row in enumerate(body):
        for idx, bench in columns.items():
            cell = row[idx] if idx < len(row) else ""
            try:
                value = parse_score(cell)
            except ValueError:
                value = -1.0
            if value < 0:
                raise InputError(
                    f"score table {source!r}: {models[i]!r} has a {bench}{STDERR_SUFFIX} "
                    f"{cell.strip()!r} that is not a standard error (a number >= 0)"
                )
            stderr[i, benchmarks.index(bench)] = value
    return stderr


def format_score_csv(table: ScoreTable) -> str:
    """The CSV ``parse_score_csv`` reads back: the scores, then the ``<benchmark>_stderr``
    columns and the ``n_items`` row when the table knows any (else exactly as before)."""

    def cell(v: float) -> str:
        return "" if math.isnan(v) else f"{v:.6g}"

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with_stderr = table.stderr is not None and bool(np.isfinite(table.stderr).any())
    noise = [f"{b}{STDERR_SUFFIX}" for b in table.benchmarks] if with_stderr else []
    writer.writerow(["model", *table.benchmarks, *noise])
    for i, (model, row) in enumerate(zip(table.models, table.values, strict=True)):
        errors = (
            [cell(v) for v in table.stderr[i]] if with_stderr and table.stderr is not None else []
        )
        writer.writerow([model, *(cell(v) for v in row), *errors])
    if table.n_items:
        counts = [str(table.n_items[b]) if b in table.n_items else "" for b in table.benchmarks]
        writer.writerow([N_ITEMS_ROW, *counts, *([""] * len(noise))])
    return out.getvalue()


def write_scores(
    table: ScoreTable, path: str | os.PathLike[str], found: atomic.Found = atomic.UNCHECKED
) -> Path:
    """Write the CSV to ``path``, where ``check_file_output`` saw ``found``."""
    return atomic.write_text(path, format_score_csv(table), found=found)


_MAX_RECOGNISED_BYTES = 1 << 30


def is_score_csv(path: str | os.PathLike[str]) -> bool:
    """``path`` holds exactly what ``karma-build scores -o`` writes for the table in it (its
    header, its number format, its line ends): a file karma-build wrote. The format carries
    no marker line, so that every CSV reader loads it as it is."""
    try:
        if os.path.getsize(path) > _MAX_RECOGNISED_BYTES:
            return False
        text = Path(path).read_text(encoding="utf-8")
        return bool(text) and format_score_csv(parse_score_csv(text)) == text
    except (OSError, ValueError, InputError):
        return False
