"""Emulator Bulk API 2.0 ingest throughput: a 2M-row Opportunity upsert in several ≤100 MB jobs.

Command: ``uv run python -m bench emulator_ingest`` (``BENCH_INGEST_RECORDS`` overrides the 2M rows,
``BENCH_INGEST_JOB_ROWS`` the rows per job). Starts its own emulator on 127.0.0.1 in a temporary
directory, uploads every job over HTTPS, closes them all, and reports the processing rate from the
first close to the last JobComplete — once for a load into an empty org (creates) and once more
for the same rows (updates). Prints figures, asserts nothing.
"""

from __future__ import annotations

import io
import os
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import requests

from emulator.config import EmulatorConfig
from emulator.core.csv_dialect import row_numbers
from emulator.core.schema import STAGES
from emulator.server import EmulatorServer
from emulator.tokens import TokenKind
from resources.salesforce.protocol import MAX_UPLOAD_BYTES

COMMAND = "uv run python -m bench emulator_ingest"
VERSION = "59.0"


def opportunities(count: int) -> pa.Table:
    """``count`` valid Opportunity rows, built column-wise (no Python loop over rows)."""
    ids = pc.cast(row_numbers(count), pa.string())
    padded = pc.utf8_lpad(ids, width=9, padding="0")
    stages = pa.array(STAGES).take(pc.bit_wise_and(row_numbers(count), 7))
    day = pc.add(pc.bit_wise_and(row_numbers(count), 27), 1)
    close_date = pc.binary_join_element_wise(
        "2025-03-", pc.utf8_lpad(pc.cast(day, pa.string()), width=2, padding="0"), ""
    )
    amount = pc.binary_join_element_wise(ids, "50", ".")
    return pa.table(
        {
            "External_Id__c": pc.binary_join_element_wise("OPP-", padded, ""),
            "Name": pc.binary_join_element_wise("Opportunity ", ids, ""),
            "StageName": stages,
            "CloseDate": close_date,
            "Amount": amount,
            "Description": pc.binary_join_element_wise('Generated, "bench" row ', ids, ""),
        }
    )


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue()


def main() -> None:
    records = int(os.environ.get("BENCH_INGEST_RECORDS", "2000000"))
    job_rows = int(os.environ.get("BENCH_INGEST_JOB_ROWS", "500000"))
    started = time.perf_counter()
    table = opportunities(records)
    chunks = [csv_bytes(table.slice(start, job_rows)) for start in range(0, records, job_rows)]
    del table
    largest = max(len(c) for c in chunks)
    assert largest <= MAX_UPLOAD_BYTES, "a job would exceed 100 MB"
    print(
        f"generated {records:,} rows in {len(chunks)} jobs (largest {largest / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorServer(EmulatorConfig(data_dir=Path(tmp))) as server,
    ):
        session = _session(server)
        for label in ("create", "update"):
            cpu_before = time.process_time()
            seconds = _load(server, session, chunks)
            cpu = time.process_time() - cpu_before
            print(
                f"{label}: {records:,} rows in {seconds:.2f} s = {records / seconds:,.0f} rows/s "
                f"(first close to last JobComplete); {cpu:.1f} CPU-s = "
                f"{records / cpu:,.0f} rows per CPU-second; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process (generator + emulator): {peak_mb:,.0f} MB")
    print(f"command: {COMMAND}")


def _session(server: EmulatorServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_bundle)
    token = server.emulator.tokens.issue(
        TokenKind.CORE, server.config.username, server.config.client_id, 3600.0
    )
    session.headers["Authorization"] = f"Bearer {token.value}"
    return session


def _load(server: EmulatorServer, session: requests.Session, chunks: list[bytes]) -> float:
    base = f"{server.url}/services/data/v{VERSION}/jobs/ingest"
    job_ids = []
    for chunk in chunks:
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
        put = session.put(
            f"{base}/{job['id']}/batches",
            data=chunk,
            headers={"Content-Type": "text/csv"},
            timeout=300,
        )
        put.raise_for_status()
        job_ids.append(job["id"])
    started = time.perf_counter()
    for job_id in job_ids:
        session.patch(f"{base}/{job_id}", json={"state": "UploadComplete"}, timeout=60)
    for job_id in job_ids:
        while True:
            info = session.get(f"{base}/{job_id}", timeout=60).json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            time.sleep(0.05)
        if info["state"] != "JobComplete" or info["numberRecordsFailed"]:
            print(
                f"  job {job_id}: {info['state']} failed={info['numberRecordsFailed']} "
                f"{info.get('errorMessage', '')}"
            )
    return time.perf_counter() - started
