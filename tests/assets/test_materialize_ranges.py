"""Every range the planner sensor creates, materialized with its checks against the emulator:
numbers add up, Salesforce holds exactly the range's ids, and a second run changes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.checks import NO_MISSING_RECORDS, NO_REJECTED_RECORDS
from assets.keys import key_to_range
from emulator.server import EmulatorServer
from orchestration.sensors import PARTITIONS_ENV
from tests.assets.materialize_support import (
    check_results,
    datacloud_ids,
    load_metadata,
    materialize_range,
    plan_partitions,
    resources_for,
    running_emulator,
    salesforce_external_ids,
    salesforce_for,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 1_200
JOB_ROWS = 150  # several Bulk jobs per range
PARTITIONS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory.mktemp("emulator"), RECORDS) as running:
        yield running


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    home = Path(tmp_path_factory.mktemp("dagster_home"))
    with dg.instance_for_test(temp_dir=str(home)) as test_instance:
        yield test_instance


def test_every_planned_range_loads_exactly_its_ids_and_reloads_idempotently(
    server: EmulatorServer, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTITIONS_ENV, str(PARTITIONS))
    resources = resources_for(salesforce_for(server, max_job_rows=JOB_ROWS))
    keys = plan_partitions(instance, resources)
    assert len(keys) == PARTITIONS and keys == sorted(keys)
    assert key_to_range(keys[0]).lo is None and key_to_range(keys[-1]).hi is None
    source = datacloud_ids(server)
    assert len(source) == RECORDS and all(source)

    loaded: set[str] = set()
    for key in keys:
        key_range = key_to_range(key)
        expected = {i for i in source if i is not None and key_range.contains(i)}
        result = materialize_range(instance, resources, key)
        meta = load_metadata(result)
        assert meta["rows_read"] == len(expected)
        assert meta["rows_read"] == (
            meta["rows_created"]
            + meta["rows_updated"]
            + meta["rows_rejected"]
            + meta["rows_quarantined"]
        )
        assert (meta["rows_created"], meta["rows_updated"]) == (len(expected), 0)
        assert meta["jobs"] == -(-len(expected) // JOB_ROWS)
        checks = check_results(result)
        assert checks[NO_MISSING_RECORDS].passed
        assert plain_int(checks[NO_MISSING_RECORDS], "missing") == 0
        assert plain_int(checks[NO_MISSING_RECORDS], "extra") == 0
        assert checks[NO_REJECTED_RECORDS].passed
        held = salesforce_external_ids(server)
        assert set(held) - loaded == expected  # this run added exactly the range's ids
        loaded |= expected
    held = salesforce_external_ids(server)
    assert sorted(held) == sorted(source)  # every id once, nothing else

    again = materialize_range(instance, resources, keys[1])
    meta = load_metadata(again)
    expected_again = sum(1 for i in source if i is not None and key_to_range(keys[1]).contains(i))
    assert (meta["rows_read"], meta["rows_created"], meta["rows_updated"]) == (
        expected_again,
        0,
        expected_again,
    )
    assert check_results(again)[NO_MISSING_RECORDS].passed
    after = salesforce_external_ids(server)
    assert Counter(after) == Counter(held)  # nothing created, nothing duplicated


def plain_int(evaluation: dg.AssetCheckEvaluation, name: str) -> int:
    value = evaluation.metadata[name]
    return int(getattr(value, "value", value))
