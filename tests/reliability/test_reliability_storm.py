"""Under the emulator's ``storm`` fault profile (every kind of fault at once) the planner's ranges,
each re-materialized on failure as a run retry would, end with nothing missing unexplained and
every ExternalId exactly once in Salesforce; the storm is proven to have hit the load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from emulator.server import EmulatorServer
from orchestration.sensors import PARTITIONS_ENV
from tests.assets.materialize_support import (
    datacloud_ids,
    emulator_get,
    plan_partitions,
    resources_for,
    running_emulator,
    salesforce_external_ids,
    salesforce_for,
)
from tests.reliability.reliability_support import (
    assert_every_row_accounted_for,
    duplicate_records,
    materialize_with_retries,
)

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

RECORDS = 2_000
JOB_ROWS = 250
ATTEMPTS = 4  # one run and up to three run retries per range
RANGES = 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator", RECORDS, extra={"faults": "storm"}) as running:
        yield running


def test_every_range_loads_under_the_storm_with_nothing_missing_and_no_duplicates(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTITIONS_ENV, str(RANGES))
    resources = resources_for(salesforce_for(server, max_job_rows=JOB_ROWS))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        keys = plan_partitions(instance, resources)
        assert len(keys) >= RANGES - 1

        runs = [materialize_with_retries(instance, resources, key, ATTEMPTS) for key in keys]

        failed = [(r.key, r.attempts) for r in runs if not r.result.success]
        assert failed == []
        accounted = [assert_every_row_accounted_for(server, r.key, r.result) for r in runs]
    assert sum(a.source for a in accounted) == RECORDS
    assert sum(a.loaded for a in accounted) == RECORDS  # clean data: every row ends loaded
    assert duplicate_records(server) == {}
    held = salesforce_external_ids(server)
    assert sorted(i.lower() for i in held) == sorted(str(i).lower() for i in datacloud_ids(server))

    injected = emulator_get(server, "stats")["faults"]["injected"]
    assert emulator_get(server, "faults")["plan"]["name"] == "storm"
    assert injected.get("http_503", 0) > 0
    assert injected.get("drop", 0) > 0
    assert injected.get("slow", 0) > 0
    assert injected.get("unable_to_lock_row", 0) > 0  # re-submitted, since nothing is missing
