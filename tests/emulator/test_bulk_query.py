"""Bulk API 2.0 query jobs over real HTTPS: JobInfo shapes, result paging, state errors."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from core_org import insert_opportunities, start_org

from emulator.server import EmulatorServer

pytestmark = pytest.mark.emulator

JOBS = "/services/data/v59.0/jobs/query"
NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


class Org:
    def __init__(self, server: EmulatorServer, session: requests.Session) -> None:
        self.server = server
        self.session = session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.server.url}{path}"
        return self.session.request(method, url, timeout=30, **kwargs)

    def create(self, soql: str, **options: Any) -> requests.Response:
        return self.call("POST", JOBS, json={"operation": "query", "query": soql, **options})


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    server, session = start_org(tmp_path_factory.mktemp("bulkq") / "emulator")
    insert_opportunities(server, 1200, deleted_every=100)
    try:
        yield Org(server, session)
    finally:
        session.close()
        server.stop()


def test_create_returns_upload_complete_job_info(org: Org) -> None:
    response = org.create("SELECT Id, External_Id__c FROM Opportunity")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "lineEnding",
        "columnDelimiter",
    ]
    assert re.fullmatch(r"750[A-Za-z0-9]{15}", body["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", body["createdDate"])
    assert body | {"id": "", "createdDate": "", "systemModstamp": ""} == {
        "id": "",
        "operation": "query",
        "object": "Opportunity",
        "createdById": "005DEM000000001AAA",
        "createdDate": "",
        "systemModstamp": "",
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": 59.0,
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_get_job_info_reports_job_complete(org: Org) -> None:
    job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
    body = org.call("GET", f"{JOBS}/{job_id}").json()
    assert body["state"] == "JobComplete"
    assert body["jobType"] == "V2Query"
    assert body["numberRecordsProcessed"] == 1188
    assert body["retries"] == 0
    assert isinstance(body["totalProcessingTime"], int)
    assert body["isPkChunkingSupported"] is True
    assert "numberRecordsFailed" not in body


def _pages(org: Org, job_id: str, max_records: int | None) -> list[requests.Response]:
    params: dict[str, Any] = {} if max_records is None else {"maxRecords": max_records}
    pages = [org.call("GET", f"{JOBS}/{job_id}/results", params=params)]
    while pages[-1].headers["Sforce-Locator"] != "null":
        params["locator"] = pages[-1].headers["Sforce-Locator"]
        pages.append(org.call("GET", f"{JOBS}/{job_id}/results", params=params))
    return pages


def test_results_page_by_locator_with_a_header_on_every_page(org: Org) -> None:
    job_id = org.create(
        "SELECT External_Id__c, Name FROM Opportunity ORDER BY External_Id__c"
    ).json()["id"]
    pages = _pages(org, job_id, 500)
    assert [p.headers["Sforce-NumberOfRecords"] for p in pages] == ["500", "500", "188"]
    assert pages[0].headers["Sforce-Locator"] == base64.b64encode(b"500").decode().rstrip("=")
    assert pages[0].headers["Content-Type"] == "text/csv; charset=UTF-8"
    lines = [p.text.split("\n") for p in pages]
    assert all(page[0] == '"External_Id__c","Name"' and page[-1] == "" for page in lines)
    assert lines[0][1] == '"EXT-0000001","Deal 1"'
    rows = [line for page in lines for line in page[1:-1]]
    assert len(rows) == len(set(rows)) == 1188
    refetched = org.call(
        "GET", f"{JOBS}/{job_id}/results", params={"maxRecords": 500, "locator": "NTAw"}
    )
    assert refetched.text == pages[1].text


def test_results_without_max_records_come_in_one_page(org: Org) -> None:
    job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
    [page] = _pages(org, job_id, None)
    assert page.headers["Sforce-NumberOfRecords"] == "1188"
    assert page.headers["Sforce-Locator"] == "null"


def test_values_are_rendered_and_quoted(org: Org) -> None:
    with org.server.emulator.store.cursor() as cur:
        cur.execute(
            """INSERT INTO "Opportunity" ("Id", "External_Id__c", "Name", "StageName",
                   "CloseDate", "Amount", "IsPrivate", "CreatedDate", "Description")
               VALUES ('006QUOTE0000000001', 'Q-1', 'Say "hi", ok', 'Prospecting',
                       DATE '2024-02-29', 12.5, true, TIMESTAMPTZ '2024-03-04 05:06:07.089+00',
                       'line one
line two')"""
        )
    job_id = org.create(
        "SELECT Id, Name, CloseDate, Amount, IsPrivate, CreatedDate, Description, NextStep "
        "FROM Opportunity WHERE External_Id__c = 'q-1'",
        columnDelimiter="PIPE",
        lineEnding="CRLF",
    ).json()["id"]
    [page] = _pages(org, job_id, None)
    assert page.content == (
        b'"Id"|"Name"|"CloseDate"|"Amount"|"IsPrivate"|"CreatedDate"|"Description"|"NextStep"\r\n'
        b'"006QUOTE0000000001"|"Say ""hi"", ok"|"2024-02-29"|"12.50"|"true"|'
        b'"2024-03-04T05:06:07.089Z"|"line one\nline two"|""\r\n'
    )
    parsed = list(csv.reader(io.StringIO(page.text, newline=""), delimiter="|"))
    assert parsed[1][1] == 'Say "hi", ok'


def test_query_all_includes_deleted_rows(org: Org) -> None:
    created = org.call(
        "POST", JOBS, json={"operation": "queryAll", "query": "SELECT Id FROM Opportunity"}
    )
    job = created.json()
    assert job["operation"] == "queryAll"
    assert org.call("GET", f"{JOBS}/{job['id']}").json()["numberRecordsProcessed"] >= 1200


def test_snapshot_is_taken_at_creation(org: Org) -> None:
    soql = "SELECT Id FROM Opportunity WHERE Name = 'Snapshot Row'"
    job_id = org.create(soql).json()["id"]
    with org.server.emulator.store.cursor() as cur:
        cur.execute(
            """INSERT INTO "Opportunity" ("Id", "Name", "StageName", "CloseDate")
               VALUES ('006SNAP00000000001', 'Snapshot Row', 'Prospecting', DATE '2024-01-01')"""
        )
    [page] = _pages(org, job_id, None)
    assert page.headers["Sforce-NumberOfRecords"] == "0"
    assert page.text == '"Id"\n'


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT COUNT() FROM Opportunity", "Aggregate queries are not supported in Bulk V2 Query"),
        (
            "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName",
            "Aggregate queries are not supported in Bulk V2 Query",
        ),
        (
            "SELECT StageName FROM Opportunity GROUP BY StageName",
            "GROUP BY is not supported in Bulk V2 Query",
        ),
        ("SELECT Id FROM Opportunity OFFSET 5", "OFFSET is not supported in Bulk V2 Query"),
    ],
)
def test_unsupported_soql_is_refused(org: Org, soql: str, message: str) -> None:
    response = org.create(soql)
    assert response.status_code == 400
    assert response.json() == [{"message": message, "errorCode": "API_ERROR"}]


def test_invalid_soql_and_options(org: Org) -> None:
    bad_field = org.create("SELECT Bogus FROM Opportunity")
    assert bad_field.status_code == 400
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    bad_delimiter = org.create("SELECT Id FROM Opportunity", columnDelimiter="SPACE")
    assert bad_delimiter.status_code == 400
    assert bad_delimiter.json() == [
        {
            "message": "InvalidJob : Invalid value for property 'columnDelimiter': 'SPACE'; use "
            "one of BACKQUOTE, CARET, COMMA, PIPE, SEMICOLON, TAB",
            "errorCode": "INVALIDJOB",
        }
    ]
    bad_operation = org.call(
        "POST", JOBS, json={"operation": "upsert", "query": "SELECT Id FROM Opportunity"}
    )
    assert bad_operation.status_code == 400
    assert bad_operation.json()[0]["errorCode"] == "INVALIDJOB"


def test_abort_then_delete(org: Org) -> None:
    job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
    early_delete = org.call("DELETE", f"{JOBS}/{job_id}")
    assert early_delete.status_code == 400
    assert early_delete.json() == [
        {
            "message": "Error encountered when deleting the job because the job is not terminated",
            "errorCode": "API_ERROR",
        }
    ]
    aborted = org.call("PATCH", f"{JOBS}/{job_id}", json={"state": "Aborted"})
    assert aborted.status_code == 200
    assert aborted.json()["state"] == "Aborted"
    results = org.call("GET", f"{JOBS}/{job_id}/results")
    assert results.status_code == 412
    assert results.json() == [
        {
            "message": "can only download query results of successfully completed bulk job "
            "with status: JOB_COMPLETE. Current status: ABORTED",
            "errorCode": "JOB_NOT_COMPLETE",
        }
    ]
    again = org.call("PATCH", f"{JOBS}/{job_id}", json={"state": "Aborted"})
    assert again.status_code == 400
    assert again.json() == [
        {"message": "Aborting already Aborted Job not allowed", "errorCode": "INVALIDJOBSTATE"}
    ]
    deleted = org.call("DELETE", f"{JOBS}/{job_id}/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert org.call("GET", f"{JOBS}/{job_id}").json() == NOT_FOUND


def test_aborting_a_completed_job_is_refused(org: Org) -> None:
    job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
    org.call("GET", f"{JOBS}/{job_id}")
    response = org.call("PATCH", f"{JOBS}/{job_id}", json={"state": "Aborted"})
    assert response.status_code == 400
    assert response.json() == [
        {"message": "Aborting already Completed Job not allowed", "errorCode": "INVALIDJOBSTATE"}
    ]


def test_unknown_job_is_404(org: Org) -> None:
    for method, suffix in (("GET", ""), ("GET", "/results"), ("DELETE", ""), ("PATCH", "")):
        response = org.call(method, f"{JOBS}/750000000000000AAA{suffix}", json={"state": "Aborted"})
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


def test_bad_locator_and_max_records(org: Org) -> None:
    job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
    bad_locator = org.call("GET", f"{JOBS}/{job_id}/results", params={"locator": "!!"})
    assert bad_locator.status_code == 400
    assert bad_locator.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    bad_max = org.call("GET", f"{JOBS}/{job_id}/results", params={"maxRecords": "0"})
    assert bad_max.status_code == 400


def test_listing_pages_of_query_jobs(org: Org) -> None:
    created = {org.create("SELECT Id FROM Opportunity LIMIT 1").json()["id"] for _ in range(3)}
    listing = org.call("GET", JOBS).json()
    assert listing["done"] is True and listing["nextRecordsUrl"] is None
    listed = {job["id"]: job for job in listing["records"]}
    assert created <= set(listed)
    assert all(job["jobType"] == "V2Query" for job in listed.values())
    assert org.call("GET", JOBS, params={"jobType": "V2Ingest"}).json()["records"] == []


def test_in_progress_polls_and_quota(tmp_path: Path) -> None:
    server, session = start_org(
        tmp_path / "emulator",
        extra={"bulk_query_in_progress_polls": 2, "limits": {"DailyBulkV2QueryJobs": 1}},
    )
    org = Org(server, session)
    try:
        job_id = org.create("SELECT Id FROM Opportunity").json()["id"]
        early = org.call("GET", f"{JOBS}/{job_id}/results")
        assert early.status_code == 412
        assert early.json()[0]["message"].endswith("Current status: UPLOAD_COMPLETE")
        states = [org.call("GET", f"{JOBS}/{job_id}").json()["state"] for _ in range(3)]
        assert states == ["InProgress", "InProgress", "JobComplete"]
        over = org.create("SELECT Id FROM Opportunity")
        assert over.status_code == 400
        assert over.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
        limits = org.call("GET", "/services/data/v59.0/limits").json()
        assert limits["DailyBulkV2QueryJobs"] == {"Max": 1, "Remaining": 0}
    finally:
        session.close()
        server.stop()
