"""Helpers shared by the Salesforce client tests (imported by name, unlike conftest)."""

from __future__ import annotations

from emulator.server import EmulatorServer
from resources.salesforce import PollSettings, SalesforceConfig
from resources.salesforce.bulk import IngestSettings


def client_config(server: EmulatorServer, **overrides: object) -> SalesforceConfig:
    info = server.ready_info()
    values: dict[str, object] = {
        "login_url": info["login_url"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "ca_bundle": info["ca_bundle"],
        "connect_timeout_s": 5.0,
        "read_timeout_s": 30.0,
        "max_retries": 3,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
    }
    values.update(overrides)
    return SalesforceConfig(**values)  # type: ignore[arg-type]


FAST_POLL = PollSettings(initial_s=0.05, factor=1.5, max_s=0.3, deadline_s=60)


def fast_ingest(**overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "poll": FAST_POLL,
        "expected_rows_per_s": 1e9,
        "resubmit_backoff_s": 0.05,
        "jobs_in_flight": 2,
    }
    values.update(overrides)
    return IngestSettings(**values)  # type: ignore[arg-type]
