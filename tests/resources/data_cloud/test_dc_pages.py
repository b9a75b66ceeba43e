"""V2 pages (JSON and Arrow) decode to the same typed Arrow batches."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from resources.data_cloud.pages import (
    DECIMAL_TYPE,
    TIMESTAMP_TYPE,
    arrow_page_batches,
    json_page_batch,
    schema_from_metadata,
)

pytestmark = pytest.mark.unit

METADATA = {
    "ssot__CloseDate__c": {"type": "TIMESTAMP WITH TIME ZONE", "placeInOrder": 3, "typeCode": 93},
    "ExternalId__c": {"type": "VARCHAR", "placeInOrder": 0, "typeCode": 12},
    "ssot__TotalAmount__c": {"type": "DECIMAL", "placeInOrder": 2, "typeCode": 3},
    "n": {"type": "BIGINT", "placeInOrder": 1},
    "d": {"type": "DATE", "placeInOrder": 4},
    "b": {"type": "BOOLEAN", "placeInOrder": 5},
    "x": {"type": "DOUBLE", "placeInOrder": 6},
    "odd": {"type": "GEOMETRY", "placeInOrder": 7},
}
ROWS = [
    [
        "OPP-1",
        "570907236",
        "10.500000000000000000",
        "2024-05-02T00:00:00.000+00:00",
        "2024-05-02",
        "true",
        "1.5",
        "POINT(1 2)",
    ],
    [None, 7, None, "1989-04-01 10:00:00.000 UTC", None, False, 2, None],
    ["O'B\\", None, "12345678901234567890.123456789012345678", None, "2000-01-31", None, None, ""],
]


def test_schema_follows_place_in_order_and_types() -> None:
    schema = schema_from_metadata(METADATA)
    assert schema.names == [
        "ExternalId__c",
        "n",
        "ssot__TotalAmount__c",
        "ssot__CloseDate__c",
        "d",
        "b",
        "x",
        "odd",
    ]
    assert schema.types == [
        pa.string(),
        pa.int64(),
        DECIMAL_TYPE,
        TIMESTAMP_TYPE,
        pa.date32(),
        pa.bool_(),
        pa.float64(),
        pa.string(),  # unknown types stay text
    ]


def test_json_values_are_typed_exactly() -> None:
    batch = json_page_batch(ROWS, schema_from_metadata(METADATA))
    first, second, third = batch.to_pylist()
    assert first["n"] == 570907236 and second["n"] == 7  # strings and JSON numbers
    assert first["ssot__TotalAmount__c"] == Decimal("10.5")
    assert third["ssot__TotalAmount__c"] == Decimal("12345678901234567890.123456789012345678")
    assert first["ssot__CloseDate__c"] == dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert second["ssot__CloseDate__c"] == dt.datetime(1989, 4, 1, 10, tzinfo=dt.UTC)
    assert third["d"] == dt.date(2000, 1, 31)
    assert (first["b"], second["b"], third["b"]) == (True, False, None)
    assert (first["x"], second["x"]) == (1.5, 2.0)
    assert third["ExternalId__c"] == "O'B\\"


def test_plain_timestamps_are_read_as_utc() -> None:
    schema = schema_from_metadata({"t": {"type": "TIMESTAMP", "placeInOrder": 0}})
    batch = json_page_batch([["2024-05-02T03:04:05"]], schema)
    assert batch.column(0)[0].as_py() == dt.datetime(2024, 5, 2, 3, 4, 5, tzinfo=dt.UTC)


def _ipc_b64(batch: pa.RecordBatch) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def test_arrow_page_equals_json_page_of_the_same_rows() -> None:
    schema = schema_from_metadata(METADATA)
    from_json = json_page_batch(ROWS, schema)
    # What a server might send: other column order, another zone, narrower decimals.
    server = pa.table(
        {
            "odd": from_json.column("odd"),
            "ExternalId__c": from_json.column("ExternalId__c"),
            "ssot__CloseDate__c": from_json.column("ssot__CloseDate__c").cast(
                pa.timestamp("us", tz="Europe/Berlin")
            ),
            "ssot__TotalAmount__c": from_json.column("ssot__TotalAmount__c"),
            "n": from_json.column("n"),
            "d": from_json.column("d"),
            "b": from_json.column("b"),
            "x": from_json.column("x").cast(pa.float32()),
        }
    ).to_batches()[0]
    (from_arrow,) = list(arrow_page_batches(_ipc_b64(server), schema))
    assert from_arrow.equals(from_json)


def test_null_or_empty_arrow_stream_is_an_empty_page() -> None:
    schema = schema_from_metadata(METADATA)
    assert list(arrow_page_batches(None, schema)) == []
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    assert list(arrow_page_batches(_ipc_b64(empty), schema)) == []


def test_row_width_must_match_metadata() -> None:
    with pytest.raises(ValueError):
        json_page_batch([["a", "b"]], schema_from_metadata({"a": {"type": "VARCHAR"}}))
