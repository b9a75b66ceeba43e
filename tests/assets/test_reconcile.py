"""Reconciliation by key: missing (explained or not), extra, case collisions; exact whatever the case."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.ranges import KeyRange
from assets.reconcile import explanations_table, reconcile

pytestmark = pytest.mark.unit


def ids(*values: str | None) -> pa.Array:
    return pa.array(list(values), pa.string())


def test_identical_sides_pass() -> None:
    result = reconcile(ids("OPP-1", "OPP-2"), pa.chunked_array([ids("OPP-2"), ids("OPP-1")]))
    assert result.passed
    assert (result.matched, result.missing, result.extra) == (2, 0, 0)


def test_missing_explained_and_unexplained_are_told_apart() -> None:
    explanations = explanations_table(
        ids("OPP-2", "OPP-3", "OPP-3", "OPP-9"),
        ids("REQUIRED_FIELD_MISSING", "DUPLICATE_EXTERNAL_ID", "A_LATER_CODE", "NOT_A_BOOLEAN"),
    )
    result = reconcile(
        ids("OPP-1", "OPP-2", "OPP-3", "OPP-4", "OPP-5"),
        ids("OPP-1"),
        explanations=explanations,
    )
    assert not result.passed
    assert (result.missing, result.missing_explained, result.missing_unexplained) == (4, 2, 2)
    assert result.missing_by_reason == {"REQUIRED_FIELD_MISSING": 1, "A_LATER_CODE": 1}
    assert result.missing_explained_sample == [
        ("OPP-2", "REQUIRED_FIELD_MISSING"),
        ("OPP-3", "A_LATER_CODE"),  # the smallest reason when several were recorded
    ]
    assert result.missing_unexplained_sample == ["OPP-4", "OPP-5"]


def test_case_insensitive_field_matches_any_spelling_and_reports_collisions() -> None:
    result = reconcile(ids("abc-1", "ABC-2", "abc-2", "Xyz"), ids("ABC-1", "abc-2", "xyz"))
    assert result.passed
    assert result.case_collisions == 1
    assert result.case_collision_sample == [["ABC-2", "abc-2"]]
    assert result.source_keys == 3


def test_case_sensitive_field_is_exact() -> None:
    result = reconcile(ids("abc-1", "ABC-2"), ids("ABC-1", "ABC-2"), case_sensitive=True)
    assert result.missing_unexplained_sample == ["abc-1"]
    assert result.extra_sample == ["ABC-1"]
    assert result.case_collisions == 0


def test_range_is_applied_with_the_one_comparator() -> None:
    key_range = KeyRange("b", "d")
    result = reconcile(
        ids("b", "c", "a", "d"),  # a and d are not in the range: ignored defensively
        ids("b", "c", "cz", "B", "d", "a", "C"),  # a SOQL superset of the range
        key_range=key_range,
    )
    assert result.source_keys == 2
    assert result.extra_sample == ["cz"]  # B and C match source keys of the range; d, a are outside
    assert result.missing == 0


def test_blank_source_ids_are_counted_apart() -> None:
    result = reconcile(ids("a", "", " ", None), ids("a", None, ""))
    assert (result.source_rows, result.blank_source_rows, result.source_keys) == (4, 3, 1)
    assert result.passed and result.target_keys == 1


def test_samples_are_bounded_and_in_comparator_order() -> None:
    source = ids(*[f"id-{n:03d}" for n in range(50)], "Z", "é")
    result = reconcile(source, ids(), sample_size=5, case_sensitive=True)
    assert result.missing == 52
    assert result.missing_unexplained_sample == ["Z", "id-000", "id-001", "id-002", "id-003"]
    folded = reconcile(source, ids(), sample_size=3)  # in key order: "Z" is "z" there
    assert folded.missing_unexplained_sample == ["id-000", "id-001", "id-002"]
    metadata = result.as_metadata()
    assert metadata["missing_unexplained"] == 52
    assert metadata["missing_unexplained_sample"][0] == "Z"


small_ids = st.text(alphabet="aAbBé", min_size=0, max_size=3)


@settings(deadline=None, max_examples=80)
@given(
    st.lists(small_ids, max_size=20),
    st.lists(small_ids, max_size=20),
    st.lists(small_ids, max_size=5),
    st.booleans(),
)
def test_matches_a_plain_python_model(
    source: list[str], target: list[str], rejected: list[str], case_sensitive: bool
) -> None:
    def key(i: str) -> str:
        return i if case_sensitive else i.lower()

    source_keys = {key(i) for i in source if i.strip()}
    target_keys = {key(i) for i in target if i.strip()}
    rejected_keys = {key(i) for i in rejected}
    missing = source_keys - target_keys
    result = reconcile(
        ids(*source),
        ids(*target),
        case_sensitive=case_sensitive,
        explanations=explanations_table(ids(*rejected), ids(*["CODE"] * len(rejected))),
    )
    assert result.missing == len(missing)
    assert result.missing_explained == len(missing & rejected_keys)
    assert result.missing_unexplained == len(missing - rejected_keys)
    assert result.extra == len(target_keys - source_keys)
    assert result.matched + result.missing == result.source_keys == len(source_keys)
    assert result.passed == (not (missing - rejected_keys))
    spellings: dict[str, set[str]] = {}
    for i in source:
        if i.strip():
            spellings.setdefault(key(i), set()).add(i)
    expected_collisions = 0 if case_sensitive else sum(len(s) > 1 for s in spellings.values())
    assert result.case_collisions == expected_collisions
