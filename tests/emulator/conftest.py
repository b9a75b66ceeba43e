"""Fixtures for the Bulk API 2.0 ingest tests: an emulator per module and a wire client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_wire import IngestClient

from emulator.config import EmulatorConfig
from emulator.core.ingest_jobs import IngestSettings
from emulator.server import EmulatorServer


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator of this module's own, so ingest writes never leak into other tests' data."""
    data_dir: Path = tmp_path_factory.mktemp("ingest-emulator")
    with EmulatorServer(EmulatorConfig(data_dir=data_dir)) as server:
        yield server


@pytest.fixture
def ingest(ingest_server: EmulatorServer) -> Iterator[IngestClient]:
    """A wire client; afterwards jobs, Opportunity rows and ``IngestSettings`` are reset."""
    client = IngestClient(ingest_server)
    yield client
    client.session.close()
    client.backend.reset()
    assert client.backend.settings == IngestSettings()
