"""Schedule and sensors: pure decisions, and the Dagster objects with build_*_context."""

from __future__ import annotations

import json
from datetime import datetime

import dagster as dg
import pytest

from assets.partitions import PARTITIONS_NAME
from orchestration.schedules import opportunities_nightly_schedule
from orchestration.sensors import (
    busy_partitions,
    decide_drift,
    drift_run_key,
    opportunity_drift_sensor,
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
