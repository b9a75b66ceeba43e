"""Bulk CSV dialect: hostile strings round-trip through Python's csv module; typed renderings."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.salesforce.csv_encoding import (
    CsvEncodingError,
    CsvOptions,
    NullPolicy,
    encode_batch,
    encode_header,
)
from resources.salesforce.protocol import ColumnDelimiter

pytestmark = pytest.mark.unit

hostile = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "\t", " lead", "trail ", "#N/A", "é😀", ""])


def _parse(data: bytes, delimiter: str = ",") -> list[list[str]]:
    text = data.decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(hostile, hostile), min_size=1, max_size=20))
def test_hostile_strings_round_trip(rows: list[tuple[str, str]]) -> None:
    table = pa.table({"External_Id__c": [r[0] for r in rows], "Name": [r[1] for r in rows]})
    data = encode_batch(table)
    assert not data.startswith(b"\xef\xbb\xbf")
    parsed = _parse(data)
    assert parsed[0] == ["External_Id__c", "Name"]
    assert [tuple(r) for r in parsed[1:]] == rows


@settings(max_examples=50, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=10), st.sampled_from(list(ColumnDelimiter)))
def test_every_delimiter_round_trips(values: list[str], delimiter: ColumnDelimiter) -> None:
    table = pa.table({"A": values, "B": values})
    parsed = _parse(encode_batch(table, CsvOptions(delimiter=delimiter)), delimiter.char)
    assert [r[0] for r in parsed[1:]] == values
    assert [r[1] for r in parsed[1:]] == values


def test_typed_columns_render_in_salesforce_formats() -> None:
    table = pa.table(
        {
            "CloseDate": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
            "LastSeen__c": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "Amount": pa.array(
                [Decimal("1234567890123.45"), Decimal("0.10")], pa.decimal128(18, 2)
            ),
            "Qty": pa.array([1e20, 0.000001]),
            "Probability": pa.array([10, None], pa.int64()),
            "IsPrivate": pa.array([True, False]),
        }
    )
    lines = encode_batch(table).decode().split("\n")
    assert lines[1] == (
        "2024-02-29,2024-01-02T03:04:05.678Z,1234567890123.45,100000000000000000000,10,true"
    )
    assert lines[2] == "#N/A,#N/A,0.10,0.000001,#N/A,false"
    assert lines[3] == ""
    assert "\r" not in encode_batch(table).decode()


def test_naive_and_zoned_timestamps_are_utc() -> None:
    zoned = pa.array([dt.datetime(2024, 6, 1, 12, 0)], pa.timestamp("s")).cast(
        pa.timestamp("s", tz="UTC")
    )
    table = pa.table({"A": zoned.cast(pa.timestamp("s", tz="Europe/Paris"))})
    assert encode_batch(table, header=False) == b"2024-06-01T12:00:00.000Z\n"


def test_null_policy_keep_existing_writes_empty_fields() -> None:
    table = pa.table({"A": ["x", None], "B": pa.array([None, 1], pa.int64())})
    data = encode_batch(table, CsvOptions(null_policy=NullPolicy.KEEP_EXISTING), header=False)
    assert data == b'"x",\n,1\n'


def test_nan_is_refused_and_bad_header_is_refused() -> None:
    with pytest.raises(CsvEncodingError):
        encode_batch(pa.table({"A": [float("nan")]}))
    with pytest.raises(CsvEncodingError):
        encode_header(["Name", "bad,name"])
    assert encode_header(["Account.External_Id__c"]) == b"Account.External_Id__c\n"


def test_dictionary_and_large_string_columns() -> None:
    table = pa.table(
        {
            "A": pa.array(["x", "y", "x"]).dictionary_encode(),
            "B": pa.array(['q"', None, ""], pa.large_string()),
        }
    )
    assert encode_batch(table, header=False) == b'"x","q"""\n"y",#N/A\n"x",""\n'
