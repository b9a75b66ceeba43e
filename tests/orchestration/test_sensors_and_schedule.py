"""Schedule and sensors: pure decisions, and the Dagster objects with build_*_context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.utils import make_new_run_id

from assets import adapters
from assets.keys import key_to_range
from assets.partitions import PARTITIONS_NAME
from assets.ranges import WHOLE_KEY_SPACE
from emulator.server import EmulatorServer
from orchestration.schedules import opportunities_nightly_schedule
from orchestration.sensors import (
    busy_partitions,
    decide_drift,
    drift_run_key,
    opportunity_drift_sensor,
)
from resources.data_cloud import DataCloudResource
from resources.salesforce import SalesforceResource
from tests.assets.materialize_support import (
    change_rows,
    datacloud_ids,
    plan_partitions,
    resources_for,
    running_emulator,
    salesforce_for,
)

pytestmark = pytest.mark.dagster
KEYS = ["k1", "k2", "k3"]


@pytest.mark.unit
def test_drift_requests_only_idle_drifted_ranges_once_per_count_pair() -> None:
    first = decide_drift(KEYS, {"k1": 5, "k2": 7, "k3": 3}, {"k1": 5, "k2": 6}, {"k3"}, None)
    assert first.drifted == ["k2"]
    assert first.skipped_busy == ["k3"]
    assert json.loads(first.cursor) == {"k1": [5, 5], "k2": [7, 6]}
    again = decide_drift(
        KEYS, {"k1": 5, "k2": 7, "k3": 3}, {"k1": 5, "k2": 6, "k3": 0}, set(), first.cursor
    )
    assert again.drifted == ["k3"]  # k2 unchanged since it was requested; k3 now idle
    changed = decide_drift(
        KEYS, {"k1": 5, "k2": 8, "k3": 3}, {"k1": 5, "k2": 6, "k3": 3}, set(), again.cursor
    )
    assert changed.drifted == ["k2"]


@pytest.mark.unit
def test_busy_partitions_understand_backfill_range_tags() -> None:
    tags = [
        {"dagster/partition": "k1"},
        {"dagster/asset_partition_range_start": "k2", "dagster/asset_partition_range_end": "k3"},
        {"other": "x"},
    ]
    assert busy_partitions(tags, ["k1", "k2", "k3", "k4"]) == {"k1", "k2", "k3"}


def test_nightly_schedule_requests_one_run_per_range_in_key_order() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, ["k2", "k1"])
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 1, 2, 0)
        ) as context:
            requests = opportunities_nightly_schedule(context)
        assert [(r.partition_key, r.run_key) for r in requests] == [
            ("k1", "nightly:2026-03-01:k1"),
            ("k2", "nightly:2026-03-01:k2"),
        ]
        assert opportunities_nightly_schedule.cron_schedule == "0 2 * * *"


def test_nightly_schedule_skips_without_ranges() -> None:
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 1, 2, 0)
        ) as context,
    ):
        assert isinstance(opportunities_nightly_schedule(context), dg.SkipReason)


@pytest.mark.unit
def test_drift_run_keys_are_deterministic() -> None:
    assert drift_run_key("k1", 10, 9) == "drift:k1:10:9" == drift_run_key("k1", 10, 9)


def test_drift_sensor_object_is_wired_to_the_job() -> None:
    assert opportunity_drift_sensor.job_name == "opportunities_job"
    assert opportunity_drift_sensor.required_resource_keys >= {"data_cloud", "salesforce"}


# -- the drift sensor against the emulator --------------------------------------------------------

DRIFT_RECORDS = 1_200


@pytest.fixture
def drift_server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", DRIFT_RECORDS) as running:
        yield running


def load_everything_directly(salesforce: SalesforceResource, data_cloud: DataCloudResource) -> int:
    """Salesforce made equal to Data Cloud in one upsert (the drift sensor only compares counts)."""
    source = adapters.source_client(data_cloud)
    whole = WHOLE_KEY_SPACE
    ambiguous = adapters.ambiguous_keys(source, whole)
    batches = (
        adapters.preflight_and_map(batch, whole, ambiguous)[0]
        for batch in adapters.source_rows(source, whole, None)
    )
    report = salesforce.upsert(batches, adapters.spec())
    return report.created


def drift_tick(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        result = opportunity_drift_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def in_flight_run(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun:
    return instance.add_run(
        dg.DagsterRun(
            job_name="opportunities_job",
            run_id=make_new_run_id(),
            tags={"dagster/partition": key},
            status=dg.DagsterRunStatus.STARTED,
        )
    )


@pytest.mark.emulator
def test_drift_sensor_requests_only_touched_idle_ranges_with_deterministic_keys(
    drift_server: EmulatorServer, tmp_path: Path
) -> None:
    salesforce = salesforce_for(drift_server)
    resources = resources_for(salesforce)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        keys = plan_partitions(instance, resources)
        assert load_everything_directly(salesforce, resources["data_cloud"]) == DRIFT_RECORDS
        ids = sorted(i for i in datacloud_ids(drift_server) if i)
        counts = {k: sum(1 for i in ids if key_to_range(k).contains(i)) for k in keys}

        quiet = drift_tick(instance, resources, None)
        assert quiet.run_requests == []
        assert json.loads(quiet.cursor or "") == {k: [n, n] for k, n in counts.items()}

        grown, edited, shrunk = keys[1], keys[2], keys[3]
        first_of = {k: next(i for i in ids if key_to_range(k).contains(i)) for k in keys}
        late_id = first_of[grown] + "-late"
        assert key_to_range(grown).contains(late_id)
        changes = {
            "insert": [{"ExternalId__c": late_id, "ssot__Name__c": "late"}],
            "update": [{"ExternalId__c": first_of[edited], "ssot__Name__c": "renamed"}],
            "delete": [first_of[shrunk]],
        }
        assert change_rows(drift_server, changes)["deleted"] == 1
        busy = in_flight_run(instance, shrunk)

        drifted = drift_tick(instance, resources, quiet.cursor)
        n = counts[grown]
        assert [(r.partition_key, r.run_key) for r in drifted.run_requests] == [
            (grown, f"drift:{grown}:{n + 1}:{n}")
        ]
        cursor = json.loads(drifted.cursor or "")
        assert cursor[grown] == [n + 1, n]
        assert cursor[shrunk] == [counts[shrunk]] * 2  # busy: last known pair kept
        again = drift_tick(instance, resources, quiet.cursor)  # same inputs, same decision
        assert [r.run_key for r in again.run_requests] == [r.run_key for r in drifted.run_requests]
        assert again.cursor == drifted.cursor

        assert drift_tick(instance, resources, drifted.cursor).run_requests == []
        instance.report_run_failed(busy)
        freed = drift_tick(instance, resources, drifted.cursor)
        m = counts[shrunk]
        assert [(r.partition_key, r.run_key) for r in freed.run_requests] == [
            (shrunk, f"drift:{shrunk}:{m - 1}:{m}")
        ]
