"""Range algebra: half-open ranges tile the key space; one comparator (code-point order)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.ranges import (
    WHOLE_KEY_SPACE,
    KeyRange,
    boundaries_of,
    check_tiling,
    fold_case,
    in_range_mask,
    index_of,
    is_tiling,
    merge,
    ranges_from_boundaries,
    shortest_separator,
    split,
)

pytestmark = pytest.mark.unit
relaxed = settings(deadline=None)  # 2 shared cores: timings vary, behaviour does not

any_id = st.text()  # includes "", unicode, control characters, surrogates
arrow_id = st.text(alphabet=st.characters(exclude_categories=("Cs",)))
boundaries = st.lists(st.text(min_size=1), max_size=12)


@relaxed
@given(boundaries, any_id)
def test_every_string_belongs_to_exactly_one_range(cuts: list[str], external_id: str) -> None:
    ranges = ranges_from_boundaries(cuts)
    holders = [i for i, r in enumerate(ranges) if r.contains(external_id)]
    assert holders == [index_of(external_id, ranges)]


@relaxed
@given(boundaries)
def test_ranges_from_boundaries_tile_and_round_trip(cuts: list[str]) -> None:
    ranges = ranges_from_boundaries(cuts)
    assert is_tiling(ranges)
    assert boundaries_of(ranges) == sorted(set(cuts))


@relaxed
@given(boundaries, st.lists(st.text(min_size=1), max_size=6), any_id)
def test_split_keeps_the_tiling(cuts: list[str], points: list[str], external_id: str) -> None:
    ranges = ranges_from_boundaries(cuts)
    i = index_of(external_id, ranges)
    pieces = split(ranges[i], points)
    tiling = [*ranges[:i], *pieces, *ranges[i + 1 :]]
    check_tiling(tiling)
    assert sum(r.contains(external_id) for r in tiling) == 1
    assert merge(pieces) == ranges[i]


@relaxed
@given(boundaries, st.integers(min_value=0), st.integers(min_value=0), any_id)
def test_merge_of_neighbours_keeps_the_tiling(
    cuts: list[str], a: int, b: int, external_id: str
) -> None:
    ranges = ranges_from_boundaries(cuts)
    start, end = sorted((a % len(ranges), b % len(ranges)))
    merged = merge(ranges[start : end + 1])
    tiling = [*ranges[:start], merged, *ranges[end + 1 :]]
    check_tiling(tiling)
    assert merged.contains(external_id) == any(
        r.contains(external_id) for r in ranges[start : end + 1]
    )


def test_half_open_bounds_are_exact() -> None:
    r = KeyRange("b", "d")
    assert r.contains("b")  # the old job's bug was on the boundary
    assert r.contains("c\U0010ffff")
    assert not r.contains("d")
    assert not r.contains("a\uffff")
    assert r.contains("d"[:0] + "cz")
    assert WHOLE_KEY_SPACE.contains("")


def test_comparator_is_code_point_order_not_case_or_locale() -> None:
    ranges = ranges_from_boundaries(["a", "B"])  # "B" < "a" in code-point order
    assert [(r.lo, r.hi) for r in ranges] == [(None, "B"), ("B", "a"), ("a", None)]
    assert index_of("Z", ranges) == 1
    assert index_of("b", ranges) == 2
    assert index_of("é", ranges) == 2


@pytest.mark.parametrize(
    "bad",
    [lambda: KeyRange("", None), lambda: KeyRange("b", "a"), lambda: KeyRange("a", "a")],
)
def test_invalid_ranges_are_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        bad()


def test_empty_boundary_is_refused() -> None:
    with pytest.raises(ValueError):
        ranges_from_boundaries(["", "a"])


def test_check_tiling_names_the_gap() -> None:
    with pytest.raises(ValueError, match="not contiguous"):
        check_tiling([KeyRange(None, "b"), KeyRange("c", None)])
    with pytest.raises(ValueError, match="bounded"):
        check_tiling([KeyRange("a", None)])
    with pytest.raises(ValueError):
        merge([KeyRange(None, "b"), KeyRange("c", None)])


@relaxed
@given(any_id, any_id)
def test_shortest_separator_lies_between_and_is_shortest(a: str, b: str) -> None:
    if a == b:
        return
    below, upto = sorted((a, b))
    sep = shortest_separator(below, upto)
    assert below < sep <= upto
    assert all(not (below < upto[:n] <= upto) for n in range(len(sep)))


def test_shortest_separator_examples() -> None:
    assert shortest_separator("OPP-0001999", "OPP-0002000") == "OPP-0002"
    assert shortest_separator("abc", "abcd") == "abcd"
    assert shortest_separator("a", "b") == "b"


@settings(deadline=None, max_examples=40)
@given(st.lists(arrow_id.filter(bool), max_size=5), st.lists(arrow_id, max_size=30))
def test_vectorised_membership_agrees_with_python(cuts: list[str], ids: list[str]) -> None:
    for r in ranges_from_boundaries(cuts):
        mask = in_range_mask(pa.array(ids, pa.string()), r).to_pylist()
        assert mask == [r.contains(i) for i in ids]


def test_vectorised_membership_of_nulls_is_null() -> None:
    ids = pa.array(["a", None], pa.string())
    assert in_range_mask(ids, WHOLE_KEY_SPACE).to_pylist() == [True, None]
    assert in_range_mask(ids, KeyRange("a", "b")).to_pylist() == [True, None]


def test_fold_case() -> None:
    assert fold_case(pa.array(["AbC", "é", None])).to_pylist() == ["abc", "é", None]
