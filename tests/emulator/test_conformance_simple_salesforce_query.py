"""simple-salesforce 1.12.10, unchanged, against the emulator: REST query, limits, bulk2 query."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_org import insert_opportunities, start_org
from simple_salesforce import Salesforce

from emulator.server import EmulatorServer
from emulator.tokens import TokenKind

pytestmark = pytest.mark.conformance

ROWS = 5000
DELETED_EVERY = 100
VISIBLE = ROWS - ROWS // DELETED_EVERY


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    server, session = start_org(tmp_path_factory.mktemp("ss-query") / "emulator")
    session.close()
    insert_opportunities(server, ROWS, deleted_every=DELETED_EVERY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sf(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Salesforce:
    """The client as users build it for a pre-obtained token; trust comes from the env var."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_bundle))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    config = server.config
    token = server.emulator.tokens.issue(TokenKind.CORE, config.username, config.client_id, 3600.0)
    return Salesforce(instance_url=server.url, session_id=token.value, version="59.0")


def test_query_one_page(sf: Salesforce) -> None:
    result = sf.query("SELECT Id, Name FROM Opportunity WHERE External_Id__c = 'EXT-0000042'")
    assert result["totalSize"] == 1 and result["done"] is True
    [record] = result["records"]
    assert record["Name"] == "Deal 42"
    assert record["attributes"]["type"] == "Opportunity"
    assert sf.api_usage["api-usage"].used >= 1


def test_query_all_follows_next_records_url(sf: Salesforce) -> None:
    result = sf.query_all("SELECT External_Id__c FROM Opportunity ORDER BY External_Id__c")
    assert result["totalSize"] == VISIBLE and result["done"] is True
    keys = [r["External_Id__c"] for r in result["records"]]
    assert len(keys) == VISIBLE and keys == sorted(keys)


def test_query_all_with_include_deleted(sf: Salesforce) -> None:
    result = sf.query_all("SELECT Id FROM Opportunity", include_deleted=True)
    assert result["totalSize"] == ROWS == len(result["records"])


def test_count(sf: Salesforce) -> None:
    result = sf.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Closed Won'")
    assert result == {"totalSize": ROWS // 2, "done": True, "records": []}


def test_limits(sf: Salesforce) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyBulkV2QueryJobs"]["Max"] == 10_000


def test_bulk2_query_over_several_locator_pages(sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Opportunity.query(
            "SELECT External_Id__c, Name FROM Opportunity ORDER BY External_Id__c",
            max_records=1000,
            wait=0,
        )
    )
    assert len(pages) == 5
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(str(page)))]
    assert len(rows) == VISIBLE
    assert rows[0] == {"External_Id__c": "EXT-0000001", "Name": "Deal 1"}
    assert [r["External_Id__c"] for r in rows] == sorted(r["External_Id__c"] for r in rows)


def test_bulk2_download_over_several_locator_pages(sf: Salesforce, tmp_path: Path) -> None:
    results = sf.bulk2.Opportunity.download(
        "SELECT Id FROM Opportunity", path=str(tmp_path), max_records=2000, wait=0
    )
    assert [r["number_of_records"] for r in results] == [2000, 2000, VISIBLE - 4000]
    assert results[-1]["locator"] == ""
    ids = set()
    for result in results:
        with open(result["file"], encoding="utf-8", newline="") as handle:
            ids.update(row["Id"] for row in csv.DictReader(handle))
    assert len(ids) == VISIBLE
