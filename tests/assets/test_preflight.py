"""Pre-flight quarantine: blank, out-of-range, duplicate and case-duplicate ids, unmappable rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.mapping import ValueProblem
from assets.preflight import (
    MESSAGE_COLUMN,
    QUARANTINE_REASONS,
    REASON_COLUMN,
    IdProblem,
    find_ambiguous_keys,
    prepare_batch,
    quarantine_counts,
    split_batch,
)
from assets.ranges import WHOLE_KEY_SPACE, KeyRange

sys.path.insert(0, str(Path(__file__).parent))
from test_mapping import source_batch

pytestmark = pytest.mark.unit


def ids_batch(ids: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"ExternalId__c": pa.array(ids, pa.string()), "n": list(range(len(ids)))}
    )


def test_ambiguous_keys_come_from_the_whole_range_across_pages() -> None:
    pages = [
        pa.array(["a-1", "B-2", "c-3", None]),
        pa.array(["a-1", "b-2", "  ", "d-4"]),
        pa.chunked_array([pa.array(["D-4", "d-4", ""])]),
    ]
    ambiguous = find_ambiguous_keys(pages)
    assert sorted(ambiguous.duplicate_ids.to_pylist()) == ["a-1", "d-4"]
    assert sorted(ambiguous.case_folded.to_pylist()) == ["b-2", "d-4"]
    sensitive = find_ambiguous_keys(pages, case_sensitive=True)
    assert sensitive.case_folded.to_pylist() == []
    assert find_ambiguous_keys([]).is_empty
    assert find_ambiguous_keys([pa.array(["", None, " \t"])]).is_empty


def test_split_batch_quarantines_all_rows_sharing_a_key() -> None:
    ids = ["a-1", "a-1", "B-2", "b-2", "c-3", None, " ", "zz-9"]
    ambiguous = find_ambiguous_keys([pa.array(ids)])
    clean, held = split_batch(ids_batch(ids), ambiguous, KeyRange(None, "zz"))
    assert clean.column("ExternalId__c").to_pylist() == ["c-3"]
    rows = held.to_pylist()
    assert {r["n"]: r[REASON_COLUMN] for r in rows} == {
        0: IdProblem.DUPLICATE_EXTERNAL_ID,
        1: IdProblem.DUPLICATE_EXTERNAL_ID,
        2: IdProblem.CASE_DUPLICATE_EXTERNAL_ID,
        3: IdProblem.CASE_DUPLICATE_EXTERNAL_ID,
        5: IdProblem.BLANK_EXTERNAL_ID,
        6: IdProblem.BLANK_EXTERNAL_ID,
        7: IdProblem.OUTSIDE_RANGE,
    }
    messages = {r["n"]: r[MESSAGE_COLUMN] for r in rows}
    assert messages[0].startswith("ExternalId__c 'a-1' occurs more than once")
    assert "differs only by case" in messages[2]
    assert messages[5] == "ExternalId__c is blank"
    assert "outside the range" in messages[7]


def test_case_sensitive_field_keeps_case_variants() -> None:
    ids = ["B-2", "b-2"]
    ambiguous = find_ambiguous_keys([pa.array(ids)], case_sensitive=True)
    clean, held = split_batch(ids_batch(ids), ambiguous, WHOLE_KEY_SPACE, case_sensitive=True)
    assert (clean.num_rows, held.num_rows) == (2, 0)


def test_range_boundaries_are_half_open() -> None:
    ids = ["b", "a\uffff", "c", "bz"]
    _, held = split_batch(ids_batch(ids), find_ambiguous_keys([]), KeyRange("b", "c"))
    assert held.column("ExternalId__c").to_pylist() == ["a\uffff", "c"]


def test_prepare_batch_adds_unmappable_rows_to_the_quarantine() -> None:
    batch = source_batch(4, ssot__IsPrivate__c=pa.array(["true", "maybe", "false", "false"]))
    batch = batch.set_column(0, "ExternalId__c", pa.array(["OPP-1", "OPP-2", "OPP-3", "OPP-3"]))
    ambiguous = find_ambiguous_keys([batch.column("ExternalId__c")])
    mapped, held = prepare_batch(batch, ambiguous, WHOLE_KEY_SPACE)
    assert mapped.column("External_Id__c").to_pylist() == ["OPP-1"]
    assert held.column(REASON_COLUMN).to_pylist() == [
        IdProblem.DUPLICATE_EXTERNAL_ID,
        IdProblem.DUPLICATE_EXTERNAL_ID,
        ValueProblem.NOT_A_BOOLEAN,
    ]
    assert quarantine_counts(held) == {"DUPLICATE_EXTERNAL_ID": 2, "NOT_A_BOOLEAN": 1}
    assert quarantine_counts(held.slice(0, 0)) == {}
    assert set(quarantine_counts(held)) <= set(QUARANTINE_REASONS)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from(["", " ", "a", "A", "b", "é", "É", "ab"])),
        max_size=25,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_every_row_ends_clean_or_quarantined_and_clean_keys_are_unique(
    ids: list[str | None], pages: int
) -> None:
    chunks = [ids[i::pages] for i in range(pages)]
    ambiguous = find_ambiguous_keys([pa.array(c, pa.string()) for c in chunks])
    clean_ids: list[str] = []
    held_total = 0
    for chunk in chunks:
        clean, held = split_batch(ids_batch(chunk), ambiguous, WHOLE_KEY_SPACE)
        clean_ids += clean.column("ExternalId__c").to_pylist()
        held_total += held.num_rows
    assert len(clean_ids) + held_total == len(ids)
    folded = [i.lower() for i in clean_ids]
    assert len(set(folded)) == len(folded)
    present = [i for i in ids if i is not None and i.strip()]
    for i in clean_ids:
        assert sum(p.lower() == i.lower() for p in present) == 1
