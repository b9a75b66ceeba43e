"""Bulk ingest and query against the emulator: the report and the Opportunity table agree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from sf_support import FAST_POLL, client_config, fast_ingest

from emulator.server import EmulatorServer
from resources.salesforce import BulkIngest, ObjectSpec, SalesforceClient
from resources.salesforce import bulk as bulk_module
from resources.salesforce.jobs import wait_for_job

pytestmark = pytest.mark.emulator

SPEC = ObjectSpec("Opportunity", "External_Id__c")


def opportunities(ids: list[str], name: str = "Deal") -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "External_Id__c": ids,
            "Name": [f"{name} {i}" for i in ids],
            "StageName": ["Prospecting"] * n,
            "CloseDate": pa.array([dt.date(2024, 1, 31)] * n, pa.date32()),
            "Amount": pa.array([Decimal("10.50")] * n, pa.decimal128(18, 2)),
        }
    )


def table_rows(server: EmulatorServer) -> dict[str, dict[str, object]]:
    rows = (
        server.emulator.store.connection()
        .execute(  # type: ignore[attr-defined]
            'SELECT "External_Id__c", "Name", "Amount" FROM "Opportunity"'
        )
        .fetchall()
    )
    return {r[0]: {"Name": r[1], "Amount": r[2]} for r in rows}


def test_upsert_creates_then_updates_and_report_adds_up(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    ids = [f"E{i:04d}" for i in range(25)]
    submitted: list[tuple[str, str | None]] = []
    ingest = BulkIngest(
        sf,
        SPEC,
        fast_ingest(max_job_rows=10),
        on_job_submitted=lambda job, last: submitted.append((job, last)),
    )
    report = ingest.run(opportunities(ids).to_batches(max_chunksize=7))
    assert report.rows_sent == 25 and report.created == 25 and report.updated == 0
    assert report.balanced and report.rejected_count == 0
    assert [last for _, last in submitted] == ["E0009", "E0019", "E0024"]
    assert len(report.jobs) == 3
    again = BulkIngest(sf, SPEC, fast_ingest()).run(opportunities(ids, "Renamed").to_batches())
    assert again.updated == 25 and again.created == 0 and again.balanced
    assert sf.count("SELECT COUNT() FROM Opportunity") == 25
    names = {
        r["External_Id__c"]: r["Name"]
        for r in sf.query_all("SELECT External_Id__c, Name FROM Opportunity")
    }
    assert names == {i: f"Renamed {i}" for i in ids}


def _assert_report_matches_table(report, server: EmulatorServer, ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert report.balanced, (
        report.rows_sent,
        report.created,
        report.updated,
        report.rejected_count,
    )
    rejected = set(report.rejected["external_id"].to_pylist())
    in_table = set(table_ids(server))
    assert in_table == set(ids) - rejected
    assert report.created + report.updated == len(in_table)


def table_ids(server: EmulatorServer) -> list[str]:
    with SalesforceClient(client_config(server)) as sf:
        return [r["External_Id__c"] for r in sf.query_all("SELECT External_Id__c FROM Opportunity")]


def test_permanent_row_errors_are_returned_with_code_message_and_key(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    good = opportunities(["G1", "G2"])
    bad = opportunities(["B1"]).set_column(2, "StageName", pa.array(["No Such Stage"]))
    missing = (
        opportunities(["B2"])
        .drop_columns(["Name"])
        .append_column("Name", pa.array([None], pa.string()))
        .select(good.column_names)
    )
    table = pa.concat_tables([good, bad, missing])
    report = BulkIngest(sf, SPEC, fast_ingest()).run(table.to_batches())
    by_key = {r["external_id"]: r for r in report.rejected.to_pylist()}
    assert set(by_key) == {"B1", "B2"}
    assert by_key["B1"]["error_code"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert by_key["B2"]["error_code"] == "REQUIRED_FIELD_MISSING"
    assert "Name" in by_key["B2"]["error_message"]
    assert report.rejected_by_code() == {
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": 1,
        "REQUIRED_FIELD_MISSING": 1,
    }
    _assert_report_matches_table(report, fresh_emulator, ["G1", "G2", "B1", "B2"])


def test_hostile_strings_round_trip_through_upsert_and_bulk_query(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    values = [
        'say "hi"',
        "comma, inside",
        "line\nbreak",
        "tab\there",
        "  spaces at both ends  ",
        "unicode é ü 😀 中文",
        "#N/A is text here? no: quoted",
        "back\\slash and 'quote'",
        "crlf\r\ninside",
    ]
    ids = [f"H{i}" for i in range(len(values))]
    table = opportunities(ids).set_column(1, "Name", pa.array(values))
    report = BulkIngest(sf, SPEC, fast_ingest()).run(table.to_batches())
    assert report.created == len(values) and report.balanced
    batches = list(sf.bulk_query("SELECT External_Id__c, Name FROM Opportunity", max_records=4))
    assert len(batches) == 3  # 9 rows, 4 per page: the locator was followed to the end
    read_back = {}
    for batch in batches:
        read_back.update(
            zip(batch["External_Id__c"].to_pylist(), batch["Name"].to_pylist(), strict=True)
        )
    assert read_back == dict(zip(ids, values, strict=True))


def test_token_expiry_mid_load_refreshes_once_and_loses_nothing(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    ids = [f"T{i:03d}" for i in range(30)]

    def expire(job_id: str, last: str | None) -> None:
        fresh_emulator.emulator.tokens.expire_all()

    report = BulkIngest(sf, SPEC, fast_ingest(max_job_rows=10), on_job_submitted=expire).run(
        opportunities(ids).to_batches()
    )
    assert report.created == 30 and report.balanced
    assert sf.auth.fetch_count >= 2  # the first token plus refreshes after each expiry
    _assert_report_matches_table(report, fresh_emulator, ids)


def test_lock_errors_are_resubmitted_and_report_matches_table(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    settings = fresh_emulator.emulator.services["ingest"].settings
    settings.lock_error_rate = 0.5
    settings.lock_error_seed = 7
    ids = [f"L{i:03d}" for i in range(40)]
    finished = []
    report = BulkIngest(
        sf, SPEC, fast_ingest(max_resubmits=2), on_job_finished=finished.append
    ).run(opportunities(ids).to_batches())
    assert report.resubmitted_rows > 0
    assert any(job.attempt > 0 for job in finished)
    assert set(report.rejected_by_code()) <= {"RETRIES_EXHAUSTED"}
    _assert_report_matches_table(report, fresh_emulator, ids)


def test_failed_job_unprocessed_rows_are_resubmitted(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    settings = fresh_emulator.emulator.services["ingest"].settings
    settings.fail_after_rows = 10
    settings.internal_batch_rows = 5
    ids = [f"F{i:03d}" for i in range(25)]
    finished = []
    report = BulkIngest(sf, SPEC, fast_ingest(), on_job_finished=finished.append).run(
        opportunities(ids).to_batches()
    )
    assert finished[0].state == "Failed" and finished[0].resubmitted == 15
    assert report.created == 25 and report.rejected_count == 0
    _assert_report_matches_table(report, fresh_emulator, ids)


def test_resume_collects_known_jobs_without_reuploading(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    submitted: list[str] = []
    first = BulkIngest(
        sf, SPEC, fast_ingest(max_job_rows=5), on_job_submitted=lambda j, _: submitted.append(j)
    )
    first.run(opportunities([f"R{i}" for i in range(10)]).to_batches())
    calls = sf.http.calls.by_label()
    resumed = BulkIngest(sf, SPEC, fast_ingest()).run(None, resume_job_ids=submitted)
    after = sf.http.calls.by_label()
    assert after.get("ingest_upload") == calls.get("ingest_upload")  # nothing re-uploaded
    assert resumed.rows_sent == 10 and resumed.created == 10 and resumed.balanced


def test_list_open_jobs_and_abort(sf: SalesforceClient) -> None:
    created = sf.call(
        "POST",
        "jobs/ingest",
        json={
            "object": "Opportunity",
            "operation": "upsert",
            "externalIdFieldName": "External_Id__c",
        },
    ).json()
    open_ids = [job.id for job in sf.list_open_jobs("Opportunity")]
    assert created["id"] in open_ids
    from resources.salesforce import abort_open_jobs

    assert created["id"] in abort_open_jobs(sf, "Opportunity")
    assert sf.get_job(created["id"]).state.value == "Aborted"
    assert sf.list_open_jobs("Opportunity") == []
    assert sf.abort_job(created["id"]).state.value == "Aborted"  # already finished: no error


def test_poll_deadline_raises_typed_error(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    from resources.salesforce import IngestInterruptedError, PollDeadlineExceededError, PollSettings

    fresh_emulator.emulator.services["ingest"].settings.queue_delay_s = 30
    settings = fast_ingest(poll=PollSettings(initial_s=0.05, max_s=0.1, deadline_s=0.3))
    with pytest.raises(IngestInterruptedError) as caught:
        BulkIngest(sf, SPEC, settings).run(opportunities(["D1"]).to_batches())
    assert isinstance(caught.value.cause, PollDeadlineExceededError)
    assert caught.value.report.rows_sent == 1


def test_first_polls_follow_the_pace_the_org_showed(
    sf: SalesforceClient, fresh_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fresh_emulator.emulator.services["ingest"].settings
    settings.rows_per_second, settings.parallel_batches = 40_000, 1
    first_delays: list[float | None] = []

    def recording_wait(*args, first_delay_s=None, **kwargs):  # type: ignore[no-untyped-def]
        first_delays.append(first_delay_s)
        return wait_for_job(*args, first_delay_s=first_delay_s, **kwargs)

    monkeypatch.setattr(bulk_module, "wait_for_job", recording_wait)
    ids = [f"P{i:05d}" for i in range(30_000)]
    report = BulkIngest(
        sf, SPEC, fast_ingest(max_job_rows=15_000, jobs_in_flight=1, expected_rows_per_s=1e9)
    ).run(opportunities(ids).to_batches())
    assert report.balanced and report.created == 30_000
    pace = report.org_rows_per_s
    assert pace is not None and 5_000 < pace <= 40_000
    # The first job waits the configured pace's estimate (the floor: 1e9 rows/s is instant), the
    # second one the pace the first job showed: 15,000 rows at <= 40k rows/s is >= 0.375 s.
    assert first_delays[0] == FAST_POLL.initial_s
    assert first_delays[1] is not None and first_delays[1] >= min(FAST_POLL.max_s, 0.375)
