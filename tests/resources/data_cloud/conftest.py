"""Fixtures for Data Cloud client tests: an emulator with small pages, and clients logged in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dc_helpers import PAGE_ROWS, RECORDS, connect, sf_config

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudClient
from resources.salesforce import SalesforceClient


@pytest.fixture(scope="module")
def paged_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """Generated opportunities, served in pages of ``PAGE_ROWS``. Tests must not change the rows."""
    config = EmulatorConfig(
        data_dir=Path(tmp_path_factory.mktemp("dc-emulator")),
        records=RECORDS,
        datacloud_page_rows=PAGE_ROWS,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def sf_login(paged_emulator: EmulatorServer) -> Iterator[SalesforceClient]:
    with SalesforceClient(sf_config(paged_emulator)) as client:
        yield client


@pytest.fixture
def dc(paged_emulator: EmulatorServer, sf_login: SalesforceClient) -> Iterator[DataCloudClient]:
    with connect(paged_emulator, sf_login) as client:
        yield client
