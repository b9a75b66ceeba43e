"""A load interrupted mid-way ends with every source row accounted for (loaded + rejected +
quarantined = source, counted in the emulator's tables) when: both sides' tokens expire, the daily
API allowance runs out (the load stops with a typed error naming it, and resumes "the next day"),
Bulk jobs go Failed with unprocessed rows, and the worker dies after some jobs."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.checkpoint import read_checkpoint
from assets.keys import range_to_key
from assets.opportunities import ASSET_KEY
from assets.ranges import WHOLE_KEY_SPACE
from emulator.server import EmulatorServer
from resources.salesforce.protocol import DAILY_API_REQUESTS, DAILY_BULK_API_BATCHES, JobState
from tests.assets.materialize_support import (
    emulator_get,
    instance_with_partitions,
    load_metadata,
    materialize_range,
    resources_for,
    running_emulator,
    salesforce_for,
    uploads_per_job,
)
from tests.reliability.reliability_support import (
    assert_every_row_accounted_for,
    duplicate_records,
    hook_fired,
    hooked_salesforce,
    set_faults,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 1_000  # messy: some rows are rejected by Salesforce, some quarantined by us
JOB_ROWS = 200
KEY = range_to_key(WHOLE_KEY_SPACE)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS, profile="messy") as running:
        yield running


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with instance_with_partitions(tmp_path / "home", [KEY]) as test_instance:
        yield test_instance


def statuses(server: EmulatorServer, prefix: str, status: int) -> int:
    """Answers with ``status`` on endpoints whose name starts with ``prefix``."""
    requests_by_endpoint = emulator_get(server, "stats")["requests"]
    return sum(
        by_status.get(str(status), 0)
        for name, by_status in requests_by_endpoint.items()
        if name.startswith(prefix)
    )


def expected_rows(server: EmulatorServer) -> dict[str, Any]:
    expected: dict[str, Any] = emulator_get(server, "stats")["datacloud"]["profile"][
        "expected_loader"
    ]
    return expected


def test_tokens_of_both_sides_expiring_mid_load_are_renewed_and_nothing_is_lost(
    server: EmulatorServer, instance: dg.DagsterInstance
) -> None:
    def expire_both() -> None:
        set_faults(server, {"tokens": {"expire_now": ["core", "datacloud"]}})

    salesforce = hooked_salesforce(server, 2, expire_both, max_job_rows=JOB_ROWS)
    result = materialize_range(instance, resources_for(salesforce), KEY)

    assert hook_fired(salesforce.hook)
    injected = emulator_get(server, "faults")["injected"]
    assert injected["token_expired_core"] >= 1
    assert injected["token_expired_datacloud"] >= 1
    assert statuses(server, "bulk.", 401) + statuses(server, "rest.", 401) >= 1
    assert statuses(server, "datacloud.", 401) >= 1
    restarted = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert restarted == []  # renewed inside the load, not by a retry
    accounting = assert_every_row_accounted_for(server, KEY, result)
    assert accounting.loaded == expected_rows(server)["loaded"]
    assert set(uploads_per_job(server).values()) == {1}
    assert duplicate_records(server) == {}


def test_spent_api_allowance_stops_the_load_with_a_named_error_and_it_resumes_next_day(
    server: EmulatorServer, instance: dg.DagsterInstance
) -> None:
    # Another integration eats the rest of today's calls.
    spend_the_allowance = functools.partial(_spend_the_rest_of_today, server, DAILY_API_REQUESTS)
    salesforce = hooked_salesforce(server, 2, spend_the_allowance, max_job_rows=JOB_ROWS)
    resources = resources_for(salesforce)

    stopped = materialize_range(instance, resources, KEY, raise_on_error=False)

    assert not stopped.success
    failures = [e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE"]
    retries = [e for e in stopped.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []  # a spent allowance is not retried within the day
    error = failures[-1].event_specific_data.error
    chain = error_chain(error)
    assert any(e.cls_name == "RequestLimitExceededError" for e in chain), chain
    assert any("TotalRequests" in e.message for e in chain)
    assert statuses(server, "", 403) >= 1
    uploaded_today = uploads_per_job(server)
    assert len(uploaded_today) == 2  # nothing was sent once the allowance was gone
    checkpoint = read_checkpoint(instance, ASSET_KEY, KEY)
    assert not checkpoint.complete
    assert set(checkpoint.submitted_jobs) == set(uploaded_today)

    set_faults(server, "none")  # the next day: the allowance is back
    assert emulator_get(server, "stats")["api_calls"][DAILY_API_REQUESTS]["max"] > 1_000
    resumed = materialize_range(instance, resources, KEY)

    uploads = uploads_per_job(server)
    assert set(uploaded_today) <= set(uploads)
    assert set(uploads.values()) == {1}  # the first day's jobs were polled, not re-uploaded
    meta = load_metadata(resumed)
    ready = RECORDS - meta["rows_quarantined"]
    assert len(uploads) == -(-ready // JOB_ROWS)
    accounting = assert_every_row_accounted_for(server, KEY, resumed)
    assert accounting.loaded == expected_rows(server)["loaded"]
    assert read_checkpoint(instance, ASSET_KEY, KEY).complete
    assert duplicate_records(server) == {}


def test_spent_bulk_batch_allowance_fails_the_step_once_and_it_resumes_next_day(
    server: EmulatorServer, instance: dg.DagsterInstance
) -> None:
    # Another integration's Bulk loads eat today's batches.
    spend_the_batches = functools.partial(_spend_the_rest_of_today, server, DAILY_BULK_API_BATCHES)
    salesforce = hooked_salesforce(server, 2, spend_the_batches, max_job_rows=JOB_ROWS)
    resources = resources_for(salesforce)

    stopped = materialize_range(instance, resources, KEY, raise_on_error=False)

    assert not stopped.success
    failures = [e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE"]
    retries = [e for e in stopped.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(failures) == 1 and retries == []
    chain = error_chain(failures[0].event_specific_data.error)
    assert any(e.cls_name == "RequestLimitExceededError" for e in chain), chain
    assert any(DAILY_BULK_API_BATCHES in e.message for e in chain)
    jobs = server.emulator.services["ingest"].list_jobs(None)
    failed = [j for j in jobs if j.state is JobState.FAILED]
    assert failed and all("ExceededQuota" in (j.error_message or "") for j in failed)
    assert len(jobs) == len(uploads_per_job(server))  # no follow-up job re-sent the rows today
    assert not read_checkpoint(instance, ASSET_KEY, KEY).complete

    set_faults(server, "none")  # the next day: the allowance is back
    resumed = materialize_range(instance, resources, KEY)

    meta = load_metadata(resumed)
    assert "RETRIES_EXHAUSTED" not in dict(meta["rejected_by_code"])
    accounting = assert_every_row_accounted_for(server, KEY, resumed)
    assert accounting.loaded == expected_rows(server)["loaded"]
    assert read_checkpoint(instance, ASSET_KEY, KEY).complete
    assert duplicate_records(server) == {}


FAIL_AFTER_ROWS = 120


@pytest.mark.parametrize("max_resubmits", [3, 0], ids=["resubmitted", "resubmits-exhausted"])
def test_failed_jobs_unprocessed_rows_are_resubmitted_or_rejected_never_lost(
    server: EmulatorServer, instance: dg.DagsterInstance, max_resubmits: int
) -> None:
    set_faults(server, {"ingest": {"fail_after_rows": FAIL_AFTER_ROWS}})
    salesforce = salesforce_for(server, max_job_rows=JOB_ROWS, max_resubmits=max_resubmits)

    result = materialize_range(instance, resources_for(salesforce), KEY)

    jobs = server.emulator.services["ingest"].list_jobs(None)
    failed = [j for j in jobs if j.state is JobState.FAILED]
    unprocessed = sum(j.row_count - j.attempted for j in failed)
    assert len(failed) >= 4 and unprocessed > 0
    assert all(j.attempted == FAIL_AFTER_ROWS for j in failed)
    meta = load_metadata(result)
    rejected_by_code = dict(meta["rejected_by_code"])
    if max_resubmits:
        assert len(jobs) > len(failed) + 1  # follow-up jobs carried the unprocessed rows
        assert "RETRIES_EXHAUSTED" not in rejected_by_code
        assert meta["rows_rejected"] == sum(expected_rows(server)["rejected"].values())
    else:
        assert len(jobs) == -(-(RECORDS - meta["rows_quarantined"]) // JOB_ROWS)
        assert rejected_by_code["RETRIES_EXHAUSTED"] == unprocessed
    accounting = assert_every_row_accounted_for(server, KEY, result)
    if max_resubmits:
        assert accounting.loaded == expected_rows(server)["loaded"]
    assert duplicate_records(server) == {}


class WorkerDied(Exception):
    """Stands in for the run worker dying after some Bulk jobs were submitted."""


def test_a_load_that_dies_after_some_jobs_is_finished_by_the_retry(
    server: EmulatorServer, instance: dg.DagsterInstance
) -> None:
    def die() -> None:
        raise WorkerDied("the run worker died mid-load")

    salesforce = hooked_salesforce(server, 3, die, max_job_rows=JOB_ROWS, jobs_in_flight=1)

    result = materialize_range(instance, resources_for(salesforce), KEY)

    assert hook_fired(salesforce.hook)
    restarted = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert len(restarted) == 1
    uploads = uploads_per_job(server)
    assert set(uploads.values()) == {1}
    meta = load_metadata(result)
    assert len(uploads) == -(-(RECORDS - meta["rows_quarantined"]) // JOB_ROWS)
    accounting = assert_every_row_accounted_for(server, KEY, result)
    assert accounting.loaded == expected_rows(server)["loaded"]
    assert duplicate_records(server) == {}


def error_chain(error: Any) -> list[Any]:
    """A SerializableErrorInfo and its causes and contexts."""
    chain, seen = [], [error]
    while seen:
        current = seen.pop()
        if current is None:
            continue
        chain.append(current)
        seen.extend([current.cause, current.context])
    return chain


def _spend_the_rest_of_today(server: EmulatorServer, allowance: str) -> None:
    used = emulator_get(server, "stats")["api_calls"][allowance]["used"]
    set_faults(server, {"limits": {allowance: used}})
