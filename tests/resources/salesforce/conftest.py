"""Fixtures for Salesforce client tests against the emulator over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sf_support import client_config

from emulator.server import EmulatorServer
from resources.salesforce import SalesforceClient


@pytest.fixture
def sf(fresh_emulator: EmulatorServer) -> Iterator[SalesforceClient]:
    with SalesforceClient(client_config(fresh_emulator)) as client:
        yield client
