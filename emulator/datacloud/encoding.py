"""Query API V2 page bodies: column metadata, JSON ``data`` rows and base64 Arrow streams.

JSON rows are rendered by DuckDB over the page's Arrow batch (one vectorised SQL projection per
page), so a 49,999-row page never becomes Python objects:

- plain column values are JSON strings, computed numbers (aggregates, window functions) JSON
  numbers, nulls ``null``;
- DECIMAL keeps its scale (``"10.500000000000000000"`` for DMO numbers);
- timestamps render as ``2024-05-02T00:00:00.000+00:00`` (UTC), dates as ``2024-05-02``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%g+00:00"


@dataclass(frozen=True)
class V2Type:
    name: str
    type_code: int  # java.sql.Types


VARCHAR: Final = V2Type("VARCHAR", 12)
DECIMAL: Final = V2Type("DECIMAL", 3)
TIMESTAMP_TZ: Final = V2Type("TIMESTAMP WITH TIME ZONE", 93)
TIMESTAMP: Final = V2Type("TIMESTAMP", 93)
DATE: Final = V2Type("DATE", 91)
BIGINT: Final = V2Type("BIGINT", -5)
BOOLEAN: Final = V2Type("BOOLEAN", 16)
DOUBLE: Final = V2Type("DOUBLE", 8)


def v2_type(arrow_type: pa.DataType) -> V2Type:
    if pa.types.is_decimal(arrow_type):
        return DECIMAL
    if pa.types.is_timestamp(arrow_type):
        return TIMESTAMP_TZ if arrow_type.tz else TIMESTAMP
    if pa.types.is_date(arrow_type):
        return DATE
    if pa.types.is_integer(arrow_type):
        return BIGINT
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    if pa.types.is_floating(arrow_type):
        return DOUBLE
    return VARCHAR


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: V2Type
    plain: bool  # a bare column reference: its value goes out as a JSON string


def result_columns(schema: pa.Schema, plain: list[bool] | None) -> list[ResultColumn]:
    """Describe the output; without a select-list analysis, numbers count as computed."""
    columns = []
    for index, field in enumerate(schema):
        kind = v2_type(field.type)
        is_plain = plain[index] if plain is not None else kind not in (BIGINT, DOUBLE, BOOLEAN)
        columns.append(ResultColumn(field.name, kind, is_plain))
    return columns


def metadata(columns: list[ResultColumn]) -> dict[str, dict[str, Any]]:
    return {
        c.name: {"type": c.type.name, "placeInOrder": i, "typeCode": c.type.type_code}
        for i, c in enumerate(columns)
    }


class JsonRowsEncoder:
    """Renders an Arrow batch as the text between the brackets of ``"data": [...]``."""

    def __init__(self, formatter: duckdb.DuckDBPyConnection, columns: list[ResultColumn]):
        self._formatter = formatter
        cells = [_cell_sql(f"c{i}", c) for i, c in enumerate(columns)]
        # Column names are generated (c0, c1, ...), never taken from the client's SQL.
        # One concat() call per row: chained || would copy the growing row once per column.
        self._sql = "SELECT concat('[', " + ", ',', ".join(cells) + ", ']') AS row FROM page"  # noqa: S608

    def encode(self, batch: pa.RecordBatch) -> bytes:
        if batch.num_rows == 0:
            return b""
        renamed = pa.Table.from_batches(
            # Slices let DuckDB format parts of the page on several threads, in order.
            _slices(batch),
            schema=batch.schema,
        ).rename_columns([f"c{i}" for i in range(batch.num_columns)])
        cursor = self._formatter.cursor()
        cursor.execute("SET enable_progress_bar = false")
        try:
            cursor.register("page", renamed)
            rows = cursor.sql(self._sql).to_arrow_table().column("row").combine_chunks()
        finally:
            cursor.close()
        one_list = pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows)
        joined = pc.binary_join(one_list, ",")[0]
        return bytes(joined.as_buffer().to_pybytes())


def _slices(batch: pa.RecordBatch, rows: int = 8_192) -> list[pa.RecordBatch]:
    return [batch.slice(start, rows) for start in range(0, batch.num_rows, rows)]


def _cell_sql(column: str, result: ResultColumn) -> str:
    kind = result.type
    if kind in (TIMESTAMP_TZ, TIMESTAMP):
        text = f"to_json(strftime({column}, '{TIMESTAMP_FORMAT}'))::VARCHAR"
    elif kind is DATE:
        text = f"to_json(strftime({column}, '%Y-%m-%d'))::VARCHAR"
    elif kind is VARCHAR or result.plain:
        text = f"to_json({column}::VARCHAR)::VARCHAR"
    elif kind is DOUBLE:
        text = f"CASE WHEN isfinite({column}) THEN {column}::VARCHAR END"
    else:  # computed DECIMAL, BIGINT, BOOLEAN: the SQL literal is already valid JSON
        text = f"{column}::VARCHAR"
    return f"coalesce({text}, 'null')"


def arrow_stream(batch: pa.RecordBatch) -> bytes:
    """The page as an Arrow IPC stream (schema, then the batch when it has rows)."""
    return bytes(_arrow_stream_buffer(batch).to_pybytes())


def arrow_stream_base64(batch: pa.RecordBatch) -> bytes:
    # Encoded straight from Arrow's buffer: no intermediate copy of the whole page.
    return base64.b64encode(_arrow_stream_buffer(batch))


def _arrow_stream_buffer(batch: pa.RecordBatch) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        if batch.num_rows:
            writer.write_batch(batch)
    return sink.getvalue()
