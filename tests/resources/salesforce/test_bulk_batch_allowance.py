"""A spent DailyBulkApiBatches allowance stops the load with a typed error, and the resume after
the allowance is back loads every row (against the emulator)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sf_support import fast_ingest

from emulator.server import EmulatorServer
from resources.salesforce import (
    BulkIngest,
    IngestInterruptedError,
    JobOutcome,
    ObjectSpec,
    RequestLimitExceededError,
    SalesforceClient,
)
from resources.salesforce.protocol import DAILY_BULK_API_BATCHES

pytestmark = pytest.mark.emulator

SPEC = ObjectSpec("Opportunity", "External_Id__c")
IDS = [f"Q{i:03d}" for i in range(30)]


def opportunities(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "External_Id__c": ids,
            "Name": [f"Deal {i}" for i in ids],
            "StageName": ["Prospecting"] * n,
            "CloseDate": ["2024-01-31"] * n,
        }
    )


def test_spent_batch_allowance_stops_the_load_and_the_resume_loads_every_row(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    emulator = fresh_emulator.emulator
    emulator.services["ingest"].settings.internal_batch_rows = 5  # a job of 10 rows = 2 batches
    limits = emulator.services["limits"]
    maximum = limits.maximum(DAILY_BULK_API_BATCHES)
    limits.set_max(DAILY_BULK_API_BATCHES, limits.used(DAILY_BULK_API_BATCHES) + 3)
    submitted: list[tuple[str, str | None]] = []
    finished: list[JobOutcome] = []
    settings = fast_ingest(max_job_rows=10, jobs_in_flight=1)
    first = BulkIngest(
        sf,
        SPEC,
        settings,
        on_job_submitted=lambda job, last: submitted.append((job, last)),
        on_job_finished=finished.append,
    )

    with pytest.raises(IngestInterruptedError) as caught:
        first.run(opportunities(IDS).to_batches())

    cause = caught.value.cause
    assert isinstance(cause, RequestLimitExceededError)
    assert cause.allowance == DAILY_BULK_API_BATCHES
    assert "ExceededQuota" in str(cause)
    partial = caught.value.report
    assert partial.rows_sent == 20 and partial.created == 15
    assert partial.rejected_count == 0  # not RETRIES_EXHAUSTED: the 5 rows wait for the resume
    assert partial.resubmitted_rows == 0
    assert [job.state for job in finished] == ["JobComplete", "Failed"]
    assert len(emulator.services["ingest"].list_jobs(None)) == 2  # nothing re-sent, nothing new

    limits.set_max(DAILY_BULK_API_BATCHES, maximum)  # the next day
    last_sent = submitted[-1][1]
    rest = opportunities([i for i in IDS if last_sent is None or i > last_sent])
    report = BulkIngest(sf, SPEC, settings).run(
        rest.to_batches(), resume_job_ids=[job for job, _ in submitted]
    )

    assert report.balanced and report.rows_sent == 30
    assert report.created == 30 and report.rejected_count == 0
    assert report.resubmitted_rows == 5
    loaded = [r["External_Id__c"] for r in sf.query_all("SELECT External_Id__c FROM Opportunity")]
    assert sorted(loaded) == IDS
