"""sfload against the emulator (3,000 generated rows): plan, load, status, diagnose, and an emergency
stop in the middle of a load followed by a restart that finishes it with nothing missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from click.testing import CliRunner

from assets.partitions import PARTITIONS_NAME
from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from orchestration import operations as ops
from orchestration.cli import main

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

ROWS = 3_000
OPEN_STATES = ("Open", "UploadComplete", "InProgress")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(data_dir=tmp_path / "emulator", records=ROWS)
    with EmulatorServer(config) as running:
        yield running


@pytest.fixture
def env(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    ops.prepare_home(home)
    values = {**ops.env_for_emulator(server.ready_info()), "DAGSTER_HOME": str(home)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def control(server: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        session.verify = str(server.ca_bundle)
        yield session


def stats(server: EmulatorServer, control: requests.Session) -> dict[str, Any]:
    response = control.get(f"{server.url}/__emulator__/stats", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def open_jobs(server: EmulatorServer, control: requests.Session) -> int:
    by_state = stats(server, control)["ingest"]["jobs_by_state"]
    return sum(int(by_state.get(state, 0)) for state in OPEN_STATES)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_plan_load_status_diagnose(
    env: dict[str, str], server: EmulatorServer, control: requests.Session
) -> None:
    code, out = invoke("plan", "--dry-run", "--partitions", "3", "--json")
    assert code == 0, out
    dry = json.loads(out)
    assert sum(r["rows"] for r in dry["ranges"]) == ROWS
    assert dry["total"]["internal_batches"] >= len(dry["ranges"])
    assert dry["fits_quota"] is True and dry["applied"] is False
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(PARTITIONS_NAME) == []

    code, out = invoke("plan", "--partitions", "3")
    assert code == 0, out
    assert "Verdict: fits" in out
    with dg.DagsterInstance.get() as instance:
        keys = ops.current_keys(instance)
    assert keys == [r["key"] for r in dry["ranges"]]

    code, out = invoke("load", "--all")
    assert code == 0, out
    assert "Reconciliation:" in out
    assert "OK: every range loaded and checked" in out
    assert stats(server, control)["rows"]["Opportunity"] == ROWS
    assert open_jobs(server, control) == 0

    code, out = invoke("status", "--json")
    assert code == 0, out
    ranges = json.loads(out)["ranges"]
    assert [r["key"] for r in ranges] == keys
    assert sum(r["source_rows"] for r in ranges) == ROWS
    for r in ranges:
        assert r["last_run_status"] == "SUCCESS"
        assert r["missing_unexplained"] == 0 and r["check"] == "passed"
        assert r["target_rows"] == r["source_rows"]
        assert not r["in_flight"]

    code, out = invoke("diagnose")
    assert code == 0, out
    assert "DailyBulkApiBatches" in out
    assert "Rejected by Salesforce, by error code: none" in out
    assert env["SALESFORCE_CLIENT_SECRET"] not in out

    code, out = invoke("load", keys[0], "--json")
    assert code == 0, out
    again = json.loads(out)
    assert [r["key"] for r in again["ranges"]] == [keys[0]]
    assert again["ranges"][0]["updated"] == again["ranges"][0]["rows_read"] > 0


def _wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_stop_during_a_load_then_restart_finishes_it(
    env: dict[str, str], server: EmulatorServer, control: requests.Session
) -> None:
    code, out = invoke("plan", "--partitions", "3")
    assert code == 0, out
    # Jobs wait a minute in the queue: the load is certainly in the middle when we stop it.
    control.post(
        f"{server.url}/__emulator__/faults", json={"ingest": {"queue_delay_s": 60}}, timeout=10
    ).raise_for_status()
    loading = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "load", "--all"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: open_jobs(server, control) >= 1, 120, "a Bulk job of the load")

        code, out = invoke("stop", "--timeout", "60")

        assert code == 0, out
        assert "Runs terminated:" in out
        with dg.DagsterInstance.get() as instance:
            assert ops.in_flight_runs(instance) == []
        assert open_jobs(server, control) == 0
        load_out, _ = loading.communicate(timeout=120)
        assert loading.returncode == 1, load_out.decode()
        assert "PROBLEM" in load_out.decode()
    finally:
        if loading.poll() is None:
            loading.kill()
            loading.wait()
    assert stats(server, control)["rows"]["Opportunity"] < ROWS

    control.post(f"{server.url}/__emulator__/faults", json={}, timeout=10).raise_for_status()
    code, out = invoke("restart")

    assert code == 0, out
    assert "OK: every range loaded and checked" in out
    assert stats(server, control)["rows"]["Opportunity"] == ROWS
    code, out = invoke("status", "--json")
    for r in json.loads(out)["ranges"]:
        assert r["missing_unexplained"] == 0
        assert r["last_run_status"] == "SUCCESS"
