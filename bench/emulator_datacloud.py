"""Read throughput of the emulated Data Cloud tenant: 2M rows through Query API V2 pages.

Generates the rows, starts the emulator over HTTPS, exchanges a token, then reads the whole
table ordered by ExternalId twice: as Arrow pages and as JSON pages (each page decoded by the
client, as a real reader would). The columns are the ones the loader maps (set
BENCH_DATACLOUD_COLUMNS=all for every DMO column). Targets: >= 500k rows/s Arrow, >= 100k rows/s
JSON. The emulator runs in its own process (``sfload emulator serve``), as it does for the demo;
server and client CPU seconds are printed next to wall time, with the load average: on a busy
machine wall time says little.

    uv run python -m bench emulator_datacloud          # BENCH_DATACLOUD_RECORDS=2000000
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import requests

from emulator.datacloud.backend import seed_tenant

COMMAND = "uv run python -m bench emulator_datacloud"
LOADER_COLUMNS = (
    "ExternalId__c",
    "ssot__Name__c",
    "ssot__TotalAmount__c",
    "ssot__Probability__c",
    "ssot__CloseDate__c",
    "ssot__OpportunityStageId__c",
    "ssot__OpportunityTypeId__c",
    "ssot__LeadSourceId__c",
    "ssot__Description__c",
    "ssot__NextStep__c",
    "ssot__OpportunityForecastCategoryId__c",
    "ssot__IsPrivate__c",
    "ssot__TotalProductQuantity__c",
)
EXCHANGE_GRANT = "urn:salesforce:grant-type:external:cdp"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class Reading:
    label: str
    rows: int
    pages: int
    body_bytes: int
    seconds: float
    cpu_seconds: float

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else float("inf")
        return (
            f"{self.label:<6} {self.rows:>10,} rows  {self.pages:>4} pages  "
            f"{self.body_bytes / 1e6:>9.1f} MB  {self.seconds:>7.2f} s wall  "
            f"{self.cpu_seconds:>7.2f} s cpu  {rate:>12,.0f} rows/s"
        )


def main() -> None:
    records = int(os.environ.get("BENCH_DATACLOUD_RECORDS", "2000000"))
    every_column = os.environ.get("BENCH_DATACLOUD_COLUMNS", "") == "all"
    columns = "*" if every_column else ", ".join(f'"{c}"' for c in LOADER_COLUMNS)
    sql = f'SELECT {columns} FROM "ssot__Opportunity__dlm" ORDER BY "ExternalId__c"'  # noqa: S608
    print(f"command: {COMMAND}  (BENCH_DATACLOUD_RECORDS={records})")
    with tempfile.TemporaryDirectory(prefix="bench-datacloud-") as tmp:
        data_dir = Path(tmp)
        started, cpu = time.perf_counter(), _cpu_seconds()
        seed_tenant(data_dir, records, seed=42)
        print(
            f"generate + load {records:,} rows into DuckDB: "
            f"{time.perf_counter() - started:.2f} s wall, {_cpu_seconds() - cpu:.2f} s cpu"
        )
        with _serve(data_dir) as (server, ready):
            session = _session(Path(ready["ca_bundle"]))
            base, token = _exchange(session, ready)
            for arrow in (True, False):
                server_cpu = _process_cpu_seconds(server)
                reading = _read_all(session, base, token, sql, arrow)
                server_cpu = _process_cpu_seconds(server) - server_cpu
                print(reading.line() + f"  (server {server_cpu:.2f} s cpu)")
                assert reading.rows == records, f"read {reading.rows} rows, expected {records}"
            server_peak_mb = psutil.Process(server.pid).memory_info().rss / 1e6
    client_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"query: {sql}")
    print(f"RSS: server {server_peak_mb:,.0f} MB at the end, client peak {client_peak_mb:,.0f} MB")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _serve(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``sfload emulator serve`` on the seeded directory; yields the process and its ready line."""
    command = [sys.executable, "-c", "from emulator.cli import emulator; emulator()", "serve"]
    server = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        yield server, ready
    finally:
        server.terminate()
        server.wait(timeout=60)


def _process_cpu_seconds(process: subprocess.Popen[str]) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def _session(ca_bundle: Path) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
    session.verify = str(ca_bundle)
    return session


def _exchange(session: requests.Session, ready: dict[str, Any]) -> tuple[str, str]:
    login = session.post(
        ready["login_url"] + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": ready["client_id"],
            "client_secret": ready["client_secret"],
            "username": ready["username"],
            "password": ready["password"],
        },
        timeout=30,
    )
    login.raise_for_status()
    core = login.json()
    response = session.post(
        core["instance_url"] + "/services/a360/token",
        data={
            "grant_type": EXCHANGE_GRANT,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "subject_token": core["access_token"],
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return "https://" + body["instance_url"], body["access_token"]


def _read_all(session: requests.Session, base: str, token: str, sql: str, arrow: bool) -> Reading:
    headers = {"Authorization": f"Bearer {token}"}
    if arrow:
        headers["enable-arrow-stream"] = "true"
    reading = Reading("arrow" if arrow else "json", 0, 0, 0, 0.0, 0.0)
    started, cpu = time.perf_counter(), _cpu_seconds()
    response = session.post(
        base + "/api/v2/query", json={"sql": sql}, headers=headers, timeout=600, stream=True
    )
    while True:
        response.raise_for_status()
        body = b"".join(response.iter_content(1 << 20))
        reading.body_bytes += len(body)
        page = json.loads(body)
        reading.rows += _decoded_rows(page, arrow)
        reading.pages += 1
        if page["done"]:
            break
        response = session.get(
            f"{base}/api/v2/query/{page['nextBatchId']}", headers=headers, timeout=600, stream=True
        )
    reading.seconds = time.perf_counter() - started
    reading.cpu_seconds = _cpu_seconds() - cpu
    return reading


def _decoded_rows(page: dict[str, object], arrow: bool) -> int:
    if arrow:
        stream = page["arrowStream"]
        assert isinstance(stream, str)
        return pa.ipc.open_stream(base64.b64decode(stream)).read_all().num_rows
    data = page["data"]
    assert isinstance(data, list)
    return len(data)


if __name__ == "__main__":
    main()
