"""Core REST over real HTTPS: versions, resources, limits, SOQL query paging and errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from core_org import insert_opportunities, start_org

from emulator.core.limits import Limits
from emulator.server import EmulatorServer

pytestmark = pytest.mark.emulator

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


@dataclasses.dataclass(frozen=True)
class Org:
    """A fresh emulator with ``rows`` Opportunities and an authenticated session."""

    server: EmulatorServer
    session: requests.Session

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kwargs)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    server, session = start_org(tmp_path_factory.mktemp("rest") / "emulator")
    insert_opportunities(server, 2500, deleted_every=100)
    try:
        yield Org(server, session)
    finally:
        session.close()
        server.stop()


def test_versions_need_no_auth_and_carry_no_limit_header(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    for path in ("/services/data", "/services/data/"):
        response = https.get(f"{emulator_server.url}{path}", timeout=10)
        assert response.status_code == 200
        assert "Sforce-Limit-Info" not in response.headers
        body = response.json()
        assert len(body) == 36
        assert body[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
        assert body[-1] == {
            "label": "Spring '26",
            "url": "/services/data/v66.0",
            "version": "66.0",
        }
        assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in body


def test_resources_for_a_version_and_latest(org: Org) -> None:
    response = org.get("/services/data/v59.0/")
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "/services/data/v59.0/query"
    assert body["limits"] == "/services/data/v59.0/limits"
    assert body["jobs"] == "/services/data/v59.0/jobs"
    assert body["identity"].startswith(f"{org.server.url}/id/00D")
    latest = org.get("/services/data/latest").json()
    assert latest["sobjects"] == "/services/data/v66.0/sobjects"


@pytest.mark.parametrize(
    ("version", "status", "body"),
    [
        (
            "30.0",
            410,
            [
                {
                    "message": "The requested resource has been retired or removed.",
                    "errorCode": "GONE",
                }
            ],
        ),
        ("21.0", 410, None),
        ("67.0", 404, NOT_FOUND),
        ("59.5", 404, NOT_FOUND),
        ("latest2", 404, NOT_FOUND),
    ],
)
def test_version_validation(org: Org, version: str, status: int, body: Any) -> None:
    response = org.get(f"/services/data/v{version}/limits")
    assert response.status_code == status
    if body is not None:
        assert response.json() == body


def test_limits_body_and_usage_header(org: Org) -> None:
    first = org.get("/services/data/v59.0/limits/")
    assert first.status_code == 200
    body = first.json()
    assert body["DailyApiRequests"]["Max"] == 100_000
    assert body["DailyBulkApiBatches"] == {"Max": 15_000, "Remaining": 15_000}
    assert body["DailyBulkV2QueryJobs"]["Max"] == 10_000
    assert body["DailyBulkV2QueryFileStorageMB"]["Max"] == 1_048_576
    assert list(body) == sorted(body)
    used_before = int(first.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    assert first.headers["Sforce-Limit-Info"] == f"api-usage={used_before}/100000"
    assert body["DailyApiRequests"]["Remaining"] == 100_000 - used_before
    second = org.get("/services/data/v59.0/limits")
    assert second.headers["Sforce-Limit-Info"] == f"api-usage={used_before + 1}/100000"
    assert second.json()["DailyApiRequests"]["Remaining"] == 100_000 - used_before - 1


def test_401_carries_no_usage_and_is_not_counted(org: Org) -> None:
    response = org.session.get(
        org.url("/services/data/v59.0/limits"),
        headers={"Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_spent_allowance_is_refused_with_403(tmp_path: Path) -> None:
    server, session = start_org(tmp_path / "emulator", extra={"limits": {"DailyApiRequests": 2}})
    try:
        limits_url = f"{server.url}/services/data/v59.0/limits"
        assert session.get(limits_url, timeout=10).status_code == 200
        assert session.get(limits_url, timeout=10).status_code == 200
        refused = session.get(limits_url, timeout=10)
        assert refused.status_code == 403
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
        server.emulator.reset()
        assert session.get(limits_url, timeout=10).headers["Sforce-Limit-Info"] == "api-usage=1/2"
    finally:
        session.close()
        server.stop()


@pytest.mark.unit
def test_limits_roll_over_after_24_hours() -> None:
    now = [1_000_000.0]
    limits = Limits({"DailyBulkApiBatches": 10}, clock=lambda: now[0])
    assert limits.consume("DailyBulkApiBatches", 6)
    assert not limits.consume("DailyBulkApiBatches", 5)
    assert limits.remaining("DailyBulkApiBatches") == 4
    now[0] += 12 * 3600
    assert limits.consume("DailyBulkApiBatches", 4)
    assert limits.remaining("DailyBulkApiBatches") == 0
    now[0] += 12 * 3600 + 120
    assert limits.remaining("DailyBulkApiBatches") == 6
    limits.set_max("DailyBulkApiBatches", 20)
    assert limits.snapshot()["DailyBulkApiBatches"] == {"Max": 20, "Remaining": 16}
    limits.reset()
    assert limits.snapshot()["DailyBulkApiBatches"] == {"Max": 10, "Remaining": 10}


def test_query_first_page_shape(org: Org) -> None:
    response = org.get(
        "/services/data/v59.0/query/",
        params={
            "q": "SELECT Id, Name, Amount, CloseDate, CreatedDate, IsPrivate FROM Opportunity "
            "WHERE External_Id__c = 'ext-0000002'"
        },
    )
    assert response.status_code == 200
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert response.json() == {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "Opportunity",
                    "url": "/services/data/v59.0/sobjects/Opportunity/006000000000000002",
                },
                "Id": "006000000000000002",
                "Name": "Deal 2",
                "Amount": 0.5,
                "CloseDate": "2024-01-03",
                "CreatedDate": "2024-03-04T05:06:07.089+0000",
                "IsPrivate": False,
            }
        ],
    }


def test_url_is_present_even_without_id_selected(org: Org) -> None:
    body = org.get(
        "/services/data/v66.0/query",
        params={"q": "SELECT Name FROM Opportunity WHERE Name = 'deal 7'"},
    ).json()
    assert body["records"] == [
        {
            "attributes": {
                "type": "Opportunity",
                "url": "/services/data/v66.0/sobjects/Opportunity/006000000000000007",
            },
            "Name": "Deal 7",
        }
    ]


def _all_pages(org: Org, path: str, soql: str, batch: int | None = None) -> list[dict[str, Any]]:
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    pages = [org.get(path, params={"q": soql}, headers=headers).json()]
    while not pages[-1]["done"]:
        pages.append(org.get(pages[-1]["nextRecordsUrl"], headers=headers).json())
    return pages


def test_query_pages_through_next_records_url(org: Org) -> None:
    soql = "SELECT External_Id__c FROM Opportunity ORDER BY External_Id__c"
    pages = _all_pages(org, "/services/data/v59.0/query", soql)
    assert [len(p["records"]) for p in pages] == [2000, 475]
    assert all(p["totalSize"] == 2475 for p in pages)
    locator = pages[0]["nextRecordsUrl"].rsplit("/", 1)[1]
    assert pages[0]["nextRecordsUrl"] == f"/services/data/v59.0/query/{locator}"
    assert locator.startswith("01g") and locator.endswith("-2000")
    assert "nextRecordsUrl" not in pages[-1]
    keys = [r["External_Id__c"] for p in pages for r in p["records"]]
    assert keys == sorted(keys) and len(set(keys)) == 2475


def test_batch_size_header_and_query_all(org: Org) -> None:
    soql = "SELECT Id FROM Opportunity WHERE CloseDate < 2024-01-21"  # 20 days -> ~6-7 rows each
    pages = _all_pages(org, "/services/data/v59.0/queryAll", "SELECT Id FROM Opportunity", 500)
    assert [len(p["records"]) for p in pages] == [500] * 5
    assert "/queryAll/01g" in pages[0]["nextRecordsUrl"]
    assert (
        org.get("/services/data/v59.0/query", params={"q": soql}).json()["totalSize"]
        < (org.get("/services/data/v59.0/queryAll", params={"q": soql}).json()["totalSize"])
    )
    tiny = _all_pages(org, "/services/data/v59.0/query", "SELECT Id FROM Opportunity", 5)
    assert [len(p["records"]) for p in tiny][:2] == [200, 200]


def test_count(org: Org) -> None:
    response = org.get(
        "/services/data/v59.0/query",
        params={"q": "SELECT COUNT() FROM Opportunity WHERE StageName = 'prospecting'"},
    )
    assert response.json() == {"totalSize": 1225, "done": True, "records": []}
    everything = org.get(
        "/services/data/v59.0/queryAll", params={"q": "SELECT COUNT() FROM Opportunity"}
    )
    assert everything.json() == {"totalSize": 2500, "done": True, "records": []}


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("", "MALFORMED_QUERY"),
        ("SELECT Bogus FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Account", "INVALID_TYPE"),
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY"),
    ],
)
def test_query_errors(org: Org, soql: str, code: str) -> None:
    response = org.get("/services/data/v59.0/query", params={"q": soql})
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert set(error) == {"message", "errorCode"}


def test_missing_q_is_malformed(org: Org) -> None:
    response = org.get("/services/data/v59.0/query")
    assert response.status_code == 400
    assert response.json() == [
        {"message": "SOQL statements cannot be empty or null", "errorCode": "MALFORMED_QUERY"}
    ]


def test_unknown_locator(org: Org) -> None:
    response = org.get("/services/data/v59.0/query/01gNOSUCHLOCATOR1-2000")
    assert response.status_code == 400
    assert response.json() == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]


def test_pages_are_a_snapshot(org: Org) -> None:
    soql = "SELECT External_Id__c FROM Opportunity WHERE External_Id__c LIKE 'EXT-00001%' ORDER BY External_Id__c"
    headers = {"Sforce-Query-Options": "batchSize=200"}
    with org.server.emulator.store.cursor() as cur:
        cur.execute(
            """INSERT INTO "Opportunity" ("Id", "External_Id__c", "Name", "StageName", "CloseDate")
               SELECT '006' || lpad(CAST(i AS VARCHAR), 15, '0'), 'EXT-00001' || i, 'x',
                      'Prospecting', DATE '2024-01-01' FROM range(900000, 900300) t(i)"""
        )
    first = org.get("/services/data/v59.0/query", params={"q": soql}, headers=headers).json()
    with org.server.emulator.store.cursor() as cur:
        cur.execute("""DELETE FROM "Opportunity" WHERE "Id" >= '006000000000900000'""")
    rest = org.get(first["nextRecordsUrl"], headers=headers).json()
    assert first["totalSize"] == rest["totalSize"] == 399
    assert len(first["records"]) + len(rest["records"]) == 399


def test_describe_opportunity(org: Org) -> None:
    body = org.get("/services/data/v59.0/sobjects/Opportunity/describe/").json()
    assert body["name"] == "Opportunity" and body["keyPrefix"] == "006"
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["StageName"]["restrictedPicklist"] is True
    assert fields["CloseDate"]["type"] == "date"
