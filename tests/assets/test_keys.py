"""Partition keys: reversible, readable, sorted like the ranges, free of forbidden substrings."""

from __future__ import annotations

import pytest
from dagster._core.definitions.partitions.utils.base import INVALID_PARTITION_SUBSTRINGS
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.keys import (
    FORBIDDEN_SUBSTRINGS,
    MAX_ENCODED_BOUND,
    InvalidPartitionKey,
    decode_bound,
    encodable,
    encode_bound,
    is_valid_key,
    key_to_range,
    range_to_key,
)
from assets.ranges import WHOLE_KEY_SPACE, KeyRange, ranges_from_boundaries

pytestmark = pytest.mark.unit
relaxed = settings(deadline=None)

bound = st.text(min_size=1, max_size=12)
hostile = st.text(alphabet="..,,!+/~*- \n\t\x00aZ9é\U0001f600", min_size=1, max_size=10)
short_bounds = st.one_of(bound, hostile)


@relaxed
@given(st.lists(short_bounds, max_size=10))
def test_keys_round_trip_and_sort_like_ranges(cuts: list[str]) -> None:
    ranges = ranges_from_boundaries(cuts)
    keys = [range_to_key(r) for r in ranges]
    assert [key_to_range(k) for k in keys] == ranges
    assert sorted(keys) == keys
    assert len(set(keys)) == len(keys)


@relaxed
@given(short_bounds, short_bounds)
def test_bound_encoding_is_order_preserving(a: str, b: str) -> None:
    assert (a < b) == (encode_bound(a) < encode_bound(b))
    assert decode_bound(encode_bound(a)) == a


@relaxed
@given(st.lists(short_bounds, max_size=10))
def test_keys_never_hold_forbidden_substrings(cuts: list[str]) -> None:
    for r in ranges_from_boundaries(cuts):
        key = range_to_key(r)
        for bad in (*FORBIDDEN_SUBSTRINGS, *INVALID_PARTITION_SUBSTRINGS):
            assert bad not in key
        assert key.isprintable()


def test_dagster_list_is_covered() -> None:
    assert set(INVALID_PARTITION_SUBSTRINGS) <= set(FORBIDDEN_SUBSTRINGS)


def test_keys_are_readable() -> None:
    ranges = ranges_from_boundaries(["OPP-0200", "OPP-04"])
    assert [range_to_key(r) for r in ranges] == ["!OPP-0200", "OPP-0200!OPP-04", "OPP-04!"]
    assert range_to_key(WHOLE_KEY_SPACE) == "!"
    assert range_to_key(KeyRange("a.b...c", None)) == "a/.b/././.c!"
    assert range_to_key(KeyRange("x,y z", "é")) == "x+2Cy+20z!~0000E9"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abc",
        "a!b!c",
        "b!a",
        "a!a",
        "+2G!",
        "+2D!",  # "-" escaped although it is a literal: not canonical
        "~00002D!",
        "/x!",
        "a b!",
        "a.b!",
        "!~11FFFF",
    ],
)
def test_invalid_keys_are_refused(key: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(InvalidPartitionKey):
        key_to_range(key)


def test_any_python_string_round_trips_even_lone_surrogates() -> None:
    key_range = KeyRange("\ud800", "\udfff\U0010ffff")
    assert key_to_range(range_to_key(key_range)) == key_range


def test_long_bounds_are_refused_not_truncated() -> None:
    long_bound = "x" * (MAX_ENCODED_BOUND + 1)
    assert not encodable(long_bound)
    assert encodable("x" * MAX_ENCODED_BOUND)
    with pytest.raises(InvalidPartitionKey, match="shorter boundary"):
        range_to_key(KeyRange(long_bound, None))
    assert not encodable("é" * 20)  # 7 characters each once escaped
