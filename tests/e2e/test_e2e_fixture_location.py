"""The production shape (Postgres + code server + daemon + webserver) against a throwaway location."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.browser import materialize_one_partition
from tests.e2e.fixture_location import PARTITIONS_DEF_NAME, POOL
from tests.e2e.graphql_client import RunInfo
from tests.e2e.observe import (
    all_finished,
    latest_run_per_partition,
    max_overlap,
    wait_sampling,
)
from tests.e2e.processes import kill_tree, wait_until
from tests.e2e.stack import DagsterStack

pytestmark = pytest.mark.e2e

ASSET = ["fixture_load"]
POOL_LIMIT = 3


@pytest.fixture(scope="module")
def stack(fixture_stack: DagsterStack) -> DagsterStack:
    fixture_stack.set_pool_limit(POOL, POOL_LIMIT)
    return fixture_stack


def add_partitions(stack: DagsterStack, keys: list[str]) -> None:
    for key in keys:
        stack.graphql.add_dynamic_partition(PARTITIONS_DEF_NAME, key)


def test_instance_runs_on_the_deploy_config_with_the_cli_pool_limit(stack: DagsterStack) -> None:
    settings = stack.graphql.pool_settings(POOL)
    assert settings["poolConfig"]["poolGranularity"] == "run"
    assert settings["runQueueConfig"]["maxConcurrentRuns"] == 20
    assert settings["concurrencyLimit"] == {"limit": POOL_LIMIT, "usingDefaultLimit": False}


def test_backfill_runs_every_partition_never_more_than_pool_limit_at_once(
    stack: DagsterStack,
) -> None:
    keys = [f"backfill-{i:02d}" for i in range(6)]
    add_partitions(stack, keys)
    backfill_id = stack.graphql.launch_backfill(ASSET, keys)

    def backfill_runs() -> list[RunInfo]:
        return [
            run for run in stack.graphql.runs() if run.tags.get("dagster/backfill") == backfill_id
        ]

    def finished() -> bool:
        runs = backfill_runs()
        return len(runs) == len(keys) and all_finished(runs)

    samples = wait_sampling(stack, finished, 420, "the backfill's runs to finish")

    runs = backfill_runs()
    assert {run.partition for run in runs} == set(keys)
    assert {run.status for run in runs} == {"SUCCESS"}
    assert samples.peak <= POOL_LIMIT, samples.counts
    assert max_overlap(runs) <= POOL_LIMIT
    # The limit was reached, i.e. the runs really did run side by side and were held back.
    assert max(samples.peak, max_overlap(runs)) >= 2, samples.counts
    wait_until(
        lambda: stack.graphql.backfill_status(backfill_id) == "COMPLETED_SUCCESS",
        60,
        "the backfill to be marked completed",
    )


def test_killed_run_worker_is_retried_by_the_daemon_and_succeeds(stack: DagsterStack) -> None:
    key = "crash-00"
    add_partitions(stack, [key])
    run_id = stack.graphql.launch_partition_run(
        ASSET, key, run_config={"ops": {"fixture_load": {"config": {"seconds": 20.0}}}}
    )
    wait_until(
        lambda: (
            stack.graphql.run(run_id).status == "STARTED" and stack.graphql.run_worker_pid(run_id)
        ),
        120,
        "the run worker to start",
        alive=stack.children,
    )
    pid = stack.graphql.run_worker_pid(run_id)
    assert pid is not None
    kill_tree(pid)

    wait_until(
        lambda: stack.graphql.run(run_id).status == "FAILURE",
        60,
        "the crashed run to be marked failed",
    )

    def retry_finished() -> bool:
        latest = latest_run_per_partition(stack.graphql.runs())[key]
        return latest.run_id != run_id and latest.status in ("SUCCESS", "FAILURE")

    wait_until(retry_finished, 180, "the run retry to finish", 1.0, stack.children)
    retry = latest_run_per_partition(stack.graphql.runs())[key]
    assert retry.status == "SUCCESS"
    assert retry.retry_number == 1
    assert retry.parent_run_id == run_id


def test_browser_materialize_one_partition_succeeds(
    stack: DagsterStack, artifacts_dir: Path
) -> None:
    key = "browser-00"
    add_partitions(stack, ["browser-decoy", key])
    screenshot = artifacts_dir / "fixture_location" / "materialize-one-partition.png"

    materialize_one_partition(stack.url, ASSET, key, screenshot)

    def finished_run() -> RunInfo | None:
        runs = [run for run in stack.graphql.runs() if run.partition == key]
        return runs[0] if runs and all_finished(runs) else None

    run = wait_until(finished_run, 180, "the browser-launched run", 1.0, stack.children)
    assert run.status == "SUCCESS"
    assert run.tags.get("dagster/partition") == key
    assert not [run for run in stack.graphql.runs() if run.partition == "browser-decoy"]
    assert screenshot.stat().st_size > 0
