"""The delete policy: Salesforce records whose ExternalId Data Cloud no longer has are reported as
extra by the check and kept (the default), or deleted by the load with a Bulk ``delete`` job
(policy on), after which the check finds none. The pure choice of Ids and its guard are unit-tested;
the emulator's ``delete`` ingest is checked against its Opportunity table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from assets.checks import NO_MISSING_RECORDS
from assets.deletes import (
    DELETE_SPEC,
    DeletePolicy,
    extra_record_ids,
    refusal,
)
from assets.keys import range_to_key
from assets.partitions import PARTITIONS_NAME
from assets.ranges import WHOLE_KEY_SPACE, KeyRange
from emulator.server import EmulatorServer
from resources.salesforce import ObjectSpec
from resources.salesforce.protocol import Operation
from tests.assets.materialize_support import (
    change_rows,
    check_results,
    datacloud_ids,
    load_metadata,
    resources_for,
    running_emulator,
    salesforce_external_ids,
    salesforce_for,
)
from tests.reliability.reliability_support import check_metadata_int, materialize_with_config

RECORDS = 600
KEY = range_to_key(WHOLE_KEY_SPACE)
GONE = 4  # rows deleted in Data Cloud after the first load


def records(ids: list[str], external_ids: list[str | None]) -> pa.Table:
    return pa.table(
        {"Id": pa.array(ids, pa.string()), "External_Id__c": pa.array(external_ids, pa.string())}
    )


@pytest.mark.unit
def test_extra_ids_are_the_in_range_records_whose_key_the_source_lacks() -> None:
    target = records(
        ["006A", "006B", "006C", "006D", "006E", "006F"],
        ["b-1", "b-2", "b-3", "z-9", None, " "],
    )
    source = pa.array(["B-1", "b-2", None, "a-0"])  # B-1 matches b-1 by key (folded case)

    chosen = extra_record_ids(source, target, KeyRange("b", "c"))

    assert chosen.to_pylist() == ["006C"]  # z-9 is another range's; blanks are never chosen
    assert extra_record_ids(
        source, target, KeyRange("b", "c"), case_sensitive=True
    ).to_pylist() == [
        "006A",
        "006C",
    ]
    assert extra_record_ids(
        pa.array([], pa.string()), target, KeyRange(None, None)
    ).to_pylist() == [
        "006A",
        "006B",
        "006C",
        "006D",
    ]


@pytest.mark.unit
def test_the_guard_refuses_deleting_a_large_share_of_a_range() -> None:
    policy = DeletePolicy(enabled=True, max_fraction=0.1, unguarded_up_to=5)
    assert refusal(5, 10, policy) == ""  # few records: always allowed
    assert refusal(100, 1_000, policy) == ""  # 10%
    assert "refused to delete 101 of 1000" in refusal(101, 1_000, policy)
    assert DeletePolicy().enabled is False  # off by default


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS) as running:
        yield running


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as test_instance:
        test_instance.add_dynamic_partitions(PARTITIONS_NAME, [KEY])
        yield test_instance


def opportunity_ids(server: EmulatorServer) -> dict[str, str]:
    """External_Id__c -> Id of every record in the emulator's Opportunity table."""
    with server.emulator.store.cursor() as cursor:
        rows = cursor.execute('SELECT "External_Id__c", "Id" FROM "Opportunity"').fetchall()
    return dict(rows)


@pytest.mark.emulator
def test_emulator_bulk_delete_removes_named_records_and_fails_unknown_ids(
    server: EmulatorServer,
) -> None:
    salesforce = salesforce_for(server)
    sent = 5
    created = salesforce.upsert([opportunities(sent)], UPSERT_SPEC).created
    before = opportunity_ids(server)
    assert created == len(before) == sent
    victims = sorted(before.values())[:3]

    report = salesforce.upsert(
        [pa.record_batch({"Id": [*victims, "006EM9999999999YAA", "not-an-id"]})], DELETE_SPEC
    )

    assert (report.created, report.updated) == (0, 3)  # sf__Created is false for a delete
    assert sorted(report.rejected["error_code"].to_pylist()) == [
        "ENTITY_IS_DELETED",
        "MALFORMED_ID",
    ]
    after = opportunity_ids(server)
    assert len(after) == sent - 3
    assert set(after.values()) == set(before.values()) - set(victims)


@pytest.mark.dagster
@pytest.mark.emulator
@pytest.mark.parametrize("policy_on", [False, True], ids=["policy-off", "policy-on"])
def test_records_deleted_in_data_cloud_are_kept_by_default_and_deleted_when_configured(
    server: EmulatorServer, instance: dg.DagsterInstance, policy_on: bool
) -> None:
    resources = resources_for(salesforce_for(server, max_job_rows=250))
    first = materialize_with_config(instance, resources, KEY, {})
    assert load_metadata(first)["rows_deleted"] == 0
    gone = sorted(str(i) for i in datacloud_ids(server))[10 : 10 + GONE]
    assert change_rows(server, {"delete": gone})["deleted"] == GONE

    second = materialize_with_config(instance, resources, KEY, {"delete_extra_records": policy_on})

    meta = load_metadata(second)
    held = salesforce_external_ids(server)
    assert meta["rows_read"] == RECORDS - GONE
    assert check_results(second)[NO_MISSING_RECORDS].passed
    if policy_on:
        assert meta["rows_deleted"] == GONE
        assert check_metadata_int(second, NO_MISSING_RECORDS, "extra") == 0
        assert sorted(held) == sorted(str(i) for i in datacloud_ids(server))
    else:
        assert meta["rows_deleted"] == 0
        assert check_metadata_int(second, NO_MISSING_RECORDS, "extra") == GONE
        extra_sample = check_results(second)[NO_MISSING_RECORDS].metadata["extra_sample"]
        assert sorted(getattr(extra_sample, "value", extra_sample)) == gone
        assert len(held) == RECORDS and set(gone) <= set(held)  # reported, kept


UPSERT_SPEC = ObjectSpec("Opportunity", "External_Id__c", Operation.UPSERT)


def opportunities(n: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "External_Id__c": [f"DEL-{i:03d}" for i in range(n)],
            "Name": [f"Deal {i}" for i in range(n)],
            "StageName": ["Prospecting"] * n,
            "CloseDate": ["2026-12-31"] * n,
        }
    )
