"""Job polling: when ``wait_for_job`` asks for a job's state (a fake clock, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from resources.salesforce import PollDeadlineExceededError, PollSettings
from resources.salesforce.jobs import wait_for_job
from resources.salesforce.models import JobInfo
from resources.salesforce.protocol import JobState

pytestmark = pytest.mark.unit

SETTINGS = PollSettings(initial_s=1.0, factor=1.6, max_s=20.0, deadline_s=3600.0)


class ScriptedJob:
    """A job whose state at time ``t`` comes from ``timeline`` [(from_t, state, processed)]."""

    def __init__(self, timeline: list[tuple[float, JobState, int]]) -> None:
        self.timeline = timeline
        self.now = 0.0
        self.polled_at: list[float] = []

    def get_job(self, job_id: str, kind: str = "ingest") -> JobInfo:
        self.polled_at.append(round(self.now, 3))
        state, processed = JobState.UPLOAD_COMPLETE, 0
        for start, at_state, at_processed in self.timeline:
            if self.now >= start:
                state, processed = at_state, at_processed
        return JobInfo(job_id, state, number_records_processed=processed)

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now


def wait(job: ScriptedJob, **kwargs: Any) -> JobInfo:
    client: Any = job
    return wait_for_job(
        client, "750x", "ingest", SETTINGS, sleep=job.sleep, clock=job.clock, **kwargs
    )


def test_a_just_closed_job_is_first_polled_after_the_estimate() -> None:
    job = ScriptedJob([(8.0, JobState.JOB_COMPLETE, 200_000)])
    info = wait(job, first_delay_s=10.0, expected_records=200_000)
    assert info.state is JobState.JOB_COMPLETE
    assert job.polled_at == [10.0]  # one status call: none wasted right after the close


def test_a_resumed_job_is_polled_at_once() -> None:
    job = ScriptedJob([(0.0, JobState.JOB_COMPLETE, 5)])
    wait(job)
    assert job.polled_at == [0.0]


def test_after_a_long_estimate_the_backoff_restarts_from_a_quarter_of_it() -> None:
    job = ScriptedJob([(15.0, JobState.JOB_COMPLETE, 200_000)])
    wait(job, first_delay_s=10.0)
    # 10 + 2.5 = 12.5, + 4.0 = 16.5: late by 1.5 s, where growing 10 * 1.6 would poll at 26.
    assert job.polled_at == [10.0, 12.5, 16.5]


def test_progress_predicts_the_next_poll() -> None:
    job = ScriptedJob([(5.0, JobState.IN_PROGRESS, 50_000), (20.0, JobState.JOB_COMPLETE, 200_000)])
    wait(job, first_delay_s=10.0, expected_records=200_000)
    # At 10 s, 50k of 200k are done: 150k more at 5k/s = 30 s, capped at max_s = 20.
    assert job.polled_at == [10.0, 30.0]


def test_progress_prediction_is_never_shorter_than_the_initial_delay() -> None:
    job = ScriptedJob(
        [(1.0, JobState.IN_PROGRESS, 199_999), (10.2, JobState.JOB_COMPLETE, 200_000)]
    )
    wait(job, first_delay_s=10.0, expected_records=200_000)
    assert job.polled_at == [10.0, 11.0]


def test_the_deadline_still_ends_the_wait() -> None:
    job = ScriptedJob([])
    settings = PollSettings(initial_s=1.0, max_s=2.0, deadline_s=30.0)
    client: Any = job
    with pytest.raises(PollDeadlineExceededError):
        wait_for_job(
            client, "750x", "ingest", settings, sleep=job.sleep, clock=job.clock, first_delay_s=5
        )
    assert job.polled_at[0] == 5.0
    assert job.now <= 30.0
