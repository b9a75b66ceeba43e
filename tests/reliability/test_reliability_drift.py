"""Records added, changed and deleted in Data Cloud while a load runs: the next drift cycle (the
drift sensor's run requests, each materialized) brings the two sides back in step. Deleted records
stay as ``extra`` under the default delete policy and go when the policy is on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.checks import NO_MISSING_RECORDS
from assets.keys import key_to_range
from emulator.server import EmulatorServer
from orchestration.sensors import PARTITIONS_ENV, opportunity_drift_sensor
from tests.assets.materialize_support import (
    change_rows,
    check_results,
    datacloud_ids,
    load_metadata,
    materialize_range,
    plan_partitions,
    resources_for,
    running_emulator,
    salesforce_for,
)
from tests.reliability.reliability_support import (
    assert_every_row_accounted_for,
    check_metadata_int,
    duplicate_records,
    hook_fired,
    hooked_salesforce,
    materialize_with_config,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 1_200
RANGES = 4
JOB_ROWS = 100


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS) as running:
        yield running


def ids_in(server: EmulatorServer, key: str) -> list[str]:
    key_range = key_to_range(key)
    return sorted(str(i) for i in datacloud_ids(server) if i and key_range.contains(i))


def names_by_id(server: EmulatorServer) -> tuple[dict[str, str], dict[str, str]]:
    """(Data Cloud ExternalId -> Name, Salesforce External_Id__c -> Name)."""
    backend = server.emulator.services["datacloud"]
    with backend.writable() as connection:
        source = connection.execute(
            'SELECT "ExternalId__c", "ssot__Name__c" FROM "ssot__Opportunity__dlm"'
        ).fetchall()
    with server.emulator.store.cursor() as cursor:
        target = cursor.execute('SELECT "External_Id__c", "Name" FROM "Opportunity"').fetchall()
    return dict(source), dict(target)


def drift_tick(
    instance: dg.DagsterInstance, resources: Mapping[str, Any], cursor: str | None
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, resources=dict(resources), cursor=cursor
    ) as context:
        result = opportunity_drift_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_adds_changes_and_deletes_during_a_load_are_caught_up_by_the_next_drift_cycle(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTITIONS_ENV, str(RANGES))
    resources = resources_for(salesforce_for(server, max_job_rows=JOB_ROWS))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        keys = plan_partitions(instance, resources)
        assert len(keys) == RANGES
        loaded_first, loading = keys[0], keys[1]
        first_ids, loading_ids, later_ids = (ids_in(server, k) for k in keys[:3])
        added = [f"{first_ids[5]}-late-{n}" for n in range(5)]  # sorts inside the first range
        changed = [first_ids[1], loading_ids[2], loading_ids[3], later_ids[4]]
        deleted = [loading_ids[6], loading_ids[7], later_ids[8]]  # loading: already sent
        template = {
            "ssot__OpportunityStageId__c": "Prospecting",
            "ssot__CloseDate__c": "2026-12-31",
        }

        def change_data_cloud() -> None:  # after the first job of the second range
            answer = change_rows(
                server,
                {
                    "insert": [
                        {"ExternalId__c": i, "ssot__Name__c": f"Late {i}", **template}
                        for i in added
                    ],
                    "update": [
                        {"ExternalId__c": i, "ssot__Name__c": f"Renamed {i}"} for i in changed
                    ],
                    "delete": deleted,
                },
            )
            assert (answer["inserted"], answer["updated"], answer["deleted"]) == (5, 4, 3)

        assert materialize_range(instance, resources, loaded_first).success
        hooked = hooked_salesforce(server, 1, change_data_cloud, max_job_rows=JOB_ROWS)
        assert materialize_range(instance, resources_for(hooked), loading).success
        assert hook_fired(hooked.hook)
        for key in keys[2:]:
            assert materialize_range(instance, resources, key).success

        tick = drift_tick(instance, resources, None)

        requested = [r.partition_key for r in tick.run_requests]
        assert requested == [loaded_first, loading]  # grew by 5; shrank by 2 (sent, then deleted)
        assert all(r.tags.get("sfload/trigger") == "drift" for r in tick.run_requests)
        caught_up = {key: materialize_range(instance, resources, key) for key in requested}

        source_names, target_names = names_by_id(server)
        for key, result in caught_up.items():
            assert_every_row_accounted_for(server, key, result)
        assert all(target_names[i] == f"Late {i}" for i in added)
        assert all(target_names[i] == source_names[i] == f"Renamed {i}" for i in changed)
        assert later_ids[8] not in target_names  # deleted before its range was loaded
        loading_check = check_results(caught_up[loading])
        assert loading_check[NO_MISSING_RECORDS].passed
        assert check_metadata_int(caught_up[loading], NO_MISSING_RECORDS, "extra") == 2
        assert {loading_ids[6], loading_ids[7]} <= set(target_names)  # default policy: kept
        assert set(target_names) - set(source_names) == {loading_ids[6], loading_ids[7]}
        assert duplicate_records(server) == {}
        quiet = drift_tick(instance, resources, tick.cursor)
        assert quiet.run_requests == []  # nothing new; the kept extras do not re-trigger

        # The delete policy switched on for that range: the extras go, the sides are equal.
        cleaned = materialize_with_config(
            instance, resources, loading, {"delete_extra_records": True}
        )
        assert load_metadata(cleaned)["rows_deleted"] == 2
        assert check_metadata_int(cleaned, NO_MISSING_RECORDS, "extra") == 0
        source_names, target_names = names_by_id(server)
        assert sorted(target_names) == sorted(i for i in source_names if i)
        assert len(target_names) == RECORDS + len(added) - len(deleted)
        settled = drift_tick(instance, resources, quiet.cursor)
        assert settled.run_requests == []
