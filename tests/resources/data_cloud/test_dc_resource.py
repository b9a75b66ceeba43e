"""``DataCloudResource`` in Dagster: logs in through ``SalesforceResource``, keeps secrets out."""

from __future__ import annotations

import dagster as dg
import pytest
from dc_helpers import RECORDS

from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudResource, KeyStats
from resources.salesforce import SalesforceResource

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]


def make_resource(server: EmulatorServer, **overrides: object) -> DataCloudResource:
    info = server.ready_info()
    salesforce = SalesforceResource(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=dg.EnvVar("TEST_SF_CLIENT_SECRET"),
        ca_bundle=info["ca_bundle"],
    )
    return DataCloudResource(salesforce=salesforce, **overrides)  # type: ignore[arg-type]


def test_asset_reads_key_stats_and_rows_through_the_resource(
    paged_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = paged_emulator.ready_info()["client_secret"]
    monkeypatch.setenv("TEST_SF_CLIENT_SECRET", secret)

    @dg.asset
    def probe(data_cloud: DataCloudResource) -> dg.MaterializeResult:
        stats = data_cloud.key_stats()
        first_ids = data_cloud.ids(None, stats.min_key + "\x01" if stats.min_key else None)
        return dg.MaterializeResult(
            metadata={"rows": stats.row_count, "first": first_ids.read_all().num_rows}
        )

    result = dg.materialize([probe], resources={"data_cloud": make_resource(paged_emulator)})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("probe")
    assert materialization.metadata["rows"].value == RECORDS
    assert materialization.metadata["first"].value == 1
    assert secret not in str(result.all_events)


def test_object_and_key_come_from_config(
    paged_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SF_CLIENT_SECRET", paged_emulator.ready_info()["client_secret"])
    resource = make_resource(paged_emulator, key_column="ssot__Id__c", prefer_arrow=False)
    with dg.build_resources({"data_cloud": resource}) as built:
        stats = built.data_cloud.key_stats()
    assert isinstance(stats, KeyStats)
    assert stats.key_count == RECORDS  # every generated row has a record id


def test_repr_names_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = DataCloudResource(
        salesforce=SalesforceResource(
            login_url="https://login.example", client_id="cid", client_secret="s3cr3t-value"
        )
    )
    assert "s3cr3t-value" not in repr(resource)
    assert "s3cr3t-value" not in str(resource)
