"""Read throughput of the Data Cloud client: every row of the Opportunity DMO, Arrow vs JSON pages.

Command: ``uv run python -m bench client_datacloud`` (``BENCH_DC_RECORDS`` overrides the 2M rows).
Starts its own emulator process on 127.0.0.1 in a temporary directory; prints figures only.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from resources.data_cloud import DataCloudClient, SalesforceCoreAuth
from resources.http import HttpSettings
from resources.salesforce import SalesforceClient, SalesforceConfig

DEFAULT_RECORDS = 2_000_000


def read_all(client: DataCloudClient, arrow: bool) -> tuple[int, int, float]:
    """(rows, batches, seconds) for one full ordered read."""
    started = time.perf_counter()
    rows = batches = 0
    for batch in client.rows(None, None, arrow=arrow):
        rows += batch.num_rows
        batches += 1
    return rows, batches, time.perf_counter() - started


@contextmanager
def emulator_process(data_dir: Path, records: int) -> Iterator[dict[str, Any]]:
    """The emulator in its own process (else it would share this process's GIL and CPU figures)."""
    command = [
        sys.executable,
        "-c",
        "from emulator.cli import emulator; emulator()",
        "serve",
        "--data-dir",
        str(data_dir),
        "--records",
        str(records),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        if not ready:
            raise RuntimeError("the emulator exited before it was ready")
        yield json.loads(ready)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    records = int(os.environ.get("BENCH_DC_RECORDS", DEFAULT_RECORDS))
    with tempfile.TemporaryDirectory(prefix="sfload-bench-dc-") as tmp:
        started = time.perf_counter()
        with emulator_process(Path(tmp), records) as info:
            print(f"emulator with {records:,} rows ready in {time.perf_counter() - started:.1f} s")
            sf_config = SalesforceConfig(
                login_url=info["login_url"],
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                ca_bundle=info["ca_bundle"],
            )
            http = HttpSettings(ca_bundle=info["ca_bundle"], read_timeout_s=600)
            with (
                SalesforceClient(sf_config) as sf,
                DataCloudClient.connect(SalesforceCoreAuth(sf.auth), http=http) as dc,
            ):
                for arrow in (True, False):
                    calls_before = dc.api_calls
                    cpu_before = time.process_time()
                    rows, batches, seconds = read_all(dc, arrow)
                    cpu = time.process_time() - cpu_before
                    label = "Arrow pages" if arrow else "JSON pages "
                    print(
                        f"{label}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
                        f"client CPU {cpu / rows * 1e6:.2f} us/row "
                        f"({batches} batches, {dc.api_calls - calls_before} API calls)"
                    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"client peak RSS: {peak_mb:,.0f} MB")
    print("command: uv run python -m bench client_datacloud")


if __name__ == "__main__":
    main()
