"""``make demo`` end to end with a few thousand rows: emulator child process, plan, load through
Dagster, reconciliation with nothing missing, the UI hint, and the emulator stopped afterwards."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.resources import ENV_VARS

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

ROWS = 4_000


def test_demo_loads_every_range_and_leaves_the_runs_in_the_instance(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["DAGSTER_HOME"] = str(home)
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.demo",
            "--records",
            str(ROWS),
            "--partitions",
            "4",
            "--data-dir",
            str(tmp_path / "emulator"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = demo.stdout + demo.stderr
    assert demo.returncode == 0, out
    assert "Verdict: fits" in out
    assert "OK: every range loaded and checked, nothing missing unexplained." in out
    assert "make dev" in out
    assert f"{ROWS:,} rows read" in out
    assert "sfload-emulator-secret" not in out  # the emulator's client secret is never printed

    address = re.search(r"Emulator ready at https://([\d.]+):(\d+)", out)
    assert address is not None
    with pytest.raises(ConnectionRefusedError):  # the demo stopped its emulator
        socket.create_connection((address.group(1), int(address.group(2))), timeout=5).close()

    with dg.DagsterInstance.from_config(str(home)) as instance:
        keys = instance.get_dynamic_partitions("opportunity_ranges")
        assert len(keys) >= 2
        runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(keys)
        pools = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert pools["salesforce_bulk"] == 10
