"""Our Bulk upsert vs simple-salesforce's ``bulk2`` upsert: same CSV, same emulator, one run.

Command: ``uv run python -m bench versus_simple_salesforce`` (``BENCH_VS_ROWS`` overrides 1M rows).
Writes one CSV of N valid Opportunity rows, starts ``sfload emulator serve`` as a child process,
loads the file once untimed (so both measured loads update the same existing records), then:

- simple-salesforce 1.12 as a user calls it: ``sf.bulk2.Opportunity.upsert(csv_file=...,
  external_id_field=..., batch_size=<rows of ~90 MB>)`` (jobs one after the other, first poll
  after 5 s; ``batch_size`` because its own 100 MB split can exceed 100 MB and then raises);
- ours: the same file streamed as Arrow batches (``pyarrow.csv.open_csv``, every column text) into
  ``BulkIngest`` with default settings except the org's expected pace, which sets the first poll
  (rows / pace): the pace an untimed update of the same rows reported
  (``IngestReport.org_rows_per_s``, from its jobs' ``totalProcessingTime``), as a user sets it from
  a previous load's figures. It also
  reads every job's results and accounts for each row, which simple-salesforce's upsert does not.

For each: wall seconds, client CPU seconds, Bulk API calls counted by the emulator (by endpoint).
Target: ours >= 2x faster in wall time with no more API calls. Prints figures, asserts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import requests

from bench.emulator_ingest import opportunities
from resources.salesforce import BulkIngest, SalesforceClient, SalesforceConfig
from resources.salesforce.bulk import IngestReport, IngestSettings, ObjectSpec

COMMAND = "uv run python -m bench versus_simple_salesforce"
SPEC = ObjectSpec("Opportunity", "External_Id__c")
API_VERSION = "59.0"
# The first load's pace is unknown: the emulator's documented >= 150k rows/s (a real org's default
# is 20k rows/s). The timed load uses the pace the first one reported.
FIRST_LOAD_SETTINGS = IngestSettings(expected_rows_per_s=150_000.0)


@dataclass
class Result:
    label: str
    wall_s: float
    cpu_s: float
    calls: dict[str, int]
    rows: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def line(self) -> str:
        return (
            f"{self.label:<18} {self.wall_s:>8.1f} s wall {self.cpu_s:>7.1f} s client cpu "
            f"{self.rows / self.wall_s:>10,.0f} rows/s  {self.total_calls:>4} Bulk API calls  "
            f"{dict(sorted(self.calls.items()))}"
        )


def main() -> None:
    records = int(os.environ.get("BENCH_VS_ROWS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="sfload-bench-vs-") as tmp:
        csv_path = Path(tmp) / "opportunities.csv"
        pacsv.write_csv(
            opportunities(records),
            str(csv_path),
            write_options=pacsv.WriteOptions(quoting_style="needed"),
        )
        size_mb = csv_path.stat().st_size / 1e6
        print(f"command: {COMMAND}  (BENCH_VS_ROWS={records})")
        print(f"CSV: {records:,} rows, {size_mb:.0f} MB")
        with _serve(Path(tmp) / "emulator") as ready:
            config = SalesforceConfig(
                login_url=ready["login_url"],
                client_id=ready["client_id"],
                client_secret=ready["client_secret"],
                ca_bundle=ready["ca_bundle"],
                api_version=API_VERSION,
            )
            with SalesforceClient(config) as client:
                token = client.access_token()
                stats = _Stats(ready)
                # Creates the records (both timed loads update them), then updates them once to
                # learn the org's pace for updates, as a user reads it off a previous load.
                _ours(client, csv_path, FIRST_LOAD_SETTINGS)
                pace = _ours(client, csv_path, FIRST_LOAD_SETTINGS).org_rows_per_s
                settings = IngestSettings(expected_rows_per_s=pace or 150_000.0)
                theirs = _measure(
                    "simple-salesforce",
                    stats,
                    records,
                    lambda: _theirs(ready, token.instance_url, token.value, csv_path),
                )
                ours = _measure(
                    "sfload BulkIngest", stats, records, lambda: _ours(client, csv_path, settings)
                )
    print(f"org pace reported by the untimed update: {settings.expected_rows_per_s:,.0f} rows/s")
    print(theirs.line())
    print(ours.line())
    print(
        f"ours is {theirs.wall_s / ours.wall_s:.1f}x faster in wall time (target >= 2x) with "
        f"{ours.total_calls} vs {theirs.total_calls} Bulk API calls (target: no more)"
    )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


def _measure(label: str, stats: _Stats, rows: int, load: Any) -> Result:
    before = stats.bulk_calls()
    started, cpu = time.perf_counter(), time.process_time()
    load()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = stats.bulk_calls()
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return Result(label, wall, cpu, {k: n for k, n in calls.items() if n}, rows)


def _ours(client: SalesforceClient, csv_path: Path, settings: IngestSettings) -> IngestReport:
    report = BulkIngest(client, SPEC, settings).run(_csv_batches(csv_path))
    assert report.balanced and not report.rejected_count, "every row should load"
    return report


def _csv_batches(csv_path: Path) -> Iterator[pa.RecordBatch]:
    header = csv_path.open(encoding="utf-8").readline().rstrip("\n").split(",")
    reader = pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
        ),
    )
    yield from reader


def _theirs(ready: dict[str, Any], instance_url: str, token: str, csv_path: Path) -> None:
    from simple_salesforce import Salesforce

    # simple-salesforce trusts the CA through requests' environment (its own session).
    os.environ["REQUESTS_CA_BUNDLE"] = str(ready["ca_bundle"])
    sf = Salesforce(instance_url=instance_url, session_id=token, version=API_VERSION)
    # Its own 100 MB split can still produce a job over 100 MB (it raises then): give it the
    # rows per job that keep each job near 90 MB, as a user of a big file has to.
    rows = sum(1 for _ in csv_path.open("rb")) - 1
    per_job = max(1, int(rows * 90e6 / csv_path.stat().st_size))
    results = sf.bulk2.Opportunity.upsert(
        csv_file=str(csv_path), external_id_field="External_Id__c", batch_size=per_job
    )
    failed = sum(int(r["numberRecordsFailed"]) for r in results)
    assert failed == 0, f"simple-salesforce: {failed} rows failed"


class _Stats:
    def __init__(self, ready: dict[str, Any]) -> None:
        self.url = f"{ready['url']}/__emulator__/stats"
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        self.session.verify = str(ready["ca_bundle"])

    def bulk_calls(self) -> dict[str, int]:
        body = self.session.get(self.url, timeout=60).json()
        return {
            endpoint: sum(int(n) for n in by_status.values())
            for endpoint, by_status in body["requests"].items()
            if endpoint.startswith("bulk.ingest.")
        }


@contextmanager
def _serve(data_dir: Path) -> Iterator[dict[str, Any]]:
    command = [sys.executable, "-c", "from emulator.cli import emulator; emulator()", "serve"]
    server = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
