"""API calls and wall time of a clean upsert: 10 ranges in parallel against the emulator.

Command: ``uv run python -m bench client_upsert`` (``BENCH_UPSERT_ROWS`` overrides 1M rows, i.e.
100k per range; the API-call figure is scaled to 1M rows). Ingest settings are the defaults. Starts its own emulator on 127.0.0.1 in a temporary
directory; prints figures, asserts nothing. Target: <= 60 Bulk API calls per 1M rows.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.client_encode import mapped, source_batch
from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from resources.salesforce import BulkIngest, IngestReport, SalesforceClient, SalesforceConfig
from resources.salesforce.bulk import IngestSettings, ObjectSpec

SPEC = ObjectSpec("Opportunity", "External_Id__c")
RANGES = 10


def load_range(sf: SalesforceClient, start: int, rows: int) -> IngestReport:
    batches = (
        mapped(source_batch(min(50_000, start + rows - at), at))
        for at in range(start, start + rows, 50_000)
    )
    # The resource's defaults (first poll after rows / expected_rows_per_s, then capped backoff).
    return BulkIngest(sf, SPEC, IngestSettings()).run(batches)


def main() -> None:
    total = int(os.environ.get("BENCH_UPSERT_ROWS", "1000000"))
    per_range = total // RANGES
    with tempfile.TemporaryDirectory() as tmp:
        server = EmulatorServer(EmulatorConfig(data_dir=Path(tmp))).start()
        try:
            info = server.ready_info()
            config = SalesforceConfig(
                login_url=info["login_url"],
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                ca_bundle=info["ca_bundle"],
            )
            with SalesforceClient(config) as sf:
                sf.access_token()
                before = sf.api_calls
                started, cpu = time.perf_counter(), time.process_time()
                with ThreadPoolExecutor(RANGES) as pool:
                    reports = list(
                        pool.map(lambda i: load_range(sf, i * per_range, per_range), range(RANGES))
                    )
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                calls = sf.api_calls - before
                by_label = sf.http.calls.by_label()
        finally:
            server.stop()
    rows = sum(r.rows_sent for r in reports)
    loaded = sum(r.created + r.updated for r in reports)
    jobs = sum(len(r.jobs) for r in reports)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows sent: {rows:,}  loaded: {loaded:,}  rejected: {rows - loaded:,}  jobs: {jobs}")
    print(f"API calls: {calls} = {calls / rows * 1e6:.0f} per 1M rows (target <= 60)")
    print(f"calls by kind: {dict(sorted(by_label.items()))}")
    print(
        f"wall: {wall:.1f} s = {rows / wall:,.0f} rows/s; CPU (client + in-process emulator): "
        f"{cpu:.1f} s; peak RSS (client+emulator): {peak_mb:.0f} MB"
    )
    print("command: uv run python -m bench client_upsert")


if __name__ == "__main__":
    main()
