"""Arrow record batches -> Bulk API 2.0 CSV bytes, vectorised with ``pyarrow.compute``.

Dialect (reference §7): UTF-8 without BOM, LF line endings, header = field API names.

Quoting choice: every value of a *string* column is quoted (inner ``"`` doubled), values of typed
columns (numbers, dates, datetimes, booleans) never are. Quoting strings always costs two bytes per
field but needs no per-value scan for delimiters, quotes, CR/LF or edge spaces, so it can never be
wrong for a hostile value, and typed renderings cannot contain any of those characters.

Nulls become ``#N/A`` (Salesforce sets the field to null) or an empty field (Salesforce leaves the
field unchanged), per :class:`NullPolicy`. ``#N/A`` is written bare, so a quoted string ``"#N/A"``
still means the text. Dates are ``yyyy-MM-dd``; datetimes UTC ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (naive
timestamps are taken as UTC); decimals plain, floats never in exponent form; booleans
``true``/``false``. NaN and infinities cannot be expressed in Salesforce and raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resources.salesforce.protocol import NULL_VALUE, ColumnDelimiter

LINE_END: Final = "\n"
_FIELD_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?$")


class NullPolicy(StrEnum):
    SET_NULL = "set_null"  # write #N/A: Salesforce clears the field
    KEEP_EXISTING = "keep_existing"  # write nothing: Salesforce leaves the field as it is


class CsvEncodingError(ValueError):
    """A column or value cannot be expressed in the Bulk CSV dialect."""


@dataclass(frozen=True)
class CsvOptions:
    delimiter: ColumnDelimiter = ColumnDelimiter.COMMA
    null_policy: NullPolicy = NullPolicy.SET_NULL

    @property
    def null_token(self) -> str:
        return NULL_VALUE if self.null_policy is NullPolicy.SET_NULL else ""


def encode_header(names: list[str], options: CsvOptions = CsvOptions()) -> bytes:
    for name in names:
        if not _FIELD_NAME.match(name):
            raise CsvEncodingError(f"not a Salesforce field API name: {name!r}")
    return (options.delimiter.char.join(names) + LINE_END).encode()


def encode_lines(batch: pa.RecordBatch | pa.Table, options: CsvOptions = CsvOptions()) -> pa.Array:
    """One string per row: the CSV line including its LF (offsets give each row's byte size)."""
    fields = [encode_column(column, options) for column in batch.columns]
    rows = pc.binary_join_element_wise(
        *fields,
        options.delimiter.char,
        null_handling="replace",
        null_replacement=options.null_token,
    )
    return pc.binary_join_element_wise(rows, LINE_END, "")


def encode_rows(batch: pa.RecordBatch | pa.Table, options: CsvOptions = CsvOptions()) -> bytes:
    """The CSV rows (no header) of ``batch``, each ending in LF."""
    if batch.num_rows == 0:
        return b""
    return concatenated_values(encode_lines(batch, options))


def encode_batch(
    batch: pa.RecordBatch | pa.Table, options: CsvOptions = CsvOptions(), header: bool = True
) -> bytes:
    body = encode_rows(batch, options)
    return encode_header(batch.schema.names, options) + body if header else body


def encode_column(
    column: pa.Array | pa.ChunkedArray, options: CsvOptions = CsvOptions()
) -> pa.Array:
    """One column rendered as CSV fields (strings; nulls stay null for the caller's null token)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        return encode_column(column.cast(kind.value_type), options)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _quoted(column.cast(pa.string()))
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_date32(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_date64(kind):
        return pc.cast(pc.cast(column, pa.date32()), pa.string())
    if pa.types.is_decimal(kind):
        return _plain_decimals(column)
    if pa.types.is_floating(kind):
        return _plain_floats(column)
    if pa.types.is_timestamp(kind):
        utc_ms = pc.cast(column, pa.timestamp("ms", tz="UTC"))
        return pc.strftime(utc_ms, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    raise CsvEncodingError(f"column type {kind} has no Bulk CSV rendering")


def _quoted(strings: pa.Array) -> pa.Array:
    doubled = pc.replace_substring(strings, '"', '""')
    return pc.binary_join_element_wise('"', doubled, '"', "")


def _plain_decimals(column: pa.Array) -> pa.Array:
    rendered = pc.cast(column, pa.string())
    if not pc.any(pc.match_substring(rendered, "E", ignore_case=True)).as_py():
        return rendered
    return pa.array(
        [None if v is None else format(v, "f") for v in column.to_pylist()], pa.string()
    )


def _plain_floats(column: pa.Array) -> pa.Array:
    values = pc.cast(column, pa.float64())
    if pc.any(pc.invert(pc.is_finite(values))).as_py():
        raise CsvEncodingError("NaN and infinite numbers cannot be sent to Salesforce")
    rendered = pc.cast(values, pa.string())
    if not pc.any(pc.match_substring(rendered, "e")).as_py():
        return rendered
    # Rare path: only values Arrow renders in exponent form go through Python.
    return pa.array(
        [None if v is None else _plain_float(v) for v in values.to_pylist()], pa.string()
    )


def _plain_float(value: float) -> str:
    text = format(Decimal(repr(value)), "f")
    return text[:-2] if text.endswith(".0") else text


def concatenated_values(strings: pa.Array) -> bytes:
    """The bytes of all values of a string array back to back (one copy, no Python strings)."""
    if strings.null_count:
        raise CsvEncodingError("internal: a CSV line was null")
    first, last = line_offsets(strings)[[0, -1]]
    data = strings.buffers()[2]
    if data is None or last == first:
        return b""
    payload: bytes = data[int(first) : int(last)].to_pybytes()
    return payload


def line_offsets(strings: pa.Array) -> np.ndarray:
    """The ``len + 1`` byte offsets of a string array's values into its data buffer."""
    raw = np.frombuffer(strings.buffers()[1], dtype=np.int32)
    return raw[strings.offset : strings.offset + len(strings) + 1]


def encode_echoed(table: pa.Table, options: CsvOptions = CsvOptions()) -> bytes:
    """Re-encode rows that Salesforce echoed back in a results CSV (every column text) for a
    follow-up job: ``#N/A`` stays the bare null token, every other value is quoted as text."""
    columns = []
    for column in table.columns:
        text = column.combine_chunks().cast(pa.string())
        is_null_token = pc.equal(text, NULL_VALUE)
        quoted = _quoted(text)
        columns.append(pc.if_else(is_null_token, pa.scalar(None, pa.string()), quoted))
    echoed = pa.table(columns, names=table.column_names)
    lines = pc.binary_join_element_wise(
        *echoed.columns,
        options.delimiter.char,
        null_handling="replace",
        null_replacement=NULL_VALUE,
    )
    body = concatenated_values(pc.binary_join_element_wise(lines.combine_chunks(), LINE_END, ""))
    return encode_header(table.column_names, options) + body
