"""The messy profile loaded through the asset: loaded, rejected-by-code and quarantined counts, and
the checks' verdicts, equal what the emulator says it made (``emulator/profiles.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.checks import (
    NO_MISSING_RECORDS,
    NO_REJECTED_RECORDS,
    all_ranges_have_no_missing_records,
    no_missing_records,
)
from assets.keys import range_to_key
from assets.opportunities import salesforce_opportunities
from assets.partitions import opportunity_ranges
from assets.ranges import WHOLE_KEY_SPACE
from emulator.server import EmulatorServer
from tests.assets.materialize_support import (
    change_rows,
    check_results,
    emulator_get,
    instance_with_partitions,
    load_metadata,
    materialize_range,
    plain,
    resources_for,
    running_emulator,
    salesforce_external_ids,
    salesforce_for,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 2_000
KEY = range_to_key(WHOLE_KEY_SPACE)
NEW_ID = "ZZZ-NEW-0001"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS, profile="messy") as running:
        yield running


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with instance_with_partitions(tmp_path / "home", [KEY]) as test_instance:
        yield test_instance


def test_messy_rows_end_loaded_rejected_or_quarantined_exactly_as_the_profile_says(
    server: EmulatorServer, instance: dg.DagsterInstance
) -> None:
    profile = emulator_get(server, "stats")["datacloud"]["profile"]
    counts, expected = profile["counts"], profile["expected_loader"]
    quarantined = expected["quarantined"]  # by our pre-flight and mapping reason codes
    resources = resources_for(salesforce_for(server, max_job_rows=700))

    result = materialize_range(instance, resources, KEY)

    meta = load_metadata(result)
    assert meta["rows_read"] == RECORDS
    assert meta["rows_created"] == expected["loaded"]
    assert meta["rows_rejected"] == sum(expected["rejected"].values())
    assert meta["rejected_by_code"] == expected["rejected"]
    assert meta["rows_quarantined"] == sum(quarantined.values())
    assert meta["quarantined_by_reason"] == quarantined
    assert len(salesforce_external_ids(server)) == expected["loaded"]

    checks = check_results(result)
    missing = plain(checks[NO_MISSING_RECORDS].metadata)
    assert checks[NO_MISSING_RECORDS].passed  # everything missing has a recorded reason
    assert checks[NO_MISSING_RECORDS].severity == dg.AssetCheckSeverity.ERROR
    # Duplicates and case duplicates are one key per original (two rows each).
    by_reason = {
        **expected["rejected"],
        "NUMBER_TOO_LARGE": counts["invalid_amount"],
        "DUPLICATE_EXTERNAL_ID": counts["duplicate_id"],
        "CASE_DUPLICATE_EXTERNAL_ID": counts["case_duplicate_id"],
    }
    assert missing["missing_by_reason"] == by_reason
    assert missing["missing"] == missing["missing_explained"] == sum(by_reason.values())
    assert missing["missing_unexplained"] == 0
    assert missing["case_collisions"] == counts["case_duplicate_id"]
    assert missing["blank_source_rows"] == counts["blank_id"]
    assert missing["extra"] == 0

    rejected = checks[NO_REJECTED_RECORDS]
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert plain(rejected.metadata)["rejected_by_code"] == expected["rejected"]
    assert plain(rejected.metadata)["rows_rejected"] == sum(expected["rejected"].values())

    summary = run_summary_check(instance, resources)
    assert summary.passed
    (row,) = summary.metadata["by_range"].value.records
    assert (row.data["range"], row.data["check"], row.data["rows_rejected"]) == (
        KEY,
        "passed",
        sum(expected["rejected"].values()),
    )

    # A row that reaches Data Cloud after the load is missing with no reason: the check fails.
    change = {"insert": [{"ExternalId__c": NEW_ID, "ssot__Name__c": "late"}]}
    assert change_rows(server, change)["inserted"] == 1
    recheck = run_checks_only(instance, resources, no_missing_records, partition_key=KEY)
    (evaluation,) = recheck.get_asset_check_evaluations()
    values = plain(evaluation.metadata)
    assert not evaluation.passed
    assert (values["missing_unexplained"], values["missing_unexplained_sample"]) == (1, [NEW_ID])
    assert values["missing_explained"] == sum(by_reason.values())

    summary = run_summary_check(instance, resources)
    assert not summary.passed
    assert plain(summary.metadata)["failing"] == [KEY]


def run_summary_check(
    instance: dg.DagsterInstance, resources: dict[str, Any]
) -> dg.AssetCheckEvaluation:
    result = run_checks_only(instance, resources, all_ranges_have_no_missing_records)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def run_checks_only(
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    check: dg.AssetChecksDefinition,
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """A check without loading, as the UI's "Execute" on a check does (its own job). The partition
    goes in as a run tag: ``partition_key=`` finds no asset in a checks-only selection."""
    job = dg.define_asset_job(
        "checks_only",
        selection=dg.AssetSelection.checks(check),
        partitions_def=opportunity_ranges if partition_key else None,
    )
    defs = dg.Definitions(
        assets=[salesforce_opportunities], asset_checks=[check], jobs=[job], resources=resources
    )
    return defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance,
        tags={"dagster/partition": partition_key} if partition_key else None,
        raise_on_error=False,
    )
