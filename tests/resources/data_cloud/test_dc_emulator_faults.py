"""Injected faults on the emulator's Data Cloud endpoints: throttling, dropped pages, dead cursors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dc_helpers import RECORDS, tenant_db

from emulator.faults import parse_plan
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudClient, QueryRestartRequiredError

pytestmark = pytest.mark.emulator


@pytest.fixture
def faults(paged_emulator: EmulatorServer) -> Iterator[Any]:
    service = paged_emulator.emulator.services["faults"]
    yield service
    service.apply(parse_plan("none"))


def all_ids(server: EmulatorServer) -> list[str]:
    with tenant_db(server) as cur:
        rows = cur.execute('SELECT "ExternalId__c" FROM "ssot__Opportunity__dlm"').fetchall()
    return sorted(r[0] for r in rows)


def test_throttled_calls_are_waited_out_and_nothing_is_lost(
    paged_emulator: EmulatorServer, dc: DataCloudClient, faults: Any
) -> None:
    faults.apply(
        parse_plan({"seed": 3, "http": [{"kind": "throttle", "rate": 0.5, "retry_after_s": 0}]})
    )
    got = dc.ids(None, None).read_all().column(0).to_pylist()
    assert faults.injected_counts(), "the plan injected no 429"
    assert got == all_ids(paged_emulator)


def test_a_dropped_page_demands_a_restart(dc: DataCloudClient, faults: Any) -> None:
    drop_second = {"kind": "drop", "rate": 1.0, "times": 1, "endpoints": ["datacloud.query.next"]}
    faults.apply(parse_plan({"http": [drop_second]}))
    reader = dc.ids(None, None, max_restarts=0)
    reader.read_next_batch()
    with pytest.raises(QueryRestartRequiredError) as caught:
        reader.read_all()
    assert caught.value.rows_delivered > 0


def test_keyset_restart_recovers_dropped_pages_exactly(
    paged_emulator: EmulatorServer, dc: DataCloudClient, faults: Any
) -> None:
    drops = {"kind": "drop", "rate": 1.0, "times": 2, "endpoints": ["datacloud.query.next"]}
    faults.apply(parse_plan({"http": [drops]}))
    table = dc.rows(None, None, columns=["ExternalId__c", "ssot__Name__c"], max_restarts=3)
    got = table.read_all()
    assert faults.injected_counts(), "the plan dropped nothing"
    assert got.column("ExternalId__c").to_pylist() == all_ids(paged_emulator)
    assert got.num_rows == RECORDS


def test_an_expired_cursor_is_not_silently_ended(
    paged_emulator: EmulatorServer, dc: DataCloudClient, faults: Any
) -> None:
    reader = dc.ids(None, None, max_restarts=0)
    reader.read_next_batch()
    paged_emulator.emulator.services["datacloud"].drop_cursors()  # as after the 3-minute gap
    with pytest.raises(QueryRestartRequiredError):
        reader.read_all()
