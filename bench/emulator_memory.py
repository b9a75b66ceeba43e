"""Peak memory (RSS) of the emulator process holding 2M rows on each side.

Seeds ``--records`` Data Cloud rows with ``sfload emulator seed`` in a process of its own (with
``BENCH_MEMORY_SEED=serve``: inside the server, by ``serve --records``, so the generator's peak
counts too), runs ``sfload emulator serve`` as a child process, upserts as many Opportunity rows through Bulk API 2.0
jobs of <= 100 MB, then reads the whole Data Cloud table once through Arrow pages, ordered by
ExternalId: the loader's columns by default, every column with ``BENCH_MEMORY_COLUMNS=all``.
A sampler thread reads the child's RSS (psutil, the child and its children) every 100 ms and
keeps the peak of each phase. Target: peak <= 1.5 GB. Prints figures, asserts nothing.

``BENCH_MEMORY_DUCKDB_LIMIT=512MB`` lowers the tenant database's DuckDB ``memory_limit`` in the
child (default ``emulator.datacloud.backend.MEMORY_LIMIT``), ``BENCH_MEMORY_CORE_LIMIT=512MB``
sets one on the org's database (default: DuckDB's, 80% of RAM), to show how much of the peak is
DuckDB's buffer pools (profiling only: the product code is not changed by these).

    uv run python -m bench emulator_memory    # BENCH_MEMORY_RECORDS=2000000
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.emulator_datacloud import LOADER_COLUMNS
from bench.emulator_ingest import csv_bytes, opportunities

COMMAND = "uv run python -m bench emulator_memory"
VERSION = "59.0"
TARGET_MB = 1536


class RssSampler:
    """The peak RSS of a process tree, sampled in a background thread."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.process = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0
        self.phase_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        try:
            tree = [self.process, *self.process.children(recursive=True)]
            return sum(p.memory_info().rss for p in tree)
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            now = self.current()
            self.peak = max(self.peak, now)
            self.phase_peak = max(self.phase_peak, now)

    def end_phase(self) -> str:
        """This phase's peak and the RSS now, as text; the next phase starts."""
        now = self.current()
        text = f"peak {_mb(max(self.phase_peak, now))}, now {_mb(now)}"
        self.phase_peak = 0
        return text

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    records = int(os.environ.get("BENCH_MEMORY_RECORDS", "2000000"))
    job_rows = int(os.environ.get("BENCH_MEMORY_JOB_ROWS", "500000"))
    seed_in_server = os.environ.get("BENCH_MEMORY_SEED", "separate") == "serve"
    with tempfile.TemporaryDirectory() as tmp:
        if not seed_in_server:
            started = time.perf_counter()
            subprocess.run(_cli("seed", Path(tmp), records), check=True, stdout=subprocess.DEVNULL)
            print(
                f"seeded {records:,} rows in a separate process in {time.perf_counter() - started:.0f} s"
            )
        child = subprocess.Popen(
            _cli("serve", Path(tmp), records if seed_in_server else 0),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            with RssSampler(child.pid) as sampler:
                ready = json.loads(child.stdout.readline() if child.stdout else "{}")
                print(f"serving {records:,} Data Cloud rows: {sampler.end_phase()}")
                session = _session(ready)
                seconds = _upsert(ready, session, records, job_rows)
                print(
                    f"upserted {records:,} Opportunity rows in {seconds:.1f} s: "
                    f"{sampler.end_phase()}"
                )
                columns = os.environ.get("BENCH_MEMORY_COLUMNS", "loader")
                seconds, rows = _read_arrow(ready, session, columns)
                print(
                    f"read {rows:,} Data Cloud rows ({columns} columns) as Arrow in "
                    f"{seconds:.1f} s: {sampler.end_phase()}"
                )
                stats = session.get(f"{ready['url']}/__emulator__/stats", timeout=60).json()
                time.sleep(0.3)
                times = psutil.Process(child.pid).cpu_times()
            print(f"CPU of the emulator process: {times.user + times.system:.1f} s")
            print(f"rows held: {stats['rows']}")
            verdict = "meets" if sampler.peak <= TARGET_MB * 2**20 else "MISSES"
            print(
                f"peak RSS of the emulator process: {_mb(sampler.peak)} "
                f"({verdict} the {TARGET_MB} MB target)"
            )
        finally:
            child.terminate()
            child.wait(timeout=60)
    print(f"command: {COMMAND}")


def _cli(command: str, data_dir: Path, records: int) -> list[str]:
    limit = os.environ.get("BENCH_MEMORY_DUCKDB_LIMIT")
    core_limit = os.environ.get("BENCH_MEMORY_CORE_LIMIT")
    setup = f"import emulator.datacloud.backend as b; b.MEMORY_LIMIT = {limit!r}; " if limit else ""
    if core_limit:
        setup += (
            "import emulator.store as s; _init = s.Store.__init__\n"
            "def _limited(self, path):\n"
            "    _init(self, path)\n"
            f"    self._root.execute(\"SET memory_limit = '{core_limit}'\")\n"
            "s.Store.__init__ = _limited\n"
        )
    return [
        sys.executable,
        "-c",
        setup + "from emulator.cli import emulator; emulator()",
        command,
        "--data-dir",
        str(data_dir),
        "--records",
        str(records),
        "--seed",
        "1",
    ]


def _session(ready: dict[str, Any]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
    session.verify = ready["ca_bundle"]
    token = session.post(
        f"{ready['url']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ready["client_id"],
            "client_secret": ready["client_secret"],
        },
        timeout=60,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _upsert(ready: dict[str, Any], session: requests.Session, records: int, job_rows: int) -> float:
    base = f"{ready['url']}/services/data/v{VERSION}/jobs/ingest"
    table = opportunities(records)
    started = time.perf_counter()
    job_ids = []
    for start in range(0, records, job_rows):
        job = session.post(
            base,
            json={
                "object": "Opportunity",
                "operation": "upsert",
                "externalIdFieldName": "External_Id__c",
                "lineEnding": "LF",
            },
            timeout=60,
        ).json()
        chunk = csv_bytes(table.slice(start, job_rows))
        session.put(
            f"{base}/{job['id']}/batches",
            data=chunk,
            headers={"Content-Type": "text/csv"},
            timeout=600,
        ).raise_for_status()
        session.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}, timeout=60)
        job_ids.append(job["id"])
    for job_id in job_ids:
        while session.get(f"{base}/{job_id}", timeout=60).json()["state"] not in (
            "JobComplete",
            "Failed",
            "Aborted",
        ):
            time.sleep(0.2)
    return time.perf_counter() - started


def _read_arrow(
    ready: dict[str, Any], session: requests.Session, columns: str
) -> tuple[float, int]:
    token = session.post(
        f"{ready['url']}/services/a360/token",
        data={
            "grant_type": "urn:salesforce:grant-type:external:cdp",
            "subject_token": session.headers["Authorization"].split()[1],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
        timeout=60,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "enable-arrow-stream": "true"}
    url = f"https://{ready['url'].split('://', 1)[1]}/api/v2/query"
    started = time.perf_counter()
    selected = "*" if columns == "all" else ", ".join(f'"{c}"' for c in LOADER_COLUMNS)
    sql = f'SELECT {selected} FROM ssot__Opportunity__dlm ORDER BY "ExternalId__c"'  # noqa: S608
    page = session.post(url, json={"sql": sql}, headers=headers, timeout=600).json()
    rows = page["rowCount"]
    while not page["done"]:
        page = session.get(f"{url}/{page['nextBatchId']}", headers=headers, timeout=600).json()
        rows += page["rowCount"]
    return time.perf_counter() - started, rows


def _mb(value: int) -> str:
    return f"{value / 2**20:,.0f} MB"


if __name__ == "__main__":
    main()
