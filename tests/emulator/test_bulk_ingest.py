"""Bulk API 2.0 ingest over real HTTPS: endpoints, JobInfo shapes, transitions, CSV dialect, knobs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from ingest_wire import IngestClient

from emulator.core.ingest_jobs import ARCHIVE_FOLDER, ClockMode, IngestSettings
from emulator.core.opportunity import LOCK_PARENT_ID
from resources.salesforce.protocol import (
    DAILY_BULK_API_BATCHES,
    ColumnDelimiter,
    LineEnding,
    Operation,
)

pytestmark = pytest.mark.emulator

HEADER = "External_Id__c,Name,StageName,CloseDate"
SF_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
SHORT_KEYS = [
    "id",
    "operation",
    "object",
    "createdById",
    "createdDate",
    "systemModstamp",
    "state",
    "externalIdFieldName",
    "concurrencyMode",
    "contentType",
    "apiVersion",
]


def rows(count: int, prefix: str = "EXT") -> str:
    lines = [f"{prefix}-{i},Deal {i},Prospecting,2025-01-15" for i in range(count)]
    return HEADER + "\n" + "\n".join(lines) + "\n"


def as_results(csv_text: str) -> str:
    """How result CSVs render uploaded rows: header verbatim, every value double-quoted."""
    header, *lines = csv_text.splitlines()
    quoted = [",".join(f'"{v}"' for v in line.split(",")) for line in lines]
    return "\n".join([header, *quoted]) + "\n"


def error(response: Any) -> list[dict[str, str]]:
    body: list[dict[str, str]] = response.json()
    return body


# -- create ------------------------------------------------------------------------------------


def test_create_answers_an_open_job_with_a_relative_content_url(ingest: IngestClient) -> None:
    info = ingest.create()
    assert list(info) == [*SHORT_KEYS, "contentUrl", "lineEnding", "columnDelimiter"]
    assert re.fullmatch(r"750[A-Za-z0-9]{15}", info["id"])
    assert info["contentUrl"] == f"services/data/v59.0/jobs/ingest/{info['id']}/batches"
    assert info["apiVersion"] == 59.0 and isinstance(info["apiVersion"], float)
    assert SF_DATETIME.fullmatch(info["createdDate"])
    assert SF_DATETIME.fullmatch(info["systemModstamp"])
    assert {k: info[k] for k in ("operation", "object", "state", "externalIdFieldName")} == {
        "operation": "upsert",
        "object": "Opportunity",
        "state": "Open",
        "externalIdFieldName": "External_Id__c",
    }
    assert info["createdById"].startswith("005") and len(info["createdById"]) == 18
    assert (info["concurrencyMode"], info["contentType"]) == ("Parallel", "CSV")


def test_create_defaults_line_ending_and_delimiter(ingest: IngestClient) -> None:
    info = ingest.create(lineEnding=None, columnDelimiter=None, contentType=None)
    assert (info["lineEnding"], info["columnDelimiter"]) == ("LF", "COMMA")


def test_create_tolerates_a_trailing_slash_and_canonicalises_the_key_field(
    ingest: IngestClient,
) -> None:
    response = ingest.request(
        "POST",
        "/",
        json={
            "object": "Opportunity",
            "operation": "upsert",
            "externalIdFieldName": "external_id__c",
        },
    )
    assert response.status_code == 200
    assert response.json()["externalIdFieldName"] == "External_Id__c"


def test_insert_jobs_carry_no_external_id_field(ingest: IngestClient) -> None:
    info = ingest.create(operation="insert", externalIdFieldName=None)
    assert "externalIdFieldName" not in info
    assert info["operation"] == "insert"


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"object": None},
            "INVALIDJOB",
            "InvalidJob : The request must set the property 'object'",
        ),
        (
            {"object": "Account"},
            "INVALIDJOB",
            "InvalidJob : sObject type 'Account' is not supported.",
        ),
        (
            {"operation": "Upsert"},
            "INVALIDJOB",
            "InvalidJob : Invalid value for property 'operation': 'Upsert'; use one of insert, "
            "update, upsert, delete, hardDelete",
        ),
        (
            {"externalIdFieldName": None},
            "INVALIDJOB",
            "InvalidJob : External ID field name is required for upsert operation",
        ),
        (
            {"externalIdFieldName": "Name"},
            "INVALIDJOB",
            "InvalidJob : The field 'Name' is not an External ID field of Opportunity",
        ),
        (
            {"lineEnding": "CR"},
            "INVALIDJOB",
            "InvalidJob : Invalid value for property 'lineEnding': 'CR'; use one of LF, CRLF",
        ),
        (
            {"columnDelimiter": ","},
            "INVALIDJOB",
            "InvalidJob : Invalid value for property 'columnDelimiter': ','; use one of "
            "BACKQUOTE, CARET, COMMA, PIPE, SEMICOLON, TAB",
        ),
        (
            {"contentType": "JSON"},
            "INVALIDJOB",
            "InvalidJob : Invalid value for property 'contentType': 'JSON'",
        ),
    ],
)
def test_create_rejects_invalid_job_definitions(
    ingest: IngestClient, change: dict[str, Any], code: str, message: str
) -> None:
    body = {
        "object": "Opportunity",
        "operation": "upsert",
        "externalIdFieldName": "External_Id__c",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    body.update(change)
    response = ingest.request("POST", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400
    assert error(response) == [{"message": message, "errorCode": code}]


def test_create_rejects_a_body_that_is_not_json(ingest: IngestClient) -> None:
    response = ingest.request("POST", data="object=Opportunity")
    assert response.status_code == 400
    assert error(response)[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_every_ingest_call_needs_a_valid_session(ingest: IngestClient) -> None:
    response = ingest.request("GET", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert error(response) == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_retired_api_versions_are_gone(ingest: IngestClient) -> None:
    response = ingest.session.get(
        f"{ingest.server.url}/services/data/v30.0/jobs/ingest", timeout=10
    )
    assert response.status_code == 410


# -- upload ------------------------------------------------------------------------------------


def test_one_upload_per_job_then_invalid_job_state(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    first = ingest.upload(job_id, rows(2))
    assert (first.status_code, first.content) == (201, b"")
    second = ingest.upload(job_id, rows(2))
    assert second.status_code == 400
    assert error(second) == [
        {
            "message": f"Found multiple contents for job: <{job_id}>, please 'Close' / 'Abort' / "
            "'Delete' the current Job then create a new Job and make sure the content is "
            "uploaded only once",
            "errorCode": "INVALIDJOBSTATE",
        }
    ]


def test_upload_after_close_is_refused(ingest: IngestClient) -> None:
    ingest.backend.settings.clock = ClockMode.POLLS
    ingest.backend.settings.polls_to_complete = 100
    job_id = ingest.create()["id"]
    assert ingest.set_state(job_id, "UploadComplete").status_code == 200
    response = ingest.upload(job_id, rows(1))
    assert response.status_code == 400
    assert error(response) == [
        {
            "message": f"Unable to upload data: job {job_id} is in state UploadComplete, not Open",
            "errorCode": "INVALIDJOBSTATE",
        }
    ]


def test_upload_over_the_raw_size_cap_is_refused(ingest: IngestClient) -> None:
    ingest.backend.settings.max_upload_bytes = 64
    job_id = ingest.create()["id"]
    response = ingest.upload(job_id, rows(5))
    assert response.status_code == 413
    assert error(response) == [
        {
            "message": "The uploaded data exceeds the maximum of 64 bytes of raw CSV per job",
            "errorCode": "REQUEST_ENTITY_TOO_LARGE",
        }
    ]
    assert ingest.upload(job_id, rows(0)).status_code == 201  # still Open, nothing stored


def test_unknown_jobs_are_not_found_on_every_resource(ingest: IngestClient) -> None:
    missing = "750EM0000000000YAA"
    for method, path in [
        ("GET", f"/{missing}"),
        ("PATCH", f"/{missing}"),
        ("DELETE", f"/{missing}"),
        ("PUT", f"/{missing}/batches"),
        ("GET", f"/{missing}/successfulResults"),
    ]:
        kwargs: dict[str, Any] = {"json": {"state": "Aborted"}} if method == "PATCH" else {}
        response = ingest.request(method, path, **kwargs)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, path)


# -- transitions -------------------------------------------------------------------------------


def test_close_answers_the_short_job_info_with_the_new_state(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(1))
    response = ingest.set_state(job_id, "UploadComplete")
    assert response.status_code == 200
    info = response.json()
    assert list(info) == SHORT_KEYS
    assert info["state"] == "UploadComplete"


def test_abort_an_open_job_then_nothing_else_is_allowed(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(3))
    aborted = ingest.set_state(job_id, "Aborted")
    assert (aborted.status_code, aborted.json()["state"]) == (200, "Aborted")
    closing = ingest.set_state(job_id, "UploadComplete")
    assert closing.status_code == 400
    assert error(closing) == [
        {"message": "Closing an already Aborted Job not allowed", "errorCode": "INVALIDJOBSTATE"}
    ]
    again = ingest.set_state(job_id, "Aborted")
    assert error(again) == [
        {"message": "Aborting already Aborted Job not allowed", "errorCode": "INVALIDJOBSTATE"}
    ]
    assert ingest.results(job_id, "unprocessedrecords") == as_results(rows(3))
    assert ingest.results(job_id, "successfulResults") == f'"sf__Id","sf__Created",{HEADER}\n'


def test_finished_jobs_cannot_be_closed_or_aborted(ingest: IngestClient) -> None:
    job_id, info = ingest.run(rows(1))
    assert info["state"] == "JobComplete"
    for state, message in [
        ("Aborted", "Aborting already Completed Job not allowed"),
        ("UploadComplete", "Closing an already Completed Job not allowed"),
    ]:
        response = ingest.set_state(job_id, state)
        assert response.status_code == 400
        assert error(response) == [{"message": message, "errorCode": "INVALIDJOBSTATE"}]


def test_only_close_and_abort_are_requestable_states(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    response = ingest.set_state(job_id, "JobComplete")
    assert response.status_code == 400
    assert error(response) == [
        {
            "message": "Invalid state transition requested: JobComplete",
            "errorCode": "INVALIDJOBSTATE",
        }
    ]
    assert ingest.info(job_id)["state"] == "Open"


def test_full_job_info_of_a_finished_job(ingest: IngestClient) -> None:
    job_id, info = ingest.run(rows(3) + ",No key,Prospecting,2025-01-15\n")
    assert list(info) == [
        *SHORT_KEYS,
        "jobType",
        "lineEnding",
        "columnDelimiter",
        "numberRecordsProcessed",
        "numberRecordsFailed",
        "retries",
        "totalProcessingTime",
        "apiActiveProcessingTime",
        "apexProcessingTime",
    ]
    assert info["state"] == "JobComplete"
    assert info["jobType"] == "V2Ingest"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"], info["retries"]) == (
        4,
        1,
        0,
    )
    assert info["totalProcessingTime"] >= info["apiActiveProcessingTime"] >= 0
    assert ingest.request("GET", f"/{job_id}/").json()["id"] == job_id


def test_open_job_info_includes_the_content_url(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    info = ingest.info(job_id)
    assert info["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job_id}/batches"
    assert (info["numberRecordsProcessed"], info["state"]) == (0, "Open")


def test_delete_only_in_allowed_states(ingest: IngestClient) -> None:
    job_id = ingest.create()["id"]
    refused = ingest.request("DELETE", f"/{job_id}")
    assert refused.status_code == 400
    assert error(refused) == [
        {"message": "Deleting a job in state Open is not allowed", "errorCode": "INVALIDJOBSTATE"}
    ]
    ingest.upload(job_id, rows(1))
    ingest.set_state(job_id, "UploadComplete")
    ingest.wait(job_id)
    deleted = ingest.request("DELETE", f"/{job_id}/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert ingest.request("GET", f"/{job_id}").status_code == 404


# -- results -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["unprocessedrecords", "unprocessedRecords", "UNPROCESSEDRECORDS", "unprocessedrecords/"],
)
def test_unprocessed_records_path_is_case_insensitive(ingest: IngestClient, kind: str) -> None:
    job_id, _ = ingest.run(rows(2))
    assert ingest.results(job_id, kind) == HEADER + "\n"


def test_unknown_result_kinds_are_not_found(ingest: IngestClient) -> None:
    job_id, _ = ingest.run(rows(1))
    response = ingest.request("GET", f"/{job_id}/allResults")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_results_of_a_mixed_job_byte_for_byte(ingest: IngestClient) -> None:
    data = (
        "External_Id__c,name,StageName,CloseDate\n"
        'A-1,"Acme, ""Big"" deal",Prospecting,2025-01-15\n'
        "A-2,,Prospecting,2025-01-15\n"
    )
    job_id, info = ingest.run(data)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    created_id = _only_id(ingest.results(job_id, "successfulResults"))
    assert ingest.results(job_id, "successfulResults") == (
        '"sf__Id","sf__Created",External_Id__c,name,StageName,CloseDate\n'
        f'"{created_id}","true","A-1","Acme, ""Big"" deal","Prospecting","2025-01-15"\n'
    )
    assert ingest.results(job_id, "failedResults") == (
        '"sf__Id","sf__Error",External_Id__c,name,StageName,CloseDate\n'
        '"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",'
        '"A-2","","Prospecting","2025-01-15"\n'
    )
    assert re.fullmatch(r"006[A-Za-z0-9]{15}", created_id)


def _only_id(successful: str) -> str:
    lines = successful.splitlines()
    assert len(lines) == 2, successful
    return lines[1].split(",")[0].strip('"')


# -- listing -----------------------------------------------------------------------------------


def test_listing_pages_by_query_locator(ingest: IngestClient) -> None:
    for _ in range(1001):
        ingest.backend.create(
            object_name="Opportunity",
            operation=Operation.INSERT,
            external_id_field=None,
            line_ending=LineEnding.LF,
            delimiter=ColumnDelimiter.COMMA,
            api_version=59.0,
        )
    first = ingest.request("GET").json()
    assert (first["done"], len(first["records"])) == (False, 1000)
    assert first["nextRecordsUrl"] == (
        "/services/data/v59.0/jobs/ingest?queryLocator=01gEM0000000001YAA-1000"
    )
    assert list(first["records"][0]) == [
        *[k for k in SHORT_KEYS if k != "externalIdFieldName"],
        "jobType",
        "lineEnding",
        "columnDelimiter",
    ]
    second = ingest.session.get(ingest.server.url + first["nextRecordsUrl"], timeout=30).json()
    assert (second["done"], len(second["records"]), second["nextRecordsUrl"]) == (True, 1, None)
    listed = {r["id"] for r in first["records"] + second["records"]}
    assert len(listed) == 1001
    classic = ingest.request("GET", params={"jobType": "Classic"}).json()
    assert classic == {"done": True, "records": [], "nextRecordsUrl": None}
    bad = ingest.request("GET", params={"queryLocator": "nonsense"})
    assert bad.status_code == 400
    assert error(bad)[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- clock and processing knobs ----------------------------------------------------------------


def test_immediate_clock_finishes_during_the_close(ingest: IngestClient) -> None:
    ingest.backend.settings.clock = ClockMode.IMMEDIATE
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(3))
    assert ingest.set_state(job_id, "UploadComplete").json()["state"] == "UploadComplete"
    info = ingest.info(job_id)
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 3)


def test_polls_clock_finishes_on_the_nth_status_read(ingest: IngestClient) -> None:
    ingest.backend.settings.clock = ClockMode.POLLS
    ingest.backend.settings.polls_to_complete = 3
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(2))
    ingest.set_state(job_id, "UploadComplete")
    time.sleep(0.1)
    assert [ingest.info(job_id)["state"] for _ in range(3)] == [
        "UploadComplete",
        "UploadComplete",
        "JobComplete",
    ]


def test_queue_delay_keeps_the_job_queued(ingest: IngestClient) -> None:
    ingest.backend.settings.queue_delay_s = 0.5
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(2))
    ingest.set_state(job_id, "UploadComplete")
    assert ingest.info(job_id)["state"] == "UploadComplete"
    started = time.monotonic()
    assert ingest.wait(job_id)["state"] == "JobComplete"
    assert time.monotonic() - started >= 0.3


def _paced(ingest: IngestClient, rows_per_second: float) -> None:
    settings = ingest.backend.settings
    settings.internal_batch_rows = 10
    settings.parallel_batches = 1
    settings.rows_per_second = rows_per_second


def test_processed_count_advances_batch_by_batch(ingest: IngestClient) -> None:
    _paced(ingest, rows_per_second=50)  # 0.2 s per 10-row batch
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(40))
    ingest.set_state(job_id, "UploadComplete")
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 30
    while not seen or seen[-1][0] != "JobComplete":
        info = ingest.info(job_id)
        seen.append((info["state"], info["numberRecordsProcessed"]))
        assert time.monotonic() < deadline
        time.sleep(0.02)
    counts = [count for _, count in seen]
    assert counts == sorted(counts)
    assert {count for state, count in seen if state == "InProgress"} & {10, 20, 30}
    assert seen[-1] == ("JobComplete", 40)


def test_parallel_batches_of_a_wave_finish_together(ingest: IngestClient) -> None:
    _paced(ingest, rows_per_second=20)  # 0.5 s per 10-row batch
    ingest.backend.settings.parallel_batches = 4  # all four batches in one wave
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(40))
    ingest.set_state(job_id, "UploadComplete")
    started = time.monotonic()
    counts = set()
    while True:
        info = ingest.info(job_id)
        counts.add(info["numberRecordsProcessed"])
        if info["state"] == "JobComplete":
            break
        assert time.monotonic() - started < 30
        time.sleep(0.02)
    assert counts <= {0, 40}
    assert time.monotonic() - started >= 0.4


def test_a_job_deleted_while_queued_is_never_processed(ingest: IngestClient) -> None:
    ingest.backend.settings.queue_delay_s = 0.3
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(3))
    ingest.set_state(job_id, "UploadComplete")
    assert ingest.request("DELETE", f"/{job_id}").status_code == 204
    time.sleep(0.6)
    with ingest.server.emulator.store.cursor() as cur:
        assert cur.execute('SELECT count(*) FROM "Opportunity"').fetchall() == [(0,)]


def test_abort_in_progress_leaves_the_rest_unprocessed(ingest: IngestClient) -> None:
    _paced(ingest, rows_per_second=20)  # 0.5 s per 10-row batch
    job_id = ingest.create()["id"]
    ingest.upload(job_id, rows(40))
    ingest.set_state(job_id, "UploadComplete")
    deadline = time.monotonic() + 30
    while ingest.info(job_id)["numberRecordsProcessed"] < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ingest.set_state(job_id, "Aborted").json()["state"] == "Aborted"
    time.sleep(0.7)
    info = ingest.info(job_id)
    assert info["state"] == "Aborted"
    processed = info["numberRecordsProcessed"]
    assert processed in (10, 20)
    unprocessed = ingest.results(job_id, "unprocessedRecords").splitlines()
    expected = as_results(rows(40)).splitlines()
    assert unprocessed == expected[:1] + expected[1 + processed :]
    assert len(ingest.results(job_id, "successfulResults").splitlines()) == 1 + processed


def test_fail_after_rows_fails_the_job_part_way(ingest: IngestClient) -> None:
    ingest.backend.settings.fail_after_rows = 3
    job_id, info = ingest.run(rows(5))
    assert info["state"] == "Failed"
    assert info["errorMessage"] == IngestSettings().fail_message
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 0)
    assert ingest.results(job_id, "unprocessedrecords").splitlines() == [
        HEADER,
        '"EXT-3","Deal 3","Prospecting","2025-01-15"',
        '"EXT-4","Deal 4","Prospecting","2025-01-15"',
    ]
    assert len(ingest.results(job_id, "successfulResults").splitlines()) == 4


def test_batch_retries_are_reported_per_internal_batch(ingest: IngestClient) -> None:
    ingest.backend.settings.internal_batch_rows = 2
    ingest.backend.settings.batch_retries = 2
    _, info = ingest.run(rows(5))
    assert (info["state"], info["retries"]) == ("JobComplete", 6)


def test_lock_errors_at_full_rate_name_the_locked_record(ingest: IngestClient) -> None:
    _, first = ingest.run(rows(2))
    assert first["numberRecordsFailed"] == 0
    ingest.backend.settings.lock_error_rate = 1.0
    job_id, info = ingest.run(rows(3))
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 3)
    failed = ingest.results(job_id, "failedResults").splitlines()[1:]
    existing_id = failed[0].split(",")[0].strip('"')
    assert existing_id.startswith("006")
    assert failed[0] == (
        f'"{existing_id}","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or '
        f'200 records: {existing_id}:--","EXT-0","Deal 0","Prospecting","2025-01-15"'
    )
    assert failed[2] == (
        '"","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: '
        f'{LOCK_PARENT_ID}:--","EXT-2","Deal 2","Prospecting","2025-01-15"'
    )


def test_lock_errors_at_a_rate_hit_some_rows(ingest: IngestClient) -> None:
    ingest.backend.settings.lock_error_rate = 0.5
    ingest.backend.settings.lock_error_seed = 7
    job_id, info = ingest.run(rows(200))
    assert 40 < info["numberRecordsFailed"] < 160
    failed = ingest.results(job_id, "failedResults").splitlines()[1:]
    assert all("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access" in line for line in failed)


def test_each_internal_batch_consumes_the_daily_batch_allowance(ingest: IngestClient) -> None:
    limits = ingest.server.emulator.services["limits"]
    ingest.backend.settings.internal_batch_rows = 2
    before = limits.used(DAILY_BULK_API_BATCHES)
    ingest.run(rows(5))
    assert limits.used(DAILY_BULK_API_BATCHES) - before == 3


def test_exhausted_batch_allowance_fails_the_job(ingest: IngestClient) -> None:
    limits = ingest.server.emulator.services["limits"]
    maximum = limits.maximum(DAILY_BULK_API_BATCHES)
    ingest.backend.settings.internal_batch_rows = 2
    limits.set_max(DAILY_BULK_API_BATCHES, limits.used(DAILY_BULK_API_BATCHES) + 1)
    try:
        job_id, info = ingest.run(rows(5))
    finally:
        limits.set_max(DAILY_BULK_API_BATCHES, maximum)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ExceededQuota : The daily Bulk API batch allocation has been exceeded"
    )
    assert info["numberRecordsProcessed"] == 2
    assert len(ingest.results(job_id, "unprocessedrecords").splitlines()) == 1 + 3


# -- CSV dialect -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "data", "message_setting"),
    [
        ("LF", rows(2).replace("\n", "\r\n"), "LF"),
        ("CRLF", rows(2), "CRLF"),
    ],
)
def test_line_ending_mismatch_fails_the_job_after_close(
    ingest: IngestClient, setting: str, data: str, message_setting: str
) -> None:
    job_id = ingest.create(lineEnding=setting)["id"]
    assert ingest.upload(job_id, data).status_code == 201
    ingest.set_state(job_id, "UploadComplete")
    info = ingest.wait(job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. "
        f"Current LineEnding setting is {message_setting}"
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (0, 0)
    assert ingest.results(job_id, "unprocessedrecords") == data  # unparsed, so verbatim


def test_crlf_jobs_parse_and_answer_in_crlf(ingest: IngestClient) -> None:
    job_id, info = ingest.run(rows(2).replace("\n", "\r\n"), lineEnding="CRLF")
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0)
    successful = ingest.results(job_id, "successfulResults")
    assert successful.count("\r\n") == 3 and successful.count("\n") == 3


@pytest.mark.parametrize(
    ("name", "char"),
    [("PIPE", "|"), ("SEMICOLON", ";"), ("TAB", "\t"), ("CARET", "^"), ("BACKQUOTE", "`")],
)
def test_other_column_delimiters(ingest: IngestClient, name: str, char: str) -> None:
    data = rows(2).replace(",", char)
    job_id, info = ingest.run(data, columnDelimiter=name)
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0)
    header = ingest.results(job_id, "successfulResults").splitlines()[0]
    assert header == char.join(['"sf__Id"', '"sf__Created"', *HEADER.split(",")])


def test_wrong_delimiter_reads_as_one_unknown_column(ingest: IngestClient) -> None:
    _, info = ingest.run(rows(1).replace(",", ";"))
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "InvalidBatch : InvalidBatch : Field name not found : "
        "External_Id__c;Name;StageName;CloseDate"
    )


def test_unknown_column_fails_the_whole_job(ingest: IngestClient) -> None:
    data = "External_Id__c,Name,Email\nE-1,Deal,x@example.com\n"
    job_id, info = ingest.run(data)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : InvalidBatch : Field name not found : Email"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (0, 0)
    assert ingest.results(job_id, "unprocessedrecords") == (
        'External_Id__c,Name,Email\n"E-1","Deal","x@example.com"\n'
    )


def test_a_byte_order_mark_breaks_the_first_header_name(ingest: IngestClient) -> None:
    _, info = ingest.run(b"\xef\xbb\xbf" + rows(1).encode())
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "InvalidBatch : InvalidBatch : Field name not found : \ufeffExternal_Id__c"
    )


def test_the_upsert_key_column_must_be_present(ingest: IngestClient) -> None:
    _, info = ingest.run("Name,StageName,CloseDate\nDeal,Prospecting,2025-01-15\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "InvalidBatch : InvalidBatch : Field name not provided : External_Id__c"
    )


def test_rows_with_the_wrong_number_of_columns_fail_the_job(ingest: IngestClient) -> None:
    _, info = ingest.run(HEADER + "\nE-1,Deal,Prospecting\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"].startswith("ClientInputError : Wrong number of columns")


def test_header_only_upload_completes_with_nothing_processed(ingest: IngestClient) -> None:
    job_id, info = ingest.run(HEADER + "\n")
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 0)
    assert ingest.results(job_id, "failedResults") == f'"sf__Id","sf__Error",{HEADER}\n'


def _archived(ingest: IngestClient, job_id: str) -> Path:
    """The job's archive folder once its rows and outcomes moved to disk (just after it ends)."""
    deadline = time.monotonic() + 10
    while not ingest.backend.get(job_id).archived:
        assert time.monotonic() < deadline, "a finished job should be archived"
        time.sleep(0.01)
    return ingest.server.emulator.config.data_dir / ARCHIVE_FOLDER


def test_finished_jobs_serve_results_from_disk_and_keep_nothing_in_memory(
    ingest: IngestClient,
) -> None:
    data = (
        "External_Id__c,Name,StageName,CloseDate\n"
        "Z-1,Kept,Prospecting,2025-01-15\n"
        "Z-2,,Prospecting,2025-01-15\n"
    )
    job_id, _ = ingest.run(data)
    folder = _archived(ingest, job_id)
    job = ingest.backend.get(job_id)
    assert job.rows is None and job.outcomes == [] and job.row_count == 2
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{job_id}.outcomes.arrow",
        f"{job_id}.rows.arrow",
    ]
    successful = ingest.results(job_id, "successfulResults").splitlines()
    assert successful[0] == '"sf__Id","sf__Created",External_Id__c,Name,StageName,CloseDate'
    assert successful[1].endswith('"true","Z-1","Kept","Prospecting","2025-01-15"')
    assert (
        ingest.results(job_id, "failedResults")
        .splitlines()[1]
        .startswith('"","REQUIRED_FIELD_MISSING:')
    )
    assert ingest.results(job_id, "unprocessedrecords") == (
        "External_Id__c,Name,StageName,CloseDate\n"
    )
    assert ingest.request("DELETE", f"/{job_id}").status_code == 204
    assert list(folder.iterdir()) == []


def test_reset_clears_the_archive(ingest: IngestClient) -> None:
    job_id, _ = ingest.run(rows(3))
    folder = _archived(ingest, job_id)
    assert list(folder.iterdir())
    ingest.backend.reset()
    assert list(folder.iterdir()) == []
