"""The tenant backend without HTTP: cursor expiry under a fake clock, byte cap, data changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from emulator.config import EmulatorConfig
from emulator.datacloud.backend import (
    BatchNotFound,
    DataCloudBackend,
    Page,
    PageFormat,
    seed_tenant,
)
from emulator.datacloud.encoding import arrow_stream
from emulator.datacloud.generate import generate_table
from emulator.datacloud.sql import QueryRefused

pytestmark = pytest.mark.emulator

RECORDS = 120
IDS_IN_ORDER = 'SELECT "ExternalId__c" FROM "ssot__Opportunity__dlm" ORDER BY "ExternalId__c"'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("tenant")
    seed_tenant(data_dir, RECORDS, seed=3)
    return data_dir


@pytest.fixture(scope="module")
def expected_ids() -> list[str]:
    return sorted(generate_table(RECORDS, 3).column("ExternalId__c").to_pylist())


@contextmanager
def open_backend(
    data_dir: Path, clock: FakeClock | None = None, **settings: Any
) -> Iterator[DataCloudBackend]:
    backend = DataCloudBackend(EmulatorConfig(data_dir=data_dir, **settings), clock=clock)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(seeded_dir: Path, clock: FakeClock) -> Iterator[DataCloudBackend]:
    with open_backend(
        seeded_dir,
        clock,
        datacloud_page_rows=25,
        datacloud_cursor_idle_s=180.0,
        datacloud_cursor_lifetime_s=3600.0,
    ) as backend:
        yield backend


def json_ids(page: Page) -> list[str]:
    return [row[0] for row in json.loads(b"[" + page.payload + b"]")]


def test_seeded_rows_persist_across_backends(backend: DataCloudBackend) -> None:
    assert backend.row_count() == RECORDS


def test_a_cursor_dies_after_the_idle_gap(backend: DataCloudBackend, clock: FakeClock) -> None:
    first = backend.submit(IDS_IN_ORDER, PageFormat.JSON)
    assert first.next_batch_id is not None and backend.open_cursor_count() == 1

    clock.now += 180.5

    with pytest.raises(BatchNotFound):
        backend.next_page(first.next_batch_id, PageFormat.JSON)
    assert backend.open_cursor_count() == 0


def test_a_cursor_lives_while_polled_within_the_gap(
    backend: DataCloudBackend, clock: FakeClock, expected_ids: list[str]
) -> None:
    page = backend.submit(IDS_IN_ORDER, PageFormat.JSON)
    ids = json_ids(page)
    while not page.done:
        clock.now += 170.0
        assert page.next_batch_id is not None
        page = backend.next_page(page.next_batch_id, PageFormat.JSON)
        ids += json_ids(page)

    assert ids == expected_ids
    assert backend.open_cursor_count() == 0


def test_a_cursor_dies_after_its_lifetime_even_when_polled(
    seeded_dir: Path, clock: FakeClock
) -> None:
    with open_backend(
        seeded_dir,
        clock,
        datacloud_page_rows=10,
        datacloud_cursor_idle_s=180.0,
        datacloud_cursor_lifetime_s=500.0,
    ) as backend:
        page = backend.submit(IDS_IN_ORDER, PageFormat.JSON)
        for _ in range(3):
            clock.now += 150.0
            assert page.next_batch_id is not None
            page = backend.next_page(page.next_batch_id, PageFormat.JSON)
        clock.now += 150.0  # 600 s after submit

        assert page.next_batch_id is not None
        with pytest.raises(BatchNotFound):
            backend.next_page(page.next_batch_id, PageFormat.JSON)


@pytest.mark.parametrize("page_format", [PageFormat.JSON, PageFormat.ARROW])
def test_the_byte_cap_shortens_pages_without_losing_rows(
    seeded_dir: Path, expected_ids: list[str], page_format: PageFormat
) -> None:
    cap = 1_500
    with open_backend(seeded_dir, datacloud_page_rows=100, datacloud_page_bytes=cap) as backend:
        pages = [backend.submit(IDS_IN_ORDER, page_format)]
        while not pages[-1].done:
            batch_id = pages[-1].next_batch_id
            assert batch_id is not None
            pages.append(backend.next_page(batch_id, page_format))

    assert all(len(p.payload) <= cap for p in pages)
    assert all(0 < p.row_count < 100 for p in pages)
    ids = [i for p in pages for i in page_ids(p)]
    assert ids == expected_ids


def page_ids(page: Page) -> list[str]:
    if page.format is PageFormat.JSON:
        return json_ids(page)
    table = pa.ipc.open_stream(base64.b64decode(page.payload)).read_all()
    return [str(v) for v in table.column(0).to_pylist()]


def test_results_stream_instead_of_materialising(backend: DataCloudBackend) -> None:
    """A billion-row result answers its first page at once (it would never fit in memory)."""
    page = backend.submit("SELECT i FROM range(1000000000) t(i)", PageFormat.JSON)

    assert page.row_count == 25 and not page.done
    assert json.loads(b"[" + page.payload + b"]")[:3] == [["0"], ["1"], ["2"]]
    assert page.metadata == {"i": {"type": "BIGINT", "placeInOrder": 0, "typeCode": -5}}
    backend.drop_cursors()
    assert backend.open_cursor_count() == 0


def test_a_data_change_drops_open_cursors(tmp_path: Path) -> None:
    seed_tenant(tmp_path, 40, seed=1)
    with open_backend(tmp_path, datacloud_page_rows=10) as backend:
        page = backend.submit(IDS_IN_ORDER, PageFormat.JSON)

        assert backend.regenerate(15, seed=2) == 15

        assert page.next_batch_id is not None
        with pytest.raises(BatchNotFound):
            backend.next_page(page.next_batch_id, PageFormat.JSON)
        assert backend.row_count() == 15
        fresh = backend.submit(IDS_IN_ORDER, PageFormat.JSON)
        assert (
            json_ids(fresh)
            == sorted(generate_table(15, 2).column("ExternalId__c").to_pylist())[:10]
        )


def test_the_query_connection_cannot_write_even_past_the_parser(
    backend: DataCloudBackend,
) -> None:
    """Defence in depth: the reader connection itself is read-only."""
    with backend._read_cursor() as cursor, pytest.raises(Exception, match="read-only"):
        cursor.execute('DELETE FROM "ssot__Opportunity__dlm"')
    assert backend.row_count() == RECORDS


def test_refusals_raise_before_touching_the_database(backend: DataCloudBackend) -> None:
    with pytest.raises(QueryRefused, match="DROP"):
        backend.submit('DROP TABLE "ssot__Opportunity__dlm"', PageFormat.JSON)
    assert backend.open_cursor_count() == 0


def test_arrow_stream_of_an_empty_page_still_carries_the_schema() -> None:
    schema = pa.schema([pa.field("ExternalId__c", pa.string())])
    empty = pa.RecordBatch.from_arrays([pa.array([], pa.string())], schema=schema)

    table = pa.ipc.open_stream(arrow_stream(empty)).read_all()

    assert table.schema == schema and table.num_rows == 0
