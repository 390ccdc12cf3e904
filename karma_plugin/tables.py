"""Read a published table (a leaderboard) through a ``KEY=COLUMN,...`` mapping.

The one reader of tables that are not ours: a CSV or parquet file, or a Hub dataset
(``ORG/NAME``, ``ORG/NAME@REVISION``) read at one resolved commit through the pools' streaming
code (``pools.streaming.stream_hub``: the same retries and one-line Hub faults). The caller
names the columns it needs by keys of its own (``model=fullname,ifeval=IFEval Raw``) and gets
them back under those keys; `karma-build scores TABLE --columns ...` (a leaderboard as a score
table) and the preference check (``--preference TABLE --preference-columns ...``) use it.

A column is named by its header, exactly, else by its header compared without case and
surrounding space (when that names one column only), or by its position as ``#N`` (1-based:
``#1`` is the first column, which is how an unnamed index column written by pandas is reached).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from karma_plugin.core.benchmarks import BENCHMARKS, benchmark_key
from karma_plugin.core.score_table import STDERR_SUFFIX, ScoreTable, parse_score
from karma_plugin.errors import InputError
from karma_plugin.fs.paths import is_hub_repo, locate, read_text
from karma_plugin.pools.layout import parse_mapping

LOCAL_SUFFIXES = (".csv", ".parquet")
POSITION = re.compile(r"#(\d+)")


@dataclass(frozen=True)
class Table:
    """A table's columns as Python values (cells of a CSV as text), and where it came from:
    the path as given, or ``ORG/NAME@COMMIT``."""

    names: tuple[str, ...]
    columns: tuple[list[Any], ...]
    source: str

    @property
    def n_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def read_table(spec: str, split: str = "train", what: str = "table") -> Table:
    """The table at ``spec``: a ``.csv`` or ``.parquet`` file, or a Hub dataset's ``split``
    (``ORG/NAME[@REVISION]``, read at the commit the revision, default main, points at)."""
    path = Path(spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return _read_csv(path, what)
        if suffix == ".parquet":
            return _read_parquet(path, what)
        raise InputError(f"{what} {spec!r}: expected a .csv or .parquet file, or ORG/NAME")
    if path.exists():
        raise InputError(f"{what} {spec!r} is a folder: name a .csv or .parquet file")
    if path.suffix.lower() in LOCAL_SUFFIXES or locate(spec) != "hub" or not is_hub_repo(spec):
        raise InputError(f"{what} {spec!r} not found")
    return _read_hub(spec, split, what)


def _read_csv(path: Path, what: str) -> Table:
    text = read_text(path, what)
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise InputError(f"{what} {str(path)!r} is not a CSV table: {exc}") from None
    if not rows:
        raise InputError(f"{what} {str(path)!r} is empty")
    header, body = rows[0], rows[1:]
    columns = tuple([row[i] if i < len(row) else "" for row in body] for i in range(len(header)))
    return Table(tuple(h.strip() for h in header), columns, str(path))


def _arrow_table(table: Any, source: str) -> Table:
    return Table(
        tuple(table.column_names),
        tuple(table.column(i).to_pylist() for i in range(table.num_columns)),
        source,
    )


def _read_parquet(path: Path, what: str) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {exc}") from None
    return _arrow_table(table, str(path))


def _read_hub(spec: str, split: str, what: str) -> Table:
    import pyarrow as pa

    from karma_plugin.hub.faults import offline
    from karma_plugin.hub.pull import resolve_revision
    from karma_plugin.pools.streaming import stream_hub

    repo_id, _, revision = spec.partition("@")
    # One commit for the whole read, and the one the outputs record.
    commit = None if offline() else resolve_revision(repo_id, revision or None)
    batches = list(stream_hub(repo_id, split, 8_192, commit or revision or None, what=what))
    if not batches:
        raise InputError(f"{what} {spec!r}: split {split!r} has no rows")
    source = f"{repo_id}@{commit}" if commit else f"{repo_id} (local cache)"
    return _arrow_table(pa.Table.from_batches(batches), source)


def find_column(table: Table, column: str, option: str, key: str) -> int:
    """The index of ``column`` (a header, or ``#N``) in ``table``."""
    position = POSITION.fullmatch(column)
    if position:
        index = int(position.group(1)) - 1
        if not 0 <= index < len(table.names):
            raise InputError(
                f"{option} {key}={column}: {table.source} has {len(table.names)} columns"
            )
        return index
    if column in table.names:
        return table.names.index(column)
    loose = [i for i, name in enumerate(table.names) if name.strip().lower() == column.lower()]
    if len(loose) == 1:
        return loose[0]
    shown = ", ".join(repr(n) if n else f"#{i + 1} (no name)" for i, n in enumerate(table.names))
    raise InputError(
        f"{option} {key}={column}: {table.source} has no column {column!r} (it has: {shown})"
    )


def mapped_columns(table: Table, mapping: dict[str, str], option: str) -> dict[str, list[Any]]:
    """The columns ``mapping`` names, under its keys."""
    return {
        key: table.columns[find_column(table, col, option, key)] for key, col in mapping.items()
    }


def names_of(values: Iterable[Any], option: str, key: str, source: str) -> list[str]:
    """A column of model names as text; a row without one is refused (its row number said)."""
    names = []
    for row, value in enumerate(values, start=2):
        text = "" if value is None else str(value).strip()
        if not text:
            raise InputError(f"{option} {key}: row {row} of {source} has no {key}")
        names.append(text)
    return names


def numbers_of(
    values: Iterable[Any], option: str, key: str, source: str, names: list[str]
) -> np.ndarray:
    """A column of scores as floats: numbers as they are, text as the score table reads it
    ("86.40%" -> 0.864, "" and "N/A" -> NaN); anything else is refused, naming the row."""
    out = np.full(len(names), np.nan)
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, bool):
            raise InputError(f"{option} {key}: {names[i]!r} has a true/false {key}, not a number")
        if isinstance(value, int | float):
            number = float(value)
        else:
            try:
                number = parse_score(str(value))
            except ValueError:
                raise InputError(
                    f"{option} {key}: {names[i]!r} has a non-numeric {key} {str(value)!r} "
                    f"in {source}"
                ) from None
        out[i] = number if math.isfinite(number) else np.nan
    return out


MODEL = "model"


def published_scores(
    spec: str,
    columns: str,
    names: dict[str, str] | None = None,
    split: str = "train",
    warn: Callable[[str], None] | None = None,
) -> ScoreTable:
    """A leaderboard as a score table: ``columns`` maps ``model`` and each benchmark (any key;
    the six under any of their spellings) to a column, ``BENCH_stderr`` to the column of
    that benchmark's standard errors. ``names`` renames models (``--name TABLE_MODEL=NAME``).
    A model that occurs twice keeps its first row (a leaderboard may list one model once per
    precision), with a warning."""
    option = "--columns"
    mapping = parse_mapping(columns, option, required=(MODEL,))
    keys: dict[str, str] = {}  # mapping key -> benchmark key
    errors: dict[str, str] = {}  # mapping key -> benchmark key, of a _stderr column
    for key in mapping:
        if key == MODEL:
            continue
        target = errors if key.lower().endswith(STDERR_SUFFIX) else keys
        bench = benchmark_key(key[: -len(STDERR_SUFFIX)] if target is errors else key)
        if bench is None:
            raise InputError(f"{option}: {key!r} is not a benchmark name")
        if bench in (errors if target is errors else keys).values():
            raise InputError(f"{option}: benchmark {bench!r} is given twice")
        target[key] = bench
    lone = [b for b in errors.values() if b not in keys.values()]
    if lone:
        raise InputError(f"{option}: {lone[0]}{STDERR_SUFFIX} without {lone[0]}=COLUMN")
    if not keys:
        raise InputError(f"{option}: map at least one benchmark (BENCH=COLUMN) beside model")
    table = read_table(spec, split, what="score table")
    found = mapped_columns(table, mapping, option)
    models = names_of(found[MODEL], option, MODEL, table.source)
    first: dict[str, int] = {}
    for row, model in enumerate(models):
        first.setdefault(model, row)
    twice = len(models) - len(first)
    if twice and warn:
        shown = [m for m in dict.fromkeys(m for i, m in enumerate(models) if first[m] != i)]
        warn(
            f"{table.source}: {twice} rows repeat a model ({', '.join(shown[:5])}"
            f"{', ...' if len(shown) > 5 else ''}); the first row of each is used"
        )
    rows = np.array(list(first.values()), np.int64)
    benches = tuple(keys.values())
    values = np.column_stack(
        [numbers_of(found[k], option, k, table.source, models)[rows] for k in keys]
    )
    stderr = None
    if errors:
        stderr = np.full(values.shape, np.nan)
        for key, bench in errors.items():
            stderr[:, benches.index(bench)] = numbers_of(
                found[key], option, key, table.source, models
            )[rows]
    listed = list(first)
    renamed = [(names or {}).get(m, m) for m in listed]
    unused = [m for m in (names or {}) if m not in first]
    if unused and warn:
        warn(f"--name: {table.source} has no model {', '.join(map(repr, unused))}")
    clash = [m for m in dict.fromkeys(renamed) if renamed.count(m) > 1]
    if clash:
        raise InputError(f"--name: two models of {table.source} would be named {clash[0]!r}")
    # The six first, in their usual order, as every score table has them.
    order = [
        *(benches.index(b) for b in BENCHMARKS if b in benches),
        *(j for j, b in enumerate(benches) if b not in BENCHMARKS),
    ]
    return ScoreTable(
        tuple(renamed),
        tuple(benches[j] for j in order),
        values[:, order],
        source=table.source,
        stderr=None if stderr is None else stderr[:, order],
    )
