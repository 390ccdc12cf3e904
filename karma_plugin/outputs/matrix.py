"""The full kinship matrix as a parquet file beside kinship.json, for large score tables.

A table of more than ``MAX_LISTED_MODELS`` models keeps kinship.json and the card to a
selection of models (kinship.py); the whole matrix goes here instead. One row and one column per
model, in the order of the score table, float64 as computed. The row labels are the column
``model``, recorded as the pandas index (the metadata pyarrow writes for a DataFrame, which
pandas and pyarrow read back), so ``pandas.read_parquet(path)`` is the square matrix labelled
both ways (``.loc["gpt-4", "bard"]``) and pyarrow, polars or DuckDB see a ``model`` column. The
file name says what it holds: nobody takes it for a data split, and the dataset card's
``configs`` never name it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from karma_plugin.fs import atomic

MATRIX_FILE = "kinship_matrix.parquet"
# pandas' name for an unnamed index column, used when a model is itself called "model".
_PANDAS_INDEX = "__index_level_0__"


def matrix_path(json_path: str | os.PathLike[str]) -> Path:
    """Where the matrix goes beside a JSON file: kinship.json -> kinship_matrix.parquet."""
    path = Path(json_path)
    return path.with_name(f"{path.stem}_matrix.parquet")


def matrix_schema(models: Sequence[str]) -> pa.Schema:
    """The label column, then one float64 column per model; pandas metadata makes the label
    column the index (named ``model``), as pyarrow records it for a DataFrame."""
    label = _PANDAS_INDEX if "model" in models else "model"
    columns = [
        {"name": m, "field_name": m, "pandas_type": "float64", "numpy_type": "float64"}
        for m in models
    ]
    columns.append(
        {"name": "model", "field_name": label, "pandas_type": "unicode", "numpy_type": "object"}
    )
    pandas = {
        "index_columns": [label],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [{**c, "metadata": None} for c in columns],
        "attributes": {},
        "creator": {"library": "karma-plugin"},
    }
    fields = [pa.field(label, pa.string()), *(pa.field(m, pa.float64()) for m in models)]
    return pa.schema(fields, metadata={b"pandas": json.dumps(pandas).encode("utf-8")})


def _symmetric(matrix: np.ndarray, rows: int = 512) -> bool:
    """Exactly symmetric, compared a slice of rows at a time (no M x M temporary)."""
    return all(
        np.array_equal(matrix[lo : lo + rows], matrix[:, lo : lo + rows].T)
        for lo in range(0, len(matrix), rows)
    )


def is_matrix_file(path: str | os.PathLike[str]) -> bool:
    """``path`` is a kinship matrix karma-build wrote (its pandas metadata names the
    creator ``karma-plugin``)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        creator = json.loads(metadata.get(b"pandas", b"{}")).get("creator") or {}
    except (OSError, ValueError, pa.ArrowException, AttributeError):
        return False
    return isinstance(creator, dict) and creator.get("library") == "karma-plugin"


def write_matrix(
    path: str | os.PathLike[str],
    models: Sequence[str],
    kinship: np.ndarray,
    found: atomic.Found = atomic.UNCHECKED,
) -> Path:
    """Write the square ``kinship`` of ``models`` to ``path`` (whole or not at all), where
    ``check_file_output`` saw ``found``."""
    # Column j is kinship[:, j]; for a symmetric matrix (cosine is) that is row j, which arrow
    # takes without a copy: the 800 MB of a 10,000-model matrix are not duplicated.
    columns = kinship if _symmetric(kinship) else np.ascontiguousarray(kinship.T)
    table = pa.Table.from_arrays(
        [pa.array(list(models), pa.string()), *(pa.array(row) for row in columns)],
        schema=matrix_schema(models),
    )
    # One row group: many small ones make a wide file slow to read (each holds every column).
    # Cosines compress by a few percent at most: no codec, no dictionary, and no statistics
    # (10,000 columns of them would bloat the footer).
    return atomic.write_file(
        path,
        lambda tmp: pq.write_table(
            table,
            tmp,
            row_group_size=max(1, len(models)),
            compression="none",
            use_dictionary=False,
            write_statistics=False,
        ),
        found=found,
    )
