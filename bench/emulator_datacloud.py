"""Read throughput of the emulated Data Cloud tenant: 2M rows through Query API V2 pages.

Generates the rows, starts the emulator over HTTPS, exchanges a token, then reads the whole
table ordered by ExternalId twice: as Arrow pages and as JSON pages (each page decoded by the
client, as a real reader would). Targets: >= 500k rows/s Arrow, >= 100k rows/s JSON.

    uv run python -m bench emulator_datacloud          # BENCH_DATACLOUD_RECORDS=2000000
"""

from __future__ import annotations

import base64
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import requests

from emulator.config import EmulatorConfig
from emulator.datacloud.backend import seed_tenant
from emulator.server import EmulatorServer
from emulator.tokens import TokenKind

COMMAND = "uv run python -m bench emulator_datacloud"
SQL = 'SELECT * FROM "ssot__Opportunity__dlm" ORDER BY "ExternalId__c"'
EXCHANGE_GRANT = "urn:salesforce:grant-type:external:cdp"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class Reading:
    label: str
    rows: int
    pages: int
    body_bytes: int
    seconds: float

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else float("inf")
        return (
            f"{self.label:<6} {self.rows:>10,} rows  {self.pages:>4} pages  "
            f"{self.body_bytes / 1e6:>9.1f} MB  {self.seconds:>7.2f} s  {rate:>12,.0f} rows/s"
        )


def main() -> None:
    records = int(os.environ.get("BENCH_DATACLOUD_RECORDS", "2000000"))
    with tempfile.TemporaryDirectory(prefix="bench-datacloud-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        seed_tenant(data_dir, records, seed=42)
        generated = time.perf_counter() - started
        print(f"command: {COMMAND}  (BENCH_DATACLOUD_RECORDS={records})")
        print(f"generate + load {records:,} rows into DuckDB: {generated:.2f} s")
        with EmulatorServer(EmulatorConfig(data_dir=data_dir, records=records)) as server:
            session = _session(server)
            base, token = _exchange(server, session)
            for arrow in (True, False):
                reading = _read_all(session, base, token, arrow)
                print(reading.line())
                assert reading.rows == records, f"read {reading.rows} rows, expected {records}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"query: {SQL}")
    print(f"peak RSS (server and client in one process): {peak_mb:,.0f} MB")


def _session(server: EmulatorServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
    session.verify = str(server.ca_bundle)
    return session


def _exchange(server: EmulatorServer, session: requests.Session) -> tuple[str, str]:
    config = server.config
    core = server.emulator.tokens.issue(TokenKind.CORE, config.username, config.client_id, 3600.0)
    response = session.post(
        server.url + "/services/a360/token",
        data={
            "grant_type": EXCHANGE_GRANT,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "subject_token": core.value,
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return "https://" + body["instance_url"], body["access_token"]


def _read_all(session: requests.Session, base: str, token: str, arrow: bool) -> Reading:
    headers = {"Authorization": f"Bearer {token}"}
    if arrow:
        headers["enable-arrow-stream"] = "true"
    reading = Reading("arrow" if arrow else "json", 0, 0, 0, 0.0)
    started = time.perf_counter()
    response = session.post(base + "/api/v2/query", json={"sql": SQL}, headers=headers, timeout=600)
    while True:
        response.raise_for_status()
        reading.body_bytes += len(response.content)
        page = response.json()
        reading.rows += _decoded_rows(page, arrow)
        reading.pages += 1
        if page["done"]:
            break
        response = session.get(
            f"{base}/api/v2/query/{page['nextBatchId']}", headers=headers, timeout=600
        )
    reading.seconds = time.perf_counter() - started
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
