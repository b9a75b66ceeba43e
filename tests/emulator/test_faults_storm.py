"""The storm plan, scaled to a small load: our Bulk client still finishes and loses nothing."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests

from emulator.config import EmulatorConfig
from emulator.faults import NAMED_PLANS
from emulator.server import EmulatorServer
from resources.salesforce import (
    BulkIngest,
    ObjectSpec,
    PollSettings,
    SalesforceClient,
    SalesforceConfig,
)
from resources.salesforce.bulk import IngestSettings

pytestmark = pytest.mark.emulator

ROWS = 2_000


def small_storm() -> dict[str, Any]:
    """``storm`` with its rates doubled and its thresholds scaled to a 2,000-row load."""
    plan = copy.deepcopy(NAMED_PLANS["storm"])
    for rule in plan["http"]:
        rule["rate"] = min(1.0, rule["rate"] * 2)
        if rule["kind"] == "slow":
            rule["delay_s"] = 0.02
    plan["ingest"].update(fail_after_rows=400, lock_error_rate=0.01, queue_delay_s=0.1)
    return plan


def opportunities(n: int) -> pa.Table:
    ids = [f"STORM-{i:05d}" for i in range(n)]
    return pa.table(
        {
            "External_Id__c": ids,
            "Name": [f"Deal {i}" for i in ids],
            "StageName": ["Prospecting"] * n,
            "CloseDate": pa.array([dt.date(2025, 6, 30)] * n, pa.date32()),
            "Amount": pa.array([Decimal("99.95")] * n, pa.decimal128(18, 2)),
        }
    )


def test_a_correct_client_finishes_a_load_in_a_storm(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path / "storm", extra={"faults": small_storm()})
    with EmulatorServer(config) as server:
        info = server.ready_info()
        client_config = SalesforceConfig(
            login_url=info["login_url"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            ca_bundle=info["ca_bundle"],
            connect_timeout_s=5.0,
            read_timeout_s=30.0,
            max_retries=4,
            backoff_base_s=0.02,
            backoff_cap_s=0.2,
        )
        settings = IngestSettings(
            max_job_rows=1_000,
            jobs_in_flight=2,
            poll=PollSettings(initial_s=0.05, factor=1.5, max_s=0.3, deadline_s=120),
            expected_rows_per_s=1e9,
            resubmit_backoff_s=0.02,
        )
        with SalesforceClient(client_config) as client:
            spec = ObjectSpec("Opportunity", "External_Id__c")
            report = BulkIngest(client, spec, settings).run(opportunities(ROWS).to_batches())
        with requests.Session() as session:
            session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
            session.verify = info["ca_bundle"]
            stats = session.get(f"{server.url}/__emulator__/stats", timeout=20).json()

    injected = stats["faults"]["injected"]
    assert report.balanced
    assert report.rejected_count == 0
    assert report.created == ROWS
    assert stats["rows"]["Opportunity"] == ROWS
    assert injected["jobs_failed_part_way"] >= 2
    assert injected["unable_to_lock_row"] >= 1
    assert injected["batch_retries"] >= 1
    assert sum(injected.get(k, 0) for k in ("http_503", "http_502", "http_420", "drop")) >= 1
