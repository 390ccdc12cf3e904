"""Read a response pool in UltraFeedback's schema into flat Arrow columns.

A local parquet file is streamed with column projection (only the fields KARMA uses are
decoded, not the critiques and rationales). Anything else (json, jsonl, a folder, a Hub
dataset id) goes through ``datasets.load_dataset``, the same code that fetches
``openbmb/UltraFeedback``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.errors import InputError, RemoteError

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
RATINGS = ("overall_score", "fine-grained_score", "aspects")
_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_BATCH_ROWS = 16_384


@dataclass(frozen=True)
class Pool:
    """The pool, one entry per instruction, its completions flattened.

    ``offsets[i]:offsets[i+1]`` are row ``i``'s completions in the flat arrays.
    """

    instruction: pa.ChunkedArray
    source: pa.ChunkedArray
    offsets: np.ndarray
    model: np.ndarray  # object array of model names, flat
    response: pa.ChunkedArray  # flat
    empty: np.ndarray  # bool, flat: response is empty or whitespace
    rating: (
        np.ndarray
    )  # float, flat: the rating chosen for rlaif and the score columns (NaN = none)
    overall: np.ndarray  # float, flat: UltraFeedback's overall_score (for the agreement rate)

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    def prompt_ids(self) -> list[str]:
        return [hashlib.sha256(s.encode("utf-8")).hexdigest() for s in self.instruction.to_pylist()]


def _parquet_columns(schema: pa.Schema) -> list[str]:
    if "instruction" not in schema.names or "completions" not in schema.names:
        raise InputError(_missing_message(schema))
    wanted = ["instruction"] + (["source"] if "source" in schema.names else [])
    item = schema.field("completions").type
    if not pa.types.is_list(item) and not pa.types.is_large_list(item):
        raise InputError("pool column 'completions' is not a list of completions")
    fields = {f.name: f for f in item.value_type}
    for name in ("model", "response", "overall_score", "fine-grained_score"):
        if name in fields:
            wanted.append(f"completions.list.element.{name}")
    if "annotations" in fields:
        present = {f.name for f in fields["annotations"].type}
        wanted += [
            f"completions.list.element.annotations.{a}.Rating" for a in ASPECTS if a in present
        ]
    return wanted


def _missing_message(schema: pa.Schema) -> str:
    return (
        "pool is not in UltraFeedback's schema: it needs columns 'instruction' and "
        f"'completions' (found: {', '.join(schema.names) or 'none'})"
    )


def iter_batches(spec: str, split: str = "train") -> Iterator[pa.RecordBatch]:
    """Record batches of the pool at ``spec`` (a path or a Hub dataset id)."""
    path = Path(spec)
    if path.is_file() and path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(path)
            columns = _parquet_columns(handle.schema_arrow)
            yield from handle.iter_batches(batch_size=_BATCH_ROWS, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read parquet pool {spec!r}: {exc}") from None
        return
    table = _load_with_datasets(spec, split)
    if "instruction" not in table.schema.names or "completions" not in table.schema.names:
        raise InputError(_missing_message(table.schema))
    keep = [n for n in ("instruction", "source", "completions") if n in table.schema.names]
    yield from table.select(keep).to_batches(max_chunksize=_BATCH_ROWS)


def _load_with_datasets(spec: str, split: str) -> pa.Table:
    import datasets

    path = Path(spec)
    datasets.disable_progress_bars()
    try:
        if path.is_file():
            builder = _LOCAL_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise InputError(f"pool file {spec!r}: expected .json, .jsonl or .parquet")
            ds = datasets.load_dataset(builder, data_files={split: str(path)}, split=split)
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), split=split)
        elif spec.startswith((".", "/", "~")) or spec.count("/") > 1:
            raise InputError(f"pool {spec!r} not found")
        else:
            ds = datasets.load_dataset(spec, split=split)
    except InputError:
        raise
    except (datasets.exceptions.DatasetGenerationError, pa.ArrowInvalid) as exc:
        cause = exc.__cause__ or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise InputError(f"cannot read pool {spec!r}: {first}") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise InputError(f"pool {spec!r} not found: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise InputError(f"cannot read pool {spec!r}: {str(exc).splitlines()[0]}") from None
    except (ConnectionError, OSError) as exc:
        raise RemoteError(f"cannot fetch pool {spec!r}: {str(exc).splitlines()[0]}") from None
    return ds.data.table


def _as_float(values: pa.Array) -> np.ndarray:
    """Numbers or numeric strings to float; "N/A", text and nulls to NaN."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        numeric = pc.match_substring_regex(values, r"^\s*-?\d+(\.\d+)?\s*$")
        values = pc.if_else(numeric, values, pa.scalar(None, values.type))
        values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _rating(items: pa.StructArray, names: set[str], rating: str, n: int) -> np.ndarray:
    if rating == "aspects":
        if "annotations" not in names:
            return np.full(n, np.nan)
        annotations = items.field("annotations")
        present = {f.name for f in annotations.type}
        columns = [
            _as_float(annotations.field(a).field("Rating"))
            for a in ASPECTS
            if a in present and "Rating" in {f.name for f in annotations.type.field(a).type}
        ]
        if not columns:
            return np.full(n, np.nan)
        stacked = np.vstack(columns)
        counts = (~np.isnan(stacked)).sum(axis=0)
        total = np.nansum(stacked, axis=0)
        return np.divide(total, counts, out=np.full(n, np.nan), where=counts > 0)
    if rating not in names:
        return np.full(n, np.nan)
    return _as_float(items.field(rating))


def read_pool(spec: str, rating: str = "overall_score", split: str = "train") -> Pool:
    """Load the pool at ``spec`` and flatten the fields KARMA needs."""
    if rating not in RATINGS:
        raise InputError(f"unknown rating {rating!r} (choose from: {', '.join(RATINGS)})")
    instruction, source, response = [], [], []
    offsets, models, empties, ratings, overall = [np.zeros(1, np.int64)], [], [], [], []
    base = 0
    for batch in iter_batches(spec, split):
        comps = batch.column("completions")
        if isinstance(comps, pa.ChunkedArray):
            comps = comps.combine_chunks()
        items = comps.flatten()
        names = {f.name for f in items.type}
        missing = {"model", "response"} - names
        if missing:
            raise InputError(f"pool completions lack field(s): {', '.join(sorted(missing))}")
        n_items = len(items)
        offs = comps.offsets.to_numpy().astype(np.int64)
        offs = offs - offs[0]
        offsets.append(offs[1:] + base)
        base += int(offs[-1])
        # Null completion lists count as empty ones.
        text = pc.fill_null(batch.column("instruction"), "")
        instruction.append(text)
        if "source" in batch.schema.names:
            source.append(pc.fill_null(batch.column("source"), ""))
        else:
            source.append(pa.array([""] * batch.num_rows))
        resp = pc.fill_null(items.field("response"), "")
        response.append(resp)
        empties.append(pc.match_substring_regex(resp, r"^\s*$").to_numpy(zero_copy_only=False))
        models.append(pc.fill_null(items.field("model"), "").to_numpy(zero_copy_only=False))
        ratings.append(_rating(items, names, rating, n_items))
        overall.append(_rating(items, names, "overall_score", n_items))
    if len(offsets) == 1:
        raise InputError(f"pool {spec!r} has no rows")
    return Pool(
        instruction=pa.chunked_array(instruction, pa.string()),
        source=pa.chunked_array([s.cast(pa.string()) for s in source], pa.string()),
        offsets=np.concatenate(offsets),
        model=np.concatenate(models),
        response=pa.chunked_array([r.cast(pa.string()) for r in response], pa.string()),
        empty=np.concatenate(empties).astype(bool),
        rating=np.concatenate(ratings),
        overall=np.concatenate(overall),
    )
