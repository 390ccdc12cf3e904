"""Where a pool keeps the fields KARMA uses: its layout and its column names.

KARMA needs, per instruction, responses labelled by the model that wrote them (and, for the
RLAIF baseline, a rating). Two layouts carry that:

- ``ultrafeedback``: one row per instruction with a list of completions (objects with a model
  and a response), as UltraFeedback and Nectar (``answers[{answer, model, rank}]``) store it;
- ``long``: one row per (instruction, model, response[, rating]), as lm-eval samples and most
  generation logs store it. Rows of the same instruction (the same text) form one entry.

``--columns KEY=COLUMN,...`` names the columns (and, in the first layout, the fields of a
completion) when they differ from UltraFeedback's. Every batch of the pool is turned into the
same flat form (``Units``) here, so the rest of the code knows no layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.errors import InputError
from karma_plugin.pools import DEFAULT_RATING, RATINGS
from karma_plugin.pools.schema import ASPECTS, check_long_schema, check_schema

FORMATS = ("auto", "ultrafeedback", "long")
# The keys --columns maps, with UltraFeedback's names as defaults.
COLUMN_KEYS = ("instruction", "completions", "model", "response", "rating", "source")
BETTER = ("higher", "lower")


def parse_mapping(
    spec: str,
    option: str,
    required: Sequence[str] = (),
    allowed: Sequence[str] | None = None,
    optional_first: str | None = None,
) -> dict[str, str]:
    """``KEY=COLUMN,KEY=COLUMN`` as a dict in the order given; every fault one line naming
    ``option``. ``allowed`` None: any key. ``optional_first``: a key that may be left out and
    then means the table's first column (``#1``)."""
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in (spec or "").split(",")):
        if not entry:
            continue
        key, sep, column = (part.strip() for part in entry.partition("="))
        if not sep or not key or not column:
            raise InputError(f"{option}: {entry!r} is not KEY=COLUMN")
        if allowed is not None and key not in allowed:
            raise InputError(f"{option}: unknown key {key!r} (choose from: {', '.join(allowed)})")
        if key in mapping:
            raise InputError(f"{option}: {key!r} is given twice")
        mapping[key] = column
    if optional_first and optional_first not in mapping:
        mapping = {optional_first: "#1", **mapping}
    missing = [k for k in required if k not in mapping]
    if missing:
        raise InputError(f"{option}: no {missing[0]}=COLUMN given")
    return mapping


def parse_columns(spec: str | None) -> dict[str, str]:
    """``instruction=prompt,completions=answers`` as a dict; one line naming a bad entry."""
    mapping = parse_mapping(spec or "", "--columns", allowed=COLUMN_KEYS)
    # Every key names its own column (UltraFeedback's name where not mapped; the rating has
    # none unless mapped): model=response would read the answers as the models' names.
    named: dict[str, str] = {}
    for key in COLUMN_KEYS:
        name = mapping.get(key, None if key == "rating" else key)
        if name is None:
            continue
        if name in named:
            raise InputError(
                f"--columns: {named[name]!r} and {key!r} both name the column {name!r}; "
                "each key needs its own column"
            )
        named[name] = key
    return mapping


@dataclass(frozen=True)
class Request:
    """What the user asked for: a layout (or auto), column names, a rating and its direction."""

    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    rating: str = DEFAULT_RATING  # UltraFeedback's ratings (--rating); a mapped one wins
    better: str = "higher"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"unknown format {self.format!r} (choose from: {', '.join(FORMATS)})")
        if self.better not in BETTER:
            raise InputError(f"--better-rating must be higher or lower, got {self.better!r}")
        if "rating" not in self.columns and self.rating not in RATINGS:
            raise InputError(f"unknown rating {self.rating!r} (choose from: {', '.join(RATINGS)})")

    def name(self, key: str) -> str:
        return self.columns.get(key, key)

    @property
    def rating_field(self) -> str:
        """The rating as the manifest records it: the mapped field, else --rating."""
        return self.columns.get("rating", self.rating)

    def resolve(self, schema: pa.Schema, spec: str) -> Layout:
        """The layout of a pool with ``schema``, checked; auto decides from the columns."""
        kind = self.format
        if kind == "auto":
            names = set(schema.names)
            nested = self.name("completions") in names
            flat = {self.name("model"), self.name("response")} <= names
            kind = "long" if flat and not nested else "ultrafeedback"
        layout = Layout(kind, self)
        layout.check(schema, spec)
        return layout


@dataclass(frozen=True)
class Units:
    """One batch in the flat form: per entry its instruction and source, per response (in
    ``offsets[i]:offsets[i+1]`` for entry ``i``) its model, text and ratings."""

    instruction: pa.Array
    source: pa.Array
    offsets: np.ndarray
    model: pa.Array
    response: pa.Array
    rating: np.ndarray  # the rating --rating / rating= names, oriented so that higher is better
    raw_rating: np.ndarray  # the same as the pool holds it (the score_* columns)
    overall: np.ndarray  # UltraFeedback's overall_score (the agreement rate), NaN elsewhere


@dataclass(frozen=True)
class Layout:
    kind: str  # "ultrafeedback" or "long"
    request: Request

    def check(self, schema: pa.Schema, spec: str) -> None:
        r = self.request
        if self.kind == "long":
            check_long_schema(schema, spec, r.name, r.columns.get("rating"))
        else:
            check_schema(schema, spec, r.rating, r.name, r.columns.get("rating"))

    def top_columns(self, names: list[str]) -> list[str]:
        """The columns to read, of ``names`` (the pool's)."""
        keys = ["instruction", "source"]
        keys += ["completions"] if self.kind == "ultrafeedback" else ["model", "response"]
        if self.kind == "long" and "rating" in self.request.columns:
            keys.append("rating")
        wanted = {self.request.name(k) for k in keys}
        return [n for n in names if n in wanted]

    def completion_fields(self) -> set[tuple[str, ...]]:
        """The completion fields to decode (``ultrafeedback`` layout): the critiques and
        rationales are never read."""
        r = self.request
        wanted: set[tuple[str, ...]] = {
            (r.name("model"),),
            (r.name("response"),),
            ("overall_score",),
        }
        if "rating" in r.columns:
            wanted.add((r.columns["rating"],))
        elif r.rating == "fine-grained_score":
            wanted.add(("fine-grained_score",))
        elif r.rating == "aspects":
            wanted |= {("annotations", a, "Rating") for a in ASPECTS}
        return wanted

    def project(self, table: pa.Table) -> pa.Table:
        """``table`` with only the columns, and completion fields, that KARMA uses (what the
        parquet reader gets by column projection; a json row keeps its critiques otherwise)."""
        table = table.select(self.top_columns(table.schema.names))
        name = self.request.name("completions")
        if self.kind != "ultrafeedback" or name not in table.schema.names:
            return table
        comps = _column(table, name)
        if not pa.types.is_struct(comps.type.value_type):
            return table
        keep = {path[0] for path in self.completion_fields()}
        items = comps.values
        fields = [f for f in items.type if f.name in keep]
        mask = items.is_null() if items.null_count else None
        kept = pa.StructArray.from_arrays(
            [items.field(f.name) for f in fields], fields=fields, mask=mask
        )
        lists = type(comps).from_arrays(
            comps.offsets, kept, mask=comps.is_null() if comps.null_count else None
        )
        return table.set_column(table.schema.get_field_index(name), name, lists)

    def units(self, batch: pa.RecordBatch | pa.Table, where: str, first_row: int) -> Units:
        """``batch`` (checked by ``check``) in the flat form; a null model is one line."""
        r = self.request
        names = batch.schema.names
        n = batch.num_rows
        instruction = _text(_column(batch, r.name("instruction")))
        source_name = r.name("source")
        source = _source(_column(batch, source_name)) if source_name in names else _blanks(n)
        if self.kind == "long":
            model = _column(batch, r.name("model"))
            if model.null_count:
                row = first_row + int(pc.index(model.is_null(), True).as_py()) + 1
                raise InputError(f"pool {where!r}: row {row} has no {r.name('model')!r}")
            rated = r.columns.get("rating")
            raw = _as_float(_column(batch, rated)) if rated else np.full(n, np.nan)
            return Units(
                instruction=instruction,
                source=source,
                offsets=np.arange(n + 1, dtype=np.int64),
                model=model.cast(pa.string()),
                response=_text(_column(batch, r.name("response"))),
                rating=-raw if r.better == "lower" else raw,
                raw_rating=raw,
                overall=np.full(n, np.nan),
            )
        comps = _column(batch, r.name("completions"))
        items = comps.flatten()
        offs = comps.offsets.to_numpy().astype(np.int64)
        offs = offs - offs[0]
        # A null completion list spans no items in the offsets: it counts as an empty one.
        if items.null_count:
            at = _place(offs, pc.index(items.is_null(), True).as_py(), first_row)
            raise InputError(f"pool {where!r}: {at} is null, not a completion")
        model = items.field(r.name("model"))
        if model.null_count:
            at = _place(offs, pc.index(model.is_null(), True).as_py(), first_row)
            raise InputError(f"pool {where!r}: {at} has no {r.name('model')!r}")
        fields = {f.name for f in items.type}
        rated = r.columns.get("rating")
        raw = (
            _rating(items, fields, rated, len(items), mapped=True)
            if rated
            else _rating(items, fields, r.rating, len(items))
        )
        overall = raw if r.rating_field == "overall_score" else None
        return Units(
            instruction=instruction,
            source=source,
            offsets=offs,
            model=model.cast(pa.string()),
            response=_text(items.field(r.name("response"))),
            rating=-raw if r.better == "lower" else raw,
            raw_rating=raw,
            overall=overall
            if overall is not None
            else _rating(items, fields, "overall_score", len(items)),
        )


def _column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    column = batch.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _blanks(n: int) -> pa.Array:
    return pa.array([""] * n, pa.string())


def _text(values: pa.Array) -> pa.Array:
    """Text with nulls as empty strings (a column of nulls only has Arrow's null type)."""
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    return pc.fill_null(values, "") if values.null_count else values


def _source(values: pa.Array) -> pa.Array:
    """A source as text; a list of sources (Nectar's) joined by ','."""
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        values = pc.binary_join(values, ",")
    return _text(values)


def _place(offsets: np.ndarray, flat: int, first_row: int) -> str:
    """'row R, completion C' (counted from 1) of flat item ``flat`` of a batch."""
    row = int(np.searchsorted(offsets, flat, side="right")) - 1
    return f"row {first_row + row + 1}, completion {flat - int(offsets[row]) + 1}"


def _as_float(values: pa.Array) -> np.ndarray:
    """Numbers or numeric strings to float; "N/A", text and nulls to NaN."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        numeric = pc.match_substring_regex(values, r"^\s*-?\d+(\.\d+)?\s*$")
        values = pc.if_else(numeric, values, pa.scalar(None, values.type))
        values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
    return values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _rating(
    items: pa.StructArray, names: set[str], rating: str, n: int, mapped: bool = False
) -> np.ndarray:
    if rating == "aspects" and not mapped:
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
