"""The shape of a response pool, checked once, before any row is used.

Every check names the file and the column or field at fault, so that a pool that cannot be
read as UltraFeedback's schema ends in one clear line instead of a traceback deep in the
pairing code: text instructions, lists of completions with a text ``model`` and ``response``,
ratings as numbers or text, and UTF-8 text throughout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from karma_plugin.errors import InputError

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
# The parquet schema metadata entry in which `karma-build pool` keeps a generated pool's
# provenance (lmeval/pool.py writes it; the reader hands it to binarize's kinship.json).
PROVENANCE_KEY = b"karma_pool"


def provenance_of(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any] | None:
    """The provenance in a parquet file's schema metadata, or None."""
    raw = (metadata or {}).get(PROVENANCE_KEY)
    return json.loads(raw) if raw else None


def _kind(t: pa.DataType) -> str:
    """A reader's word for an Arrow type, for error messages."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_integer(t):
        return "integers"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numbers"
    if pa.types.is_boolean(t):
        return "booleans"
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "objects"
    if _is_list(t):
        return f"lists of {_kind(t.value_type)}"
    if pa.types.is_null(t):
        return "only nulls"
    return str(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _is_text(t: pa.DataType) -> bool:
    """Text, or nulls only (a column whose every value is null has Arrow's null type)."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _is_rating(t: pa.DataType) -> bool:
    # Ratings come as numbers or as text such as "4" and "N/A" (UltraFeedback's aspects).
    return (
        _is_text(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    )


def _identity(key: str) -> str:
    return key


def _missing_message(schema: pa.Schema, spec: str, name: Callable[[str], str]) -> str:
    needs = " and ".join(repr(name(k)) for k in ("instruction", "completions"))
    flat = ", ".join(repr(name(k)) for k in ("instruction", "model", "response"))
    return (
        f"pool {spec!r} is not in UltraFeedback's schema: it needs columns {needs} "
        f"(found: {', '.join(schema.names) or 'none'}), or {flat} in the long layout; "
        "--columns maps other names"
    )


def _check_text_columns(schema: pa.Schema, spec: str, columns: list[str], source: str) -> None:
    """Text columns; the source may also be a list of text (Nectar's), read joined by ','."""
    if source in schema.names:
        t = schema.field(source).type
        if _is_list(t) and _is_text(t.value_type):
            columns = [c for c in columns if c != source]
    for column in columns:
        if column in schema.names and not _is_text(schema.field(column).type):
            kind = _kind(schema.field(column).type)
            raise InputError(f"pool {spec!r}: column {column!r} holds {kind}, expected text")


def _check_unique(names: list[str], spec: str, read: list[str], where: str = "column") -> None:
    """A column (or completion field) KARMA reads must have one name: pyarrow cannot tell two
    of the same name apart, and which one holds the data cannot be guessed."""
    for name in dict.fromkeys(read):
        count = names.count(name)
        if count > 1:
            raise InputError(
                f"pool {spec!r}: {where} {name!r} appears {count} times; give each its own "
                "name (or drop the copies)"
            )


def plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` with every dictionary-encoded part (pandas' categoricals) as its value type."""
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(plain_type(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(plain_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(plain_type(f.type)) for f in t])
    return t


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as ``without_dictionaries`` makes a table of it."""
    return pa.schema([f.with_type(plain_type(f.type)) for f in schema], metadata=schema.metadata)


def without_dictionaries(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary-encoded columns (a pandas categorical written to parquet,
    at any depth) decoded: the text they hold is read as text."""
    for index, field in enumerate(table.schema):
        wanted = plain_type(field.type)
        if wanted != field.type:
            table = table.set_column(index, field.name, table.column(index).cast(wanted))
    return table


def check_schema(
    schema: pa.Schema,
    spec: str,
    rating: str,
    name: Callable[[str], str] = _identity,
    mapped_rating: str | None = None,
) -> None:
    """InputError naming the column or field if the pool cannot be read as UltraFeedback's
    schema: text instructions, lists of completions with a text model and response, and
    ratings (the ones ``rating``, or the field ``mapped_rating``, reads) as numbers or text.
    ``name`` gives the pool's name for each of UltraFeedback's (``--columns``)."""
    instruction, completions_name = name("instruction"), name("completions")
    _check_unique(schema.names, spec, [instruction, completions_name, name("source")])
    if instruction not in schema.names or completions_name not in schema.names:
        raise InputError(_missing_message(schema, spec, name))
    _check_text_columns(schema, spec, [instruction, name("source")], name("source"))
    completions = schema.field(completions_name).type
    if pa.types.is_null(completions) or (
        _is_list(completions) and pa.types.is_null(completions.value_type)
    ):
        raise InputError(f"pool {spec!r}: no row has a completion")
    model, response = name("model"), name("response")
    if not _is_list(completions) or not pa.types.is_struct(completions.value_type):
        raise InputError(
            f"pool {spec!r}: column {completions_name!r} holds {_kind(completions)}, expected "
            f"lists of completions (objects with {model!r} and {response!r})"
        )
    read = [model, response, "overall_score", *([mapped_rating] if mapped_rating else [])]
    if rating in ("fine-grained_score", "aspects") and mapped_rating is None:
        read.append("fine-grained_score" if rating == "fine-grained_score" else "annotations")
    _check_unique([f.name for f in completions.value_type], spec, read, "completions field")
    fields = {f.name: f.type for f in completions.value_type}
    missing = [n for n in (model, response) if n not in fields]
    if mapped_rating is not None and mapped_rating not in fields:
        missing.append(mapped_rating)
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise InputError(f"pool {spec!r}: the completions have no field {names}")
    if pa.types.is_null(fields[model]):
        raise InputError(f"pool {spec!r}: no completion has a {model!r}")
    if not _is_text(fields[model]):
        raise InputError(
            f"pool {spec!r}: completions field {model!r} holds {_kind(fields[model])}, "
            "expected text (the model's name)"
        )
    if not _is_text(fields[response]):
        kind = _kind(fields[response])
        raise InputError(
            f"pool {spec!r}: completions field {response!r} holds {kind}, expected text"
        )
    scores = ["overall_score"]
    if mapped_rating is not None:
        scores.append(mapped_rating)
    elif rating == "fine-grained_score":
        scores.append("fine-grained_score")
    for score in scores:
        if score in fields and not _is_rating(fields[score]):
            kind = _kind(fields[score])
            raise InputError(
                f"pool {spec!r}: completions field {score!r} holds {kind}, expected numbers"
            )
    if mapped_rating is None and rating == "aspects" and "annotations" in fields:
        _check_annotations(fields["annotations"], spec)


def check_long_schema(
    schema: pa.Schema, spec: str, name: Callable[[str], str], rating: str | None
) -> None:
    """The same checks for the long layout: one row per (instruction, model, response[,
    rating]), each a column."""
    needed = [name(k) for k in ("instruction", "model", "response")] + ([rating] if rating else [])
    _check_unique(schema.names, spec, [*needed, name("source")])
    missing = [c for c in needed if c not in schema.names]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise InputError(
            f"pool {spec!r}: the long layout needs column {names} "
            f"(found: {', '.join(schema.names) or 'none'}); --columns maps other names"
        )
    if pa.types.is_null(schema.field(name("model")).type):
        raise InputError(f"pool {spec!r}: no row has a {name('model')!r}")
    _check_text_columns(schema, spec, [*needed[:3], name("source")], name("source"))
    if rating and not _is_rating(schema.field(rating).type):
        kind = _kind(schema.field(rating).type)
        raise InputError(f"pool {spec!r}: column {rating!r} holds {kind}, expected numbers")


def _check_annotations(annotations: pa.DataType, spec: str) -> None:
    where = f"pool {spec!r}: completions field 'annotations"
    if pa.types.is_null(annotations):
        return
    if not pa.types.is_struct(annotations):
        raise InputError(f"{where}' holds {_kind(annotations)}, expected objects (one per aspect)")
    for aspect in (f for f in annotations if f.name in ASPECTS):
        if pa.types.is_null(aspect.type):
            continue
        if not pa.types.is_struct(aspect.type):
            kind = _kind(aspect.type)
            raise InputError(
                f"{where}.{aspect.name}' holds {kind}, expected objects with a 'Rating'"
            )
        rated = {f.name: f.type for f in aspect.type}
        if "Rating" in rated and not _is_rating(rated["Rating"]):
            kind = _kind(rated["Rating"])
            raise InputError(f"{where}.{aspect.name}.Rating' holds {kind}, expected numbers")


# datasets (4.8 and 5.x alike) stores a list of objects whose keys differ from row to row (a
# completion without 'overall_score', say) as JSON text, in pyarrow's arrow.json extension
# type. Parsed back into structs, a missing key reads as null, as pyarrow's own json reader
# reads it.
def _holds_json(t: pa.DataType) -> bool:
    if isinstance(t, pa.BaseExtensionType):
        return t.extension_name == "arrow.json" or _holds_json(t.storage_type)
    if _is_list(t):
        return _holds_json(t.value_type)
    if pa.types.is_struct(t):
        return any(_holds_json(f.type) for f in t)
    return False


def _from_json(values: pa.Array, spec: str, name: str) -> pa.Array:
    """``values`` with every arrow.json part parsed into ordinary Arrow types."""
    t = values.type
    if isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.json":
        return _parse_json_text(values.storage, spec, name)
    if _is_list(t) and _holds_json(t):
        inner = _from_json(values.values, spec, name)
        mask = values.is_null() if values.null_count else None
        return type(values).from_arrays(values.offsets, inner, mask=mask)
    if pa.types.is_struct(t) and _holds_json(t):
        children = [_from_json(values.field(i), spec, f"{name}.{f.name}") for i, f in enumerate(t)]
        mask = values.is_null() if values.null_count else None
        return pa.StructArray.from_arrays(children, names=[f.name for f in t], mask=mask)
    return values


def _parse_json_text(text: pa.Array, spec: str, name: str) -> pa.Array:
    import pyarrow.json as pj

    if len(text) == 0:
        return pa.nulls(0)
    big = pa.large_string()
    # One JSON object per value ({"v": value}), so that arrays and scalars parse too.
    lines = pc.binary_join_element_wise(
        pa.scalar('{"v":', big),
        pc.fill_null(text.cast(big), "null"),
        pa.scalar("}", big),
        pa.scalar("", big),
    )
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines)
    data = pc.binary_join(whole, pa.scalar("\n", big))[0].as_buffer()
    options = pj.ReadOptions(block_size=min(len(data) + 1, 2**31 - 1))  # one type for all rows
    try:
        parsed = pj.read_json(pa.BufferReader(data), read_options=options)
    except pa.ArrowInvalid as exc:
        what = _field_label(name)
        # "JSON parse error: Column(/v/model) changed from string to number in row 6"
        change = re.search(r"changed from (\w+) to (\w+)", str(exc))
        kinds = f"{change[1]} and {change[2]} values" if change else "values of other types"
        raise InputError(f"pool {spec!r}: {what} mixes {kinds}") from None
    return parsed.column("v").combine_chunks()


def _field_label(name: str) -> str:
    """``completions.model`` -> "completions field 'model'", ``source`` -> "column 'source'"."""
    column, *field = name.split(".")
    return f"{column} field {'.'.join(field)!r}" if field else f"column {column!r}"


def _not_utf8(values: pa.Array, name: str) -> str | None:
    """The first text field (dotted name) in ``values`` that is not valid UTF-8, if any."""
    t = values.type
    if _is_list(t):
        return _not_utf8(values.flatten(), name)
    if pa.types.is_struct(t):
        found = (_not_utf8(values.field(i), f"{name}.{f.name}") for i, f in enumerate(t))
        return next((f for f in found if f), None)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            values.validate(full=True)
        except pa.ArrowInvalid:
            return name
    return None


def check_utf8(table: pa.Table, spec: str) -> None:
    """InputError naming the field if any text in ``table`` is not UTF-8.

    Neither pyarrow's json nor its parquet reader checks it: a bad byte would surface later
    as a UnicodeDecodeError, or be written into the dataset.
    """
    for name, column in zip(table.schema.names, table.columns, strict=True):
        for chunk in column.chunks:
            if bad := _not_utf8(chunk, name):
                raise InputError(f"pool {spec!r}: {_field_label(bad)} is not UTF-8 text")


def without_json(table: pa.Table, spec: str) -> pa.Table:
    """``table`` with every arrow.json column or field parsed (see above)."""
    for index, name in enumerate(table.schema.names):
        if _holds_json(table.schema.field(name).type):
            column = _from_json(table.column(name).combine_chunks(), spec, name)
            table = table.set_column(index, name, column)
    return table
