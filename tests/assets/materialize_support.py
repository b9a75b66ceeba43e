"""Helpers for the asset tests against the emulator: start it, wire the resources, run the planner,
materialize one range, and read what the emulator holds (its control plane and its tables)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import requests

from assets.checks import no_missing_records, no_rejected_records
from assets.opportunities import salesforce_opportunities
from assets.partitions import PARTITIONS_NAME
from emulator import profiles
from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from orchestration.sensors import opportunity_ranges_sensor
from resources.data_cloud import DataCloudResource
from resources.salesforce import SalesforceResource

SEED = 7
PAGE_ROWS = 500
FAST_POLLING: dict[str, Any] = {"poll_initial_s": 0.05, "poll_max_s": 0.2}


@contextmanager
def running_emulator(
    data_dir: Path, records: int, profile: str = "clean", **config: Any
) -> Iterator[EmulatorServer]:
    """An emulator whose Data Cloud tenant holds ``records`` generated rows of ``profile``."""
    if profile != "clean":
        profiles.seed(data_dir, records, SEED, profile)
        records = 0  # seeded above
    settings = EmulatorConfig(
        data_dir=data_dir, records=records, seed=SEED, datacloud_page_rows=PAGE_ROWS, **config
    )
    with EmulatorServer(settings) as server:
        yield server


@contextmanager
def instance_with_partitions(home: Path, keys: list[str]) -> Iterator[dg.DagsterInstance]:
    """A test instance in ``home`` that already knows these range keys."""
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
        yield instance


def salesforce_for(server: EmulatorServer, **overrides: Any) -> SalesforceResource:
    info = server.ready_info()
    return SalesforceResource(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=info["ca_bundle"],
        **{**FAST_POLLING, **overrides},
    )


def resources_for(salesforce: SalesforceResource) -> dict[str, Any]:
    return {"salesforce": salesforce, "data_cloud": DataCloudResource(salesforce=salesforce)}


@contextmanager
def control(server: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        session.verify = str(server.ca_bundle)
        yield session


def emulator_get(server: EmulatorServer, path: str, **params: Any) -> Any:
    with control(server) as session:
        response = session.get(f"{server.url}/__emulator__/{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()


def change_rows(server: EmulatorServer, changes: Mapping[str, Any]) -> dict[str, int]:
    with control(server) as session:
        response = session.post(
            f"{server.url}/__emulator__/datacloud/rows", json=dict(changes), timeout=30
        )
        response.raise_for_status()
        body: dict[str, int] = response.json()
        return body


def uploads_per_job(server: EmulatorServer) -> dict[str, int]:
    """PUT .../jobs/ingest/<id>/batches per job id, from the emulator's request log."""
    entries = emulator_get(server, "requests", endpoint="bulk.ingest.upload")["requests"]
    counts: dict[str, int] = {}
    for entry in entries:
        if entry["method"] == "PUT":
            job_id = entry["path"].rstrip("/").split("/")[-2]
            counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def salesforce_external_ids(server: EmulatorServer) -> list[str]:
    """Every ``External_Id__c`` in the emulator's Opportunity table (duplicates kept)."""
    with server.emulator.store.cursor() as cursor:
        rows = cursor.execute('SELECT "External_Id__c" FROM "Opportunity"').fetchall()
    return [row[0] for row in rows]


def datacloud_ids(server: EmulatorServer) -> list[str | None]:
    backend = server.emulator.services["datacloud"]
    with backend.writable() as connection:
        rows = connection.execute('SELECT "ExternalId__c" FROM "ssot__Opportunity__dlm"').fetchall()
    return [row[0] for row in rows]


def plan_partitions(instance: dg.DagsterInstance, resources: Mapping[str, Any]) -> list[str]:
    """One tick of the planner sensor, its dynamic partition requests applied to the instance."""
    with dg.build_sensor_context(instance=instance, resources=dict(resources)) as context:
        result = opportunity_ranges_sensor(context)
    assert isinstance(result, dg.SensorResult), result
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(PARTITIONS_NAME, key)
        else:
            instance.add_dynamic_partitions(PARTITIONS_NAME, list(request.partition_keys))
    return list(instance.get_dynamic_partitions(PARTITIONS_NAME))


def materialize_range(
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    key: str,
    *,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """The asset and its two partitioned checks for one range, as ``opportunities_job`` runs them."""
    return dg.materialize(
        [salesforce_opportunities, no_missing_records, no_rejected_records],
        partition_key=key,
        resources=dict(resources),
        instance=instance,
        raise_on_error=raise_on_error,
    )


def plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


def load_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node(salesforce_opportunities.op.name)
    return plain(materialization.metadata)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}
