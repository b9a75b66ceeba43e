"""The real code location (``orchestration.definitions``) on the production shape: Postgres, gRPC code
server, daemon, webserver, with ``sfload emulator serve`` as the Salesforce org and Data Cloud tenant.

Tests share one deployment and run in file order: a crash on one range, then a backfill of every
range, then drift on a few ranges, then the browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.keys import key_to_range
from tests.e2e.browser import materialize_one_partition
from tests.e2e.emulator_process import SfloadDeployment
from tests.e2e.graphql_client import RunInfo
from tests.e2e.observe import all_finished, latest_run_per_partition, max_overlap, wait_sampling
from tests.e2e.processes import kill_tree, wait_until
from tests.e2e.stack import REPO_ROOT, DagsterStack

if not (REPO_ROOT / "orchestration" / "definitions.py").exists():
    pytest.skip(
        "orchestration/definitions.py does not exist yet; the real-location e2e tests turn on "
        "when it lands",
        allow_module_level=True,
    )

pytestmark = pytest.mark.e2e

ASSET = ["salesforce_opportunities"]
PARTITIONS_DEF = "opportunity_ranges"
POOL = "salesforce_bulk"
POOL_LIMIT = 3
PLANNER = "opportunity_ranges_sensor"
DRIFT_SENSOR = "opportunity_drift_sensor"
CHECK = "no_missing_records"
EXTERNAL_ID = "ExternalId__c"
BACKFILL_RUNS: list[RunInfo] = []  # filled by the backfill test, read by the check test after it


@pytest.fixture(scope="module")
def deployment(sfload_deployment: SfloadDeployment) -> SfloadDeployment:
    sfload_deployment.stack.set_pool_limit(POOL, POOL_LIMIT)
    return sfload_deployment


@pytest.fixture(scope="module")
def range_keys(deployment: SfloadDeployment) -> list[str]:
    """The planner's ranges, added the way the UI's "Test sensor" preview does (no tick, no runs)."""
    graphql = deployment.stack.graphql
    keys = graphql.sensor_dry_run_partition_keys(PLANNER, PARTITIONS_DEF)
    assert len(keys) >= 4, keys
    for key in keys:
        graphql.add_dynamic_partition(PARTITIONS_DEF, key)
    return keys


def runs_for(stack: DagsterStack, keys: set[str]) -> list[RunInfo]:
    return [run for run in stack.graphql.runs() if run.partition in keys]


def assert_checks_pass(stack: DagsterStack, runs: list[RunInfo]) -> None:
    """Each run's own check execution for its range passed."""
    results = stack.graphql.check_results_by_run(ASSET, CHECK)
    seen = {run.partition: results.get((run.run_id, run.partition or "")) for run in runs}
    assert seen == dict.fromkeys(seen, "SUCCEEDED")


def test_kill_9_during_a_load_the_run_retry_finishes_the_range(
    deployment: SfloadDeployment, range_keys: list[str]
) -> None:
    stack, emulator = deployment.stack, deployment.emulator
    key = range_keys[1]
    # Ingest jobs sit in the queue for a while, so the kill lands while a Bulk job is open.
    emulator.set_faults({"ingest": {"queue_delay_s": 8}})
    try:
        run_id = stack.graphql.launch_partition_run(ASSET, key, checks=[CHECK])
        wait_until(
            lambda: _open_ingest_jobs(emulator.stats()) > 0,
            240,
            "an open Bulk ingest job",
            1.0,
            stack.children,
        )
        pid = stack.graphql.run_worker_pid(run_id)
        assert pid is not None
        kill_tree(pid)
        wait_until(lambda: stack.graphql.run(run_id).status == "FAILURE", 60, "the crash")
    finally:
        emulator.set_faults("none")

    def retry_done() -> RunInfo | None:
        latest = latest_run_per_partition(runs_for(stack, {key}))[key]
        finished = latest.run_id != run_id and latest.status in ("SUCCESS", "FAILURE")
        return latest if finished else None

    retry = wait_until(retry_done, 300, "the run retry", 2.0, stack.children)
    assert retry.status == "SUCCESS"
    assert retry.parent_run_id == run_id
    assert_checks_pass(stack, [retry])


@pytest.mark.timeout(900)
def test_backfill_of_every_range_stays_within_the_pool_and_loses_nothing(
    deployment: SfloadDeployment, range_keys: list[str]
) -> None:
    stack, emulator = deployment.stack, deployment.emulator
    backfill_id = stack.graphql.launch_backfill(ASSET, range_keys)

    def backfill_runs() -> list[RunInfo]:
        return [r for r in stack.graphql.runs() if r.tags.get("dagster/backfill") == backfill_id]

    def finished() -> bool:
        runs = backfill_runs()
        return len(runs) >= len(range_keys) and all_finished(runs)

    samples = wait_sampling(stack, finished, 600, "the backfill of every range")

    latest = latest_run_per_partition(backfill_runs())
    assert set(latest) == set(range_keys)
    assert {run.status for run in latest.values()} == {"SUCCESS"}
    assert samples.peak <= POOL_LIMIT, samples.counts
    assert max_overlap(backfill_runs()) <= POOL_LIMIT
    source_rows, target_rows = emulator.row_counts()
    assert target_rows == source_rows
    BACKFILL_RUNS.extend(latest.values())


def test_backfilled_ranges_record_their_passing_check(deployment: SfloadDeployment) -> None:
    assert BACKFILL_RUNS, "runs after the backfill test"
    assert all(run.tags.get("dagster/partition") for run in BACKFILL_RUNS)
    assert_checks_pass(deployment.stack, BACKFILL_RUNS)


def test_drift_sensor_loads_only_the_ranges_that_changed(
    deployment: SfloadDeployment, range_keys: list[str]
) -> None:
    stack, emulator = deployment.stack, deployment.emulator
    touched = [range_keys[2], range_keys[-1]]
    emulator.change_rows(
        {
            "insert": [
                _new_row(_id_inside(touched[0], "drift-a")),
                _new_row(_id_inside(touched[0], "drift-b")),
                _new_row(_id_inside(touched[1], "drift-c")),
            ],
            "update": [{EXTERNAL_ID: _id_inside(touched[0], "drift-a"), "ssot__TotalAmount__c": 7}],
        }
    )
    before = {run.run_id for run in stack.graphql.runs()}
    stack.graphql.start_sensor(DRIFT_SENSOR)
    try:

        def drift_runs_done() -> list[RunInfo] | None:
            new = [run for run in stack.graphql.runs() if run.run_id not in before]
            done = {run.partition for run in new if run.status == "SUCCESS"}
            return new if set(touched) <= done and all_finished(new) else None

        new_runs = wait_until(drift_runs_done, 300, "the drift runs", 2.0, stack.children)
    finally:
        stack.graphql.stop_sensor(DRIFT_SENSOR)

    assert {run.partition for run in new_runs} == set(touched)
    assert all(run.tags.get("sfload/trigger") == "drift" for run in new_runs)
    assert_checks_pass(stack, new_runs)
    source_rows, target_rows = emulator.row_counts()
    assert target_rows == source_rows


def test_browser_materialize_one_range_of_the_real_asset(
    deployment: SfloadDeployment, range_keys: list[str], artifacts_dir: Path
) -> None:
    stack = deployment.stack
    key = range_keys[0]
    before = {run.run_id for run in runs_for(stack, {key})}
    screenshot = artifacts_dir / "sfload_location" / "materialize-one-range.png"

    materialize_one_partition(stack.url, ASSET, key, screenshot)

    def launched_run() -> RunInfo | None:
        new = [r for r in runs_for(stack, {key}) if r.run_id not in before]
        return new[0] if new and all_finished(new) else None

    run = wait_until(launched_run, 300, "the browser-launched run", 2.0, stack.children)
    assert run.status == "SUCCESS"
    assert run.tags.get("dagster/partition") == key


def _open_ingest_jobs(stats: dict[str, object]) -> int:
    by_state = stats["ingest"]["jobs_by_state"]  # type: ignore[index]
    return sum(
        n for state, n in by_state.items() if state in ("Open", "UploadComplete", "InProgress")
    )


def _id_inside(key: str, tag: str) -> str:
    """An ExternalId that falls in the range ``key``: its lower bound plus a low suffix."""
    key_range = key_to_range(key)
    assert key_range.lo is not None, "pick a range with a lower bound"
    candidate = f"{key_range.lo}-{tag}"
    assert key_range.contains(candidate), (key, candidate)
    return candidate


def _new_row(external_id: str) -> dict[str, object]:
    return {
        EXTERNAL_ID: external_id,
        "ssot__Name__c": f"Drift {external_id}",
        "ssot__OpportunityName__c": f"Drift {external_id}",
        "ssot__OpportunityStageId__c": "Prospecting",
        "ssot__CloseDate__c": "2027-03-31T00:00:00.000Z",
        "ssot__TotalAmount__c": 1000,
        "ssot__Probability__c": 10,
    }
