"""Helpers for Data Cloud client tests against the emulator (imported by tests and conftest)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb

from emulator.datacloud import schema
from emulator.datacloud.handlers import backend_of
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudClient, SalesforceCoreAuth
from resources.http import HttpSettings
from resources.salesforce import SalesforceClient, SalesforceConfig

PAGE_ROWS = 1000
RECORDS = 3500  # four pages when read whole


def sf_config(server: EmulatorServer) -> SalesforceConfig:
    info = server.ready_info()
    return SalesforceConfig(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=info["ca_bundle"],
        connect_timeout_s=5.0,
        read_timeout_s=30.0,
        max_retries=3,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
    )


def http_settings(server: EmulatorServer) -> HttpSettings:
    return HttpSettings(
        connect_timeout_s=5.0,
        read_timeout_s=60.0,
        max_retries=3,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        ca_bundle=str(server.ca_bundle),
    )


def connect(server: EmulatorServer, sf: SalesforceClient, **kwargs: object) -> DataCloudClient:
    return DataCloudClient.connect(
        SalesforceCoreAuth(sf.auth),
        http=http_settings(server),
        **kwargs,  # type: ignore[arg-type]
    )


@contextmanager
def tenant_db(server: EmulatorServer) -> Iterator[duckdb.DuckDBPyConnection]:
    """The tenant's own DuckDB database, opened for writing (open query cursors are dropped)."""
    with backend_of(server.emulator).writable() as connection:
        yield connection


def replace_ids(server: EmulatorServer, ids: Iterable[str | None]) -> None:
    """Make the Opportunity DMO hold exactly one row per id (other columns NULL)."""
    table = schema.quote_identifier(schema.TABLE_NAME)
    key = schema.quote_identifier(schema.EXTERNAL_ID)
    with tenant_db(server) as cur:
        cur.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed identifiers
        cur.execute(f"INSERT INTO {table} ({key}) SELECT unnest(?::VARCHAR[])", [list(ids)])
