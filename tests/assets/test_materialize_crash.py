"""A load that dies after some Bulk jobs were submitted is finished by the retry, which resumes from
the checkpoint: no job is uploaded twice (emulator request log), nothing is missing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from assets.checkpoint import Checkpoint, read_checkpoint
from assets.checks import NO_MISSING_RECORDS
from assets.keys import range_to_key
from assets.opportunities import ASSET_KEY
from assets.partitions import PARTITIONS_NAME
from assets.ranges import WHOLE_KEY_SPACE
from emulator.server import EmulatorServer
from resources.salesforce import IngestReport, JobOutcome, ObjectSpec, SalesforceResource
from tests.assets.materialize_support import (
    check_results,
    emulator_get,
    load_metadata,
    materialize_range,
    resources_for,
    running_emulator,
    salesforce_external_ids,
    uploads_per_job,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 1_000
JOB_ROWS = 200
CRASH_AFTER_JOBS = 2
KEY = range_to_key(WHOLE_KEY_SPACE)


class SimulatedCrash(Exception):
    """The worker dies: from here on, the run reports nothing more to Dagster."""


class CrashingSalesforce(SalesforceResource):
    """Crashes once (the marker file remembers it) right after the n-th job was submitted and
    checkpointed; finished-job callbacks after the crash are lost, as in a dead process."""

    crash_after_jobs: int
    crash_marker: str

    def upsert(
        self,
        batches: Iterable[pa.RecordBatch] | None,
        spec: ObjectSpec,
        *,
        resume_job_ids: Iterable[str] = (),
        on_job_submitted: Callable[[str, str | None], None] | None = None,
        on_job_finished: Callable[[JobOutcome], None] | None = None,
    ) -> IngestReport:
        marker = Path(self.crash_marker)
        if marker.exists():
            return super().upsert(
                batches,
                spec,
                resume_job_ids=resume_job_ids,
                on_job_submitted=on_job_submitted,
                on_job_finished=on_job_finished,
            )
        submitted: list[str] = []

        def submitted_then_crash(job_id: str, last_id: str | None) -> None:
            assert on_job_submitted is not None
            on_job_submitted(job_id, last_id)
            submitted.append(job_id)
            if len(submitted) == self.crash_after_jobs:
                marker.write_text("\n".join(submitted))
                raise SimulatedCrash(f"worker died after submitting {submitted}")

        def finished_unless_dead(outcome: JobOutcome) -> None:
            if not marker.exists() and on_job_finished is not None:
                on_job_finished(outcome)

        return super().upsert(
            batches,
            spec,
            resume_job_ids=resume_job_ids,
            on_job_submitted=submitted_then_crash,
            on_job_finished=finished_unless_dead,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS) as running:
        yield running


def test_retry_resumes_open_jobs_without_uploading_any_job_twice(
    server: EmulatorServer, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    info = server.ready_info()
    salesforce = CrashingSalesforce(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=info["ca_bundle"],
        max_job_rows=JOB_ROWS,
        jobs_in_flight=1,
        poll_initial_s=0.05,
        poll_max_s=0.2,
        crash_after_jobs=CRASH_AFTER_JOBS,
        crash_marker=str(marker),
    )
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, [KEY])
        result = materialize_range(instance, resources_for(salesforce), KEY)

        crashed_jobs = marker.read_text().split("\n")
        assert len(crashed_jobs) == CRASH_AFTER_JOBS
        restarted = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
        assert len(restarted) == 1  # the asset's retry policy ran it a second time
        assert result.success

        at_crash = [c for c in checkpoints(instance) if list(c.submitted_jobs) == crashed_jobs]
        assert at_crash[0].finished_jobs == (
            crashed_jobs[0],
        )  # jobs_in_flight=1: job 1 ended first
        assert at_crash[0].open_jobs == (crashed_jobs[1],)  # the retry had to poll this one

        uploads = uploads_per_job(server)
        assert len(uploads) == RECORDS // JOB_ROWS
        assert set(uploads.values()) == {1}  # no job uploaded twice
        assert set(crashed_jobs) <= set(uploads)
        polled = emulator_get(server, "requests", endpoint="bulk.ingest.get")["requests"]
        polled_ids = {e["path"].rstrip("/").split("/")[-1] for e in polled}
        assert set(crashed_jobs) <= polled_ids

        meta = load_metadata(result)
        assert (meta["rows_read"], meta["rows_created"], meta["rows_updated"]) == (
            RECORDS,
            RECORDS,
            0,
        )
        assert meta["jobs"] == RECORDS // JOB_ROWS
        assert check_results(result)[NO_MISSING_RECORDS].passed
        assert read_checkpoint(instance, ASSET_KEY, KEY).complete
        assert len(salesforce_external_ids(server)) == RECORDS
        assert sorted(set(salesforce_external_ids(server))) == sorted(
            salesforce_external_ids(server)
        )


def checkpoints(instance: dg.DagsterInstance) -> list[Checkpoint]:
    """Every checkpoint observation of the range, oldest first."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[KEY]), limit=1000
    ).records
    found = [r.asset_observation for r in reversed(records) if r.asset_observation is not None]
    return [Checkpoint.from_metadata(o.metadata) for o in found]
