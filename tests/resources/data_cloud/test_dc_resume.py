"""Keyset restart after a lost cursor: never a row skipped or repeated, duplicates and NULLs too."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.data_cloud.errors import QueryRestartRequiredError
from resources.data_cloud.resume import KeysetPosition, resuming_batches

pytestmark = pytest.mark.unit

SCHEMA = pa.schema([("k", pa.string()), ("row", pa.int64())])


def ordered(keys: list[str | None]) -> list[str | None]:
    return sorted(keys, key=lambda k: (k is not None, k or ""))


class FlakyRange:
    """A server holding ``keys`` (ordered); each opened cursor dies after ``fail_after`` pages."""

    def __init__(self, keys: list[str | None], page: int, failures: list[int]) -> None:
        self.rows = [(k, i) for i, k in enumerate(ordered(keys))]
        self.page = page
        self.failures = list(failures)  # pages served before each successive cursor dies
        self.opened: list[str | None] = []

    def open(self, from_key: str | None) -> pa.RecordBatchReader:
        self.opened.append(from_key)
        if from_key is None:
            rows = self.rows
        else:
            # Equal keys may come back in another order after a restart (no tie-break).
            rows = [r for r in self.rows if r[0] is not None and r[0] >= from_key]
            rows = sorted(rows, key=lambda r: (r[0], -r[1]))
        fail_after = self.failures.pop(0) if self.failures else None
        return pa.RecordBatchReader.from_batches(SCHEMA, self._pages(rows, fail_after))

    def _pages(self, rows: list[tuple[str | None, int]], fail_after: int | None) -> Iterator:
        for n, start in enumerate(range(0, len(rows), self.page)):
            if fail_after is not None and n >= fail_after:
                raise QueryRestartRequiredError("cursor lost", rows_delivered=start)
            chunk = rows[start : start + self.page]
            yield pa.RecordBatch.from_pylist([{"k": k, "row": i} for k, i in chunk], schema=SCHEMA)


keys_strategy = st.lists(
    st.one_of(st.none(), st.sampled_from(["a", "b", "b", "c", "é", "😀"]), st.text(max_size=3)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    keys=keys_strategy,
    page=st.integers(min_value=1, max_value=7),
    failures=st.lists(st.integers(min_value=0, max_value=4), max_size=4),
)
def test_restarts_deliver_every_key_exactly_once_in_order(
    keys: list[str | None], page: int, failures: list[int]
) -> None:
    server = FlakyRange(keys, page, failures)
    batches = resuming_batches(server.open(None), "k", server.open, max_restarts=len(failures))
    got = [k for b in batches for k in b.column("k").to_pylist()]
    assert got == ordered(keys)


def test_gives_up_after_max_restarts() -> None:
    server = FlakyRange(["a", "b", "c"], page=1, failures=[1, 0, 0])
    batches = resuming_batches(server.open(None), "k", server.open, max_restarts=1)
    with pytest.raises(QueryRestartRequiredError):
        list(batches)
    assert server.opened == [None, "a"]


def test_position_counts_trailing_duplicates_across_batches() -> None:
    position = KeysetPosition()
    position.advance(pa.array([None, "a", "b"]))
    position.advance(pa.array(["b", "b"]))
    assert position.restart_from() == ("b", 3)
    position.advance(pa.array(["c"]))
    assert position.restart_from() == ("c", 1)


def test_position_with_only_nulls_restarts_from_the_start() -> None:
    position = KeysetPosition()
    position.advance(pa.array([None, None], pa.string()))
    assert position.restart_from() == (None, 2)
