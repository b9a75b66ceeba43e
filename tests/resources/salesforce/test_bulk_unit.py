"""Job cutting, error parsing and upload recovery (scripted stub server, no emulator)."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from http_stub import Reply, StubServer

from resources.salesforce import SalesforceClient, SalesforceConfig
from resources.salesforce.bulk import (
    BulkIngest,
    IngestSettings,
    ObjectSpec,
    cut_chunks,
    parse_row_errors,
)
from resources.salesforce.csv_encoding import CsvEncodingError

pytestmark = pytest.mark.unit

SPEC = ObjectSpec("Opportunity", "External_Id__c")


def _table(n: int) -> pa.Table:
    return pa.table({"External_Id__c": [f"K{i:05d}" for i in range(n)], "Name": ["x" * 20] * n})


def test_chunks_respect_row_cap_and_byte_cap_at_row_boundaries() -> None:
    batches = _table(1000).to_batches(max_chunksize=77)
    by_rows = list(cut_chunks(batches, SPEC, IngestSettings(max_job_rows=300)))
    assert [c.rows for c in by_rows] == [300, 300, 300, 100]
    row_bytes = len('"K00000","xxxxxxxxxxxxxxxxxxxx"\n')
    header = len("External_Id__c,Name\n")
    cap = header + 123 * row_bytes + 5
    by_bytes = list(cut_chunks(batches, SPEC, IngestSettings(max_job_bytes=cap)))
    assert all(len(c.data) <= cap for c in by_bytes)
    assert [c.rows for c in by_bytes][:-1] == [123] * (len(by_bytes) - 1)
    rows = []
    for chunk in by_bytes:
        parsed = list(csv.reader(io.StringIO(chunk.data.decode(), newline="")))
        assert parsed[0] == ["External_Id__c", "Name"]
        rows += [r[0] for r in parsed[1:]]
        assert chunk.last_key == parsed[-1][0]
    assert rows == [f"K{i:05d}" for i in range(1000)]


def test_a_row_larger_than_the_cap_is_refused() -> None:
    with pytest.raises(CsvEncodingError):
        list(cut_chunks(_table(2).to_batches(), SPEC, IngestSettings(max_job_bytes=30)))


def test_parse_row_errors() -> None:
    codes, messages = parse_row_errors(
        pa.array(
            [
                "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
                "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--",
                "garbage without code",
            ]
        )
    )
    assert codes.to_pylist() == ["REQUIRED_FIELD_MISSING", "UNABLE_TO_LOCK_ROW", "UNKNOWN"]
    assert messages.to_pylist()[:2] == [
        "Required fields are missing: [Name]",
        "unable to obtain exclusive access to this record",
    ]


def test_failed_upload_aborts_the_job_and_uploads_to_a_new_one() -> None:
    token = {"access_token": "00DEM0000000001EAA!AQsecret", "instance_url": ""}
    replies = [
        Reply(200, token),
        Reply(200, {"id": "750A", "state": "Open"}),
        Reply(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}]),  # PUT: not retried
        Reply(200, {"id": "750A", "state": "Aborted"}),
        Reply(200, {"id": "750B", "state": "Open"}),
        Reply(201, b""),
        Reply(200, {"id": "750B", "state": "UploadComplete"}),
    ]
    with StubServer(replies) as stub:
        token["instance_url"] = stub.url
        config = SalesforceConfig(
            login_url=stub.url, client_id="c", client_secret="s", max_retries=0
        )
        with SalesforceClient(config) as sf:
            ingest = BulkIngest(
                sf, SPEC, IngestSettings(resubmit_backoff_s=0), sleep=lambda s: None
            )
            job_id = ingest._upload(b'External_Id__c\n"a"\n')
        assert job_id == "750B"
        methods = [(s.method, s.path.split("/")[-1]) for s in stub.seen]
        assert methods == [
            ("POST", "token"),
            ("POST", "ingest"),
            ("PUT", "batches"),
            ("PATCH", "750A"),
            ("POST", "ingest"),
            ("PUT", "batches"),
            ("PATCH", "750B"),
        ]
        assert b'"state": "Aborted"' in stub.seen[3].body
        assert stub.seen[5].headers["Authorization"].startswith("Bearer 00DEM")
