"""Peak memory of the client process during an upsert of 200k, 1M, 2M and 4M rows (flat, <= 400 MB).

Command: ``uv run python -m bench client_memory`` (``BENCH_CLIENT_MEMORY_SIZES`` overrides
``200000,1000000,2000000,4000000``). One emulator child process (``sfload emulator serve``); for each size a
fresh client process streams generated Arrow batches (50k rows each, made on the fly like pages
from Data Cloud) through ``BulkIngest`` with the resource's default settings (jobs of at most 1M
rows / 100 MB, 4 in flight) and reports its own peak RSS (``ru_maxrss``), wall and CPU seconds and
API calls. Target: peak RSS <= 400 MB and not growing with the row count. Asserts nothing.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.versus_simple_salesforce import _serve

COMMAND = "uv run python -m bench client_memory"
BATCH_ROWS = 50_000


def main() -> None:
    sizes = [
        int(s)
        for s in os.environ.get(
            "BENCH_CLIENT_MEMORY_SIZES", "200000,1000000,2000000,4000000"
        ).split(",")
    ]
    print(f"command: {COMMAND}  (BENCH_CLIENT_MEMORY_SIZES={','.join(map(str, sizes))})")
    with (
        tempfile.TemporaryDirectory(prefix="sfload-bench-client-memory-") as tmp,
        _serve(Path(tmp) / "emulator") as ready,
    ):
        for rows in sizes:
            child = subprocess.run(
                [sys.executable, "-c", "import bench.client_memory as b; b.upsert_in_child()"],
                input=json.dumps({"ready": ready, "rows": rows}),
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{rows:>10,} rows  peak RSS {figures['peak_mb']:>5.0f} MB  "
                f"{figures['wall_s']:>6.1f} s wall  {figures['cpu_s']:>6.1f} s cpu  "
                f"{figures['jobs']} jobs  {figures['api_calls']} API calls"
            )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


def upsert_in_child() -> None:
    from bench.client_encode import SPEC, mapped, source_batch
    from resources.salesforce import BulkIngest, SalesforceClient, SalesforceConfig
    from resources.salesforce.bulk import IngestSettings

    job = json.loads(sys.stdin.read())
    ready, rows = job["ready"], int(job["rows"])
    config = SalesforceConfig(
        login_url=ready["login_url"],
        client_id=ready["client_id"],
        client_secret=ready["client_secret"],
        ca_bundle=ready["ca_bundle"],
    )
    batches = (
        mapped(source_batch(min(BATCH_ROWS, rows - at), at)) for at in range(0, rows, BATCH_ROWS)
    )
    started, cpu = time.perf_counter(), time.process_time()
    with SalesforceClient(config) as client:
        report = BulkIngest(client, SPEC, IngestSettings()).run(batches)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "peak_mb": usage.ru_maxrss / 1024,
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "jobs": len(report.jobs),
                "api_calls": report.api_calls,
                "balanced": report.balanced,
            }
        )
    )


if __name__ == "__main__":
    main()
