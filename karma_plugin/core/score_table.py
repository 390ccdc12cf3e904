"""The score table: one row per origin model, one column per benchmark key.

Reads the authors' CSV (byte-order mark, percent strings, an empty row) and any CSV of the
same shape; writes ours. Scores may come on any scale: kinship min-max normalises them.
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

from karma_plugin.core.benchmarks import BENCHMARKS, canonical_benchmark
from karma_plugin.errors import InputError
from karma_plugin.fs import atomic

PAPER = "paper"


@dataclass(frozen=True)
class ScoreTable:
    """Scores as a float matrix; NaN marks a missing score."""

    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    values: np.ndarray  # shape (len(models), len(benchmarks))
    source: str = ""


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
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"score table {str(path)!r} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"cannot read score table {str(path)!r}: {exc.strerror}") from None
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
    for idx, name in enumerate(header[1:], start=1):
        key = canonical_benchmark(name)
        if key is None:
            raise InputError(
                f"score table {source!r}: column {name.strip()!r} is not a benchmark "
                f"(expected some of: {', '.join(BENCHMARKS)})"
            )
        if key in columns.values():
            raise InputError(f"score table {source!r}: benchmark {key!r} appears twice")
        columns[idx] = key
    benchmarks = tuple(b for b in BENCHMARKS if b in columns.values())
    order = {key: idx for idx, key in columns.items()}
    models: list[str] = []
    values = np.full((len(body), len(benchmarks)), np.nan)
    # Per benchmark, the first percent cell and the first plain number seen: (model, cell).
    percent: dict[str, tuple[str, str]] = {}
    plain: dict[str, tuple[str, str]] = {}
    for r, row in enumerate(body, start=2):
        model = row[0].strip()
        if not model:
            raise InputError(f"score table {source!r}: row {r} has no model name")
        if model in models:
            raise InputError(f"score table {source!r}: model {model!r} appears twice")
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
    for bench in benchmarks:
        # "85.37%" beside 72.54 (or 0.72) has no one reading: 72.54 may be a percent or not.
        if bench in percent and bench in plain:
            (pm, pc), (nm, nc) = percent[bench], plain[bench]
            raise InputError(
                f"score table {source!r}: column {header[order[bench]].strip()!r} ({bench}) "
                f"mixes percent strings ({pm}: {pc!r}) and plain numbers ({nm}: {nc!r}); "
                "write the whole column on one scale"
            )
    return ScoreTable(tuple(models), benchmarks, values, source)


def format_score_csv(table: ScoreTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", *table.benchmarks])
    for model, row in zip(table.models, table.values, strict=True):
        writer.writerow([model, *("" if math.isnan(v) else f"{v:.6g}" for v in row)])
    return out.getvalue()


def write_scores(table: ScoreTable, path: str | os.PathLike[str]) -> Path:
    return atomic.write_text(path, format_score_csv(table))
