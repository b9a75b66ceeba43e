"""Read throughput of the Data Cloud client: every row of the Opportunity DMO, Arrow vs JSON pages.

Command: ``uv run python -m bench client_datacloud`` (``BENCH_DC_RECORDS`` overrides the 2M rows).
Starts its own emulator on 127.0.0.1 in a temporary directory; prints figures, asserts nothing.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
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


def main() -> None:
    records = int(os.environ.get("BENCH_DC_RECORDS", DEFAULT_RECORDS))
    with tempfile.TemporaryDirectory(prefix="sfload-bench-dc-") as tmp:
        started = time.perf_counter()
        config = EmulatorConfig(data_dir=Path(tmp), records=records)
        with EmulatorServer(config) as server:
            print(f"emulator with {records:,} rows ready in {time.perf_counter() - started:.1f} s")
            info = server.ready_info()
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
                    rows, batches, seconds = read_all(dc, arrow)
                    label = "Arrow pages" if arrow else "JSON pages "
                    print(
                        f"{label}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
                        f"({batches} batches, {dc.api_calls - calls_before} API calls)"
                    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS (client + in-process emulator): {peak_mb:,.0f} MB")
    print("command: uv run python -m bench client_datacloud")


if __name__ == "__main__":
    main()
