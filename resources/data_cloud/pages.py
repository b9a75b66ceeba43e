"""Query API V2 pages -> Arrow record batches with one schema, whether the page was JSON or Arrow.

The schema comes from the page ``metadata`` (column name -> ``type``, ``placeInOrder``):

==========================  =================================  =====================================
V2 type                     Arrow type                         note
==========================  =================================  =====================================
VARCHAR (and unknown)       ``string``
DECIMAL                     ``decimal128(38, 18)``             DMO "number" is DECIMAL(38,18): exact,
                                                               no float rounding
TIMESTAMP [WITH TIME ZONE]  ``timestamp("us", tz="UTC")``      both renderings (ISO offset, `` UTC``)
DATE                        ``date32``
BIGINT / INTEGER            ``int64``
BOOLEAN                     ``bool``
DOUBLE                      ``float64``
==========================  =================================  =====================================

Arrow pages are cast to the same schema (a timestamp in another zone becomes the same instant in
UTC), so a JSON page and an Arrow page of the same rows give equal batches.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

DECIMAL_TYPE = pa.decimal128(38, 18)
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "CHAR": pa.string(),
    "DECIMAL": DECIMAL_TYPE,
    "NUMERIC": DECIMAL_TYPE,
    "TIMESTAMP": TIMESTAMP_TYPE,
    "TIMESTAMP WITH TIME ZONE": TIMESTAMP_TYPE,
    "DATE": pa.date32(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
}


def arrow_type(v2_type: str) -> pa.DataType:
    return _ARROW_TYPES.get(v2_type.strip().upper(), pa.string())


def schema_from_metadata(metadata: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    ordered = sorted(metadata.items(), key=lambda item: int(item[1].get("placeInOrder", 0)))
    return pa.schema(
        [pa.field(name, arrow_type(str(info.get("type", "VARCHAR")))) for name, info in ordered]
    )


def json_page_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """A V2 ``data`` array (rows of values, in ``placeInOrder``) typed into ``schema``."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    if len(columns) != len(schema):
        raise ValueError(f"page rows have {len(columns)} values, metadata names {len(schema)}")
    arrays = [
        _typed_column(values, field.type) for values, field in zip(columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def arrow_page_batches(arrow_stream_b64: str | None, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Decode an ``arrowStream`` (base64 Arrow IPC stream; None = empty page), cast to ``schema``."""
    if not arrow_stream_b64:
        return
    reader = pa.ipc.open_stream(base64.b64decode(arrow_stream_b64))
    for batch in reader:
        if batch.num_rows:
            yield conform(batch, schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with the columns of ``schema`` in its order and types (matched by name)."""
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            raise ValueError(f"Arrow page lacks column {field.name!r} named in the metadata")
        column = batch.column(index)
        arrays.append(column if column.type.equals(field.type) else column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _typed_column(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    if pa.types.is_boolean(target):
        return pa.array([_as_bool(v) for v in values], type=target)
    as_text = _text_array(values)
    if pa.types.is_string(target):
        return as_text
    if pa.types.is_timestamp(target):
        return _timestamps(as_text, target)
    return as_text.cast(target)


def _timestamps(text: pa.Array, target: pa.TimestampType) -> pa.Array:
    text = pc.replace_substring_regex(text, pattern=r" UTC$", replacement="+00:00")
    try:
        return text.cast(target)
    except pa.ArrowInvalid:  # plain TIMESTAMP values carry no offset: they are UTC wall times
        naive = text.cast(pa.timestamp(target.unit))
        return pc.assume_timezone(naive, "UTC").cast(target)


def _text_array(values: Sequence[Any]) -> pa.Array:
    try:  # plain values are JSON strings or null: Arrow takes them as they are
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # aggregates come back as JSON numbers
        return pa.array([_as_text(v) for v in values], type=pa.string())


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # JSON numbers (aggregates come back as numbers, not strings)


def _as_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "1"):
        return True
    if text in ("false", "f", "0"):
        return False
    raise ValueError(f"not a BOOLEAN value: {value!r}")
