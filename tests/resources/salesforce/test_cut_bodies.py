"""Result bodies cut off mid-transfer are read again, never mistaken for short results."""

from __future__ import annotations

import pyarrow as pa
import pytest
import requests
from sf_support import fast_ingest
from test_bulk_emulator import SPEC, opportunities

from emulator.server import EmulatorServer
from resources.salesforce import BulkIngest, SalesforceClient

pytestmark = pytest.mark.emulator


def cut_bodies(server: EmulatorServer, endpoint: str, times: int) -> None:
    plan = {
        "seed": 1,
        "http": [{"kind": "drop", "rate": 1.0, "endpoints": [endpoint], "times": times}],
    }
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(
            f"{server.url}/__emulator__/faults", json=plan, verify=str(server.ca_bundle), timeout=10
        )
    response.raise_for_status()


def dropped(server: EmulatorServer) -> int:
    return server.emulator.services["faults"].injected_counts().get("drop", 0)


def test_cut_result_bodies_are_fetched_again_and_the_report_adds_up(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    ids = [f"C{i:04d}" for i in range(40)]
    cut_bodies(fresh_emulator, "bulk.ingest.results", times=2)

    report = BulkIngest(sf, SPEC, fast_ingest()).run(opportunities(ids).to_batches())

    assert report.created == 40 and report.balanced and report.rejected_count == 0
    assert dropped(fresh_emulator) == 2


def test_cut_query_pages_are_fetched_again_without_losing_rows(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    ids = [f"Q{i:04d}" for i in range(30)]
    BulkIngest(sf, SPEC, fast_ingest()).run(opportunities(ids).to_batches())
    cut_bodies(fresh_emulator, "bulk.query.results", times=2)

    pages = sf.bulk_query("SELECT External_Id__c FROM Opportunity", max_records=7)
    got = pa.Table.from_batches(list(pages)).column("External_Id__c").to_pylist()

    assert sorted(got) == ids
    assert dropped(fresh_emulator) == 2
