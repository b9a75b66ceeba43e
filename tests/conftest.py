"""Shared fixtures: a real emulator over HTTPS on 127.0.0.1, started per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator for the whole session. Tests that change global state use ``fresh_emulator``."""
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("emulator"))
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def fresh_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(data_dir=tmp_path / "emulator")) as server:
        yield server


@pytest.fixture
def https(emulator_server: EmulatorServer) -> Iterator[requests.Session]:
    """A plain requests session that trusts the emulator's CA (and nothing is unverified)."""
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
        session.verify = str(emulator_server.ca_bundle)
        yield session
