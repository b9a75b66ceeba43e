"""``sfload emulator seed`` and the data/fault options of ``serve``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from click.testing import CliRunner

from emulator import profiles
from emulator.cli import emulator as emulator_cli


def run_cli(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(emulator_cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.output.strip().splitlines()[-1])
    return report


def tenant_rows(data_dir: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "datacloud.duckdb"), read_only=True) as connection:
        return connection.execute(
            'SELECT * FROM ssot__Opportunity__dlm ORDER BY "ssot__Id__c"'
        ).fetchall()


@pytest.mark.unit
def test_seed_is_deterministic_and_reports_exact_counts(tmp_path: Path) -> None:
    args = ["seed", "--records", "1500", "--seed", "9", "--profile", "messy"]
    first = run_cli(*args, "--data-dir", str(tmp_path / "a"))
    run_cli(*args, "--data-dir", str(tmp_path / "b"))

    assert first["counts"] == profiles.messy_counts(1500)
    assert first["expected_loader"] == profiles.expected_loader_outcome(first["counts"], 1500)  # type: ignore[arg-type]
    assert tenant_rows(tmp_path / "a") == tenant_rows(tmp_path / "b")
    assert len(tenant_rows(tmp_path / "a")) == 1500
    saved = json.loads((tmp_path / "a" / profiles.PROFILE_FILE).read_text())
    assert saved["counts"] == first["counts"]


@pytest.mark.unit
def test_seed_replaces_earlier_rows(tmp_path: Path) -> None:
    run_cli("seed", "--records", "400", "--data-dir", str(tmp_path))
    report = run_cli("seed", "--records", "100", "--profile", "clean", "--data-dir", str(tmp_path))

    assert report["counts"] == {}
    assert len(tenant_rows(tmp_path)) == 100


@pytest.mark.unit
def test_seed_from_parquet_loads_user_rows(tmp_path: Path) -> None:
    rows = pa.table(
        {
            "ExternalId__c": ["U-1", "U-2", "u-1"],
            "ssot__Name__c": ["One", "Two", "one"],
            "ssot__TotalAmount__c": pa.array([1.5, 2.0, None]),
        }
    )
    parquet = tmp_path / "rows.parquet"
    pq.write_table(rows, parquet)

    report = run_cli("seed", "--from-parquet", str(parquet), "--data-dir", str(tmp_path / "d"))
    stored = tenant_rows(tmp_path / "d")

    assert report["records"] == 3
    assert report["source"] == "rows.parquet"
    assert sorted(r[-1] for r in stored) == ["U-1", "U-2", "u-1"]


@pytest.mark.unit
def test_parquet_with_foreign_columns_is_refused(tmp_path: Path) -> None:
    parquet = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"ExternalId__c": ["A"], "Surprise": [1]}), parquet)

    with pytest.raises(ValueError, match="Surprise"):
        profiles.load_parquet(tmp_path / "d", parquet)


@pytest.mark.emulator
def test_serve_seeds_the_profile_and_starts_with_the_fault_plan(tmp_path: Path) -> None:
    data_dir = tmp_path / "served"
    command = [
        sys.executable,
        "-c",
        "from emulator.cli import emulator; emulator()",
        "serve",
        "--data-dir",
        str(data_dir),
        "--records",
        "800",
        "--seed",
        "3",
        "--profile",
        "messy",
        "--faults",
        '{"name": "flaky-limits", "http": [{"kind": "error", "status": 503, "endpoints": ["rest.versions"]}]}',
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        with requests.Session() as session:
            session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
            session.verify = ready["ca_bundle"]
            stats = session.get(f"{ready['url']}/__emulator__/stats", timeout=20).json()
            versions = session.get(f"{ready['url']}/services/data", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    assert stats["rows"]["datacloud"] == 800
    assert stats["datacloud"]["profile"]["counts"] == profiles.messy_counts(800)
    assert stats["faults"]["plan"]["name"] == "flaky-limits"
    assert versions.status_code == 503


@pytest.mark.unit
def test_serve_refuses_an_unknown_fault_plan(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        emulator_cli, ["serve", "--data-dir", str(tmp_path), "--faults", "hurricane"]
    )

    assert result.exit_code != 0
    assert "--faults" in result.output
