"""simple-salesforce 1.12.10, unchanged, loading Opportunities through the emulator's Bulk API 2.0."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from ingest_wire import IngestClient, core_token
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from emulator.core.ingest_jobs import IngestSettings

pytestmark = [pytest.mark.conformance, pytest.mark.emulator]

WAIT_S = 0.05  # simple-salesforce's first poll sleep; its interval then grows towards 2 s


@pytest.fixture
def sf(ingest: IngestClient, monkeypatch: pytest.MonkeyPatch) -> Salesforce:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ingest.server.ca_bundle))
    return Salesforce(
        instance_url=ingest.server.url, session_id=core_token(ingest.server), version="59.0"
    )


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_upsert_from_a_csv_file_then_read_results_back(
    sf: Salesforce, ingest: IngestClient, tmp_path: Path
) -> None:
    path = tmp_path / "opportunities.csv"
    path.write_text(
        "External_Id__c,Name,StageName,CloseDate,Amount\n"
        "SS-1,First,Prospecting,2025-01-15,100\n"
        'SS-2,"Second, with comma",Qualification,2025-02-15,200.5\n'
        "SS-3,Third,Not A Stage,2025-03-15,300\n",
        encoding="utf-8",
    )
    [result] = sf.bulk2.Opportunity.upsert(
        csv_file=str(path), external_id_field="External_Id__c", wait=WAIT_S
    )
    assert result["numberRecordsProcessed"] == 3
    assert result["numberRecordsFailed"] == 1
    assert result["numberRecordsTotal"] == 3
    job_id = result["job_id"]

    successful = parse(sf.bulk2.Opportunity.get_successful_records(job_id))
    assert [(r["External_Id__c"], r["Name"], r["sf__Created"]) for r in successful] == [
        ("SS-1", "First", "true"),
        ("SS-2", "Second, with comma", "true"),
    ]
    assert all(r["sf__Id"].startswith("006") for r in successful)
    failed = parse(sf.bulk2.Opportunity.get_failed_records(job_id))
    assert [(r["External_Id__c"], r["sf__Id"], r["sf__Error"]) for r in failed] == [
        (
            "SS-3",
            "",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value for restricted picklist field: "
            "Not A Stage:StageName --",
        )
    ]
    assert sf.bulk2.Opportunity.get_unprocessed_records(job_id) == (
        "External_Id__c,Name,StageName,CloseDate,Amount\n"
    )

    [again] = sf.bulk2.Opportunity.upsert(
        csv_file=str(path), external_id_field="External_Id__c", wait=WAIT_S
    )
    updated = parse(sf.bulk2.Opportunity.get_successful_records(again["job_id"]))
    assert [r["sf__Created"] for r in updated] == ["false", "false"]
    assert [r["sf__Id"] for r in updated] == [r["sf__Id"] for r in successful]


def test_upsert_from_records_with_some_rows_failing(sf: Salesforce) -> None:
    records = [
        {
            "External_Id__c": "REC-1",
            "Name": "Good",
            "StageName": "Closed Won",
            "CloseDate": "2025-05-01",
        },
        {
            "External_Id__c": "REC-2",
            "Name": "",
            "StageName": "Closed Won",
            "CloseDate": "2025-05-01",
        },
        {
            "External_Id__c": "REC-3",
            "Name": "Bad date",
            "StageName": "Closed Won",
            "CloseDate": "May 1",
        },
        {
            "External_Id__c": "rec-1",
            "Name": "Dup",
            "StageName": "Closed Won",
            "CloseDate": "2025-05-01",
        },
    ]
    [result] = sf.bulk2.Opportunity.upsert(
        records=records, external_id_field="External_Id__c", wait=WAIT_S
    )
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (4, 3)
    results = sf.bulk2.Opportunity.get_all_ingest_records(result["job_id"])
    assert [r["External_Id__c"] for r in results["successfulRecords"]] == ["REC-1"]
    assert results["unprocessedRecords"] == []
    errors = {r["External_Id__c"]: r["sf__Error"] for r in results["failedRecords"]}
    assert errors == {
        "REC-2": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
        "REC-3": "INVALID_TYPE_ON_FIELD_IN_RECORD:CloseDate: value not of required type: May 1:"
        "CloseDate --",
        "rec-1": "DUPLICATE_VALUE:Duplicate external id specified: rec-1:--",
    }


def test_a_job_failing_part_way_leaves_unprocessed_records(
    sf: Salesforce, ingest: IngestClient
) -> None:
    ingest.backend.settings.fail_after_rows = 1
    records = [
        {
            "External_Id__c": f"PW-{i}",
            "Name": f"Deal {i}",
            "StageName": "Prospecting",
            "CloseDate": "2025-06-01",
        }
        for i in range(3)
    ]
    expected = "Job failure. Response content: " + IngestSettings().fail_message
    with pytest.raises(SalesforceOperationError, match=re.escape(expected)):
        sf.bulk2.Opportunity.upsert(
            records=records, external_id_field="External_Id__c", wait=WAIT_S
        )
    [job] = ingest.request("GET").json()["records"]
    assert job["state"] == "Failed"
    unprocessed = parse(sf.bulk2.Opportunity.get_unprocessed_records(job["id"]))
    assert sorted(r["External_Id__c"] for r in unprocessed) == ["PW-1", "PW-2"]
    successful = parse(sf.bulk2.Opportunity.get_successful_records(job["id"]))
    assert [r["External_Id__c"] for r in successful] == ["PW-0"]
