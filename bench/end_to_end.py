"""End to end, as ``make demo`` runs it: N generated rows, 10 ranges, every range a Dagster run.

Command: ``uv run python -m bench end_to_end`` (``BENCH_E2E_SIZES=200000,1000000,2000000`` by
default; ``BENCH_E2E_RANGES`` overrides the 10 ranges). For every size, on a fresh emulator data
directory and ``DAGSTER_HOME``, it uses the demo's own machinery (emulator child process, plan,
``sfload load`` through Dagster run workers) and prints one table row:

- wall time of the whole thing (generate + start, plan, load with checks), load rows/s;
- CPU seconds of every process involved (sampled with psutil), so a busy machine can be read;
- Bulk API calls per 1M rows, counted by the emulator (every ``/jobs/ingest`` request);
- peak RSS of the largest run worker, of the emulator, and of this (the demo's) process;
- the time for one key-level reconciliation of ALL ids (Data Cloud ids vs the ids read back from
  Salesforce through a Bulk API query, ``assets.reconcile``), done after the load;
- the replaced Apex job (2M rows in 2-4 hours) as a ratio of our wall time.

Scaling reads from the rows: wall, CPU and API calls per 1M rows should stay flat (linear cost)
and the peak RSS of a run worker should not grow with N (the load streams). Asserts nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

COMMAND = "uv run python -m bench end_to_end"
APEX_SECONDS = (2 * 3600.0, 4 * 3600.0)  # the Apex job: 2M rows in 2-4 hours
APEX_ROWS = 2_000_000
SAMPLE_S = 0.2


@dataclass
class ProcessTree:
    """Samples this process and all its descendants: peak RSS and last CPU seconds per pid."""

    root: psutil.Process = field(default_factory=psutil.Process)
    rss: dict[int, int] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    kind: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProcessTree:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def sample(self) -> None:
        for process in [self.root, *self._children()]:
            with contextlib.suppress(psutil.Error), process.oneshot():
                pid = process.pid
                self.rss[pid] = max(self.rss.get(pid, 0), process.memory_info().rss)
                times = process.cpu_times()
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), times.user + times.system)
                if pid not in self.kind:
                    self.kind[pid] = _kind(process, self.root.pid)

    def _children(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return list(self.root.children(recursive=True))
        return []

    def peak_mb(self, kind: str) -> float:
        return max((r for p, r in self.rss.items() if self.kind.get(p) == kind), default=0) / 1e6

    def cpu_s(self, kind: str | None = None) -> float:
        return sum(c for p, c in self.cpu.items() if kind is None or self.kind.get(p) == kind)


def _kind(process: psutil.Process, root_pid: int) -> str:
    if process.pid == root_pid:
        return "main"
    command = " ".join(process.cmdline())
    if "emulator" in command and "serve" in command:
        return "emulator"
    if "forkserver" in command and process.ppid() != root_pid:
        return "worker"  # a run worker, forked from the fork server
    return "other"


@dataclass
class Row:
    records: int
    wall_s: float
    start_s: float
    plan_s: float
    load_s: float
    rows_loaded: int
    ok: bool
    bulk_calls: int
    calls_by_endpoint: dict[str, int]
    recon_s: float
    recon_missing: int
    cpu_total_s: float
    cpu_emulator_s: float
    cpu_workers_s: float
    peak_worker_mb: float
    peak_emulator_mb: float
    peak_main_mb: float

    @property
    def calls_per_million(self) -> float:
        return self.bulk_calls / self.records * 1e6 if self.records else 0.0


def run_size(records: int, ranges: int) -> Row:
    import dagster as dg

    from orchestration import cli, demo
    from orchestration import operations as ops

    with tempfile.TemporaryDirectory(prefix="sfload-bench-e2e-") as tmp:
        os.environ["DAGSTER_HOME"] = str(Path(tmp) / "dagster_home")
        home = demo.dagster_home()
        ops.prepare_home(home)
        with ProcessTree() as tree:
            started = time.perf_counter()
            with demo.emulator_process(Path(tmp) / "emulator", records) as emulator:
                ready_s = time.perf_counter() - started
                demo.apply_environment(ops.env_for_emulator(emulator.ready))
                with dg.DagsterInstance.get() as instance:
                    limit = ops.ensure_pool_limit(instance)
                    connections = ops.connections_from_environment()
                    try:
                        at = time.perf_counter()
                        plan = ops.make_plan(instance, connections, target_partitions=ranges)
                        ops.apply_plan(instance, plan)
                        plan_s = time.perf_counter() - at
                        at = time.perf_counter()
                        keys = ops.current_keys(instance)
                        result = cli.run_load(instance, connections, keys, limit=limit, quiet=True)
                        load_s = time.perf_counter() - at
                        wall = time.perf_counter() - started
                        calls = _bulk_calls(emulator.url, emulator.ready["ca_bundle"])
                        recon_s, missing = _reconcile_everything(connections)
                    finally:
                        connections.close()
    return Row(
        records=records,
        wall_s=wall,
        start_s=ready_s,
        plan_s=plan_s,
        load_s=load_s,
        rows_loaded=result.rows_read,
        ok=result.ok,
        bulk_calls=sum(n for e, n in calls.items() if e.startswith("bulk.ingest.")),
        calls_by_endpoint=calls,
        recon_s=recon_s,
        recon_missing=missing,
        cpu_total_s=tree.cpu_s(),
        cpu_emulator_s=tree.cpu_s("emulator"),
        cpu_workers_s=tree.cpu_s("worker"),
        peak_worker_mb=tree.peak_mb("worker"),
        peak_emulator_mb=tree.peak_mb("emulator"),
        peak_main_mb=tree.peak_mb("main"),
    )


def _bulk_calls(url: str, ca_bundle: str) -> dict[str, int]:
    """Requests to Bulk API 2.0 endpoints (ingest, and the checks' read-back queries), by
    endpoint, from the emulator's stats."""
    import requests

    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        response = session.get(f"{url}/__emulator__/stats", verify=ca_bundle, timeout=60)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
    return {
        endpoint: sum(int(n) for n in by_status.values())
        for endpoint, by_status in stats["requests"].items()
        if endpoint.startswith("bulk.")
    }


def _reconcile_everything(connections: Any) -> tuple[float, int]:
    """One key-level reconciliation of every id: Data Cloud ids vs Salesforce read-back."""
    from assets import adapters
    from assets.dead_letter import SCHEMA as DEAD_LETTER_SCHEMA
    from assets.ranges import KeyRange

    everything = KeyRange(None, None)
    started = time.perf_counter()
    source = adapters.source_ids(adapters.source_client(connections.data_cloud), everything)
    target = adapters.target_ids(adapters.target_client(connections.salesforce), everything)
    result = adapters.reconcile_range(
        source, target, everything, DEAD_LETTER_SCHEMA.empty_table(), sample_size=5
    )
    seconds = time.perf_counter() - started
    missing = int(result.as_metadata().get("missing", 0))
    return seconds, missing


def _sizes() -> list[int]:
    text = os.environ.get("BENCH_E2E_SIZES", "200000,1000000,2000000")
    return [int(s) for s in text.split(",") if s.strip()]


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*(beta|preview).*", category=Warning)
    ranges = int(os.environ.get("BENCH_E2E_RANGES", "10"))
    rows: list[Row] = []
    for records in _sizes():
        print(f"running {records:,} rows / {ranges} ranges ...", flush=True)
        row = run_size(records, ranges)
        rows.append(row)
        print(f"  bulk calls by endpoint: {row.calls_by_endpoint}", flush=True)
    print()
    for line in table(rows):
        print(line)
    print(f"load average (1, 5, 15 min) at the end: {_load_average()}")
    print(f"machine: {os.cpu_count()} cpus, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    print(f"command: {COMMAND}  (BENCH_E2E_SIZES={','.join(str(r.records) for r in rows)})")


def table(rows: list[Row]) -> Iterator[str]:
    header = (
        f"{'rows':>10} {'ok':>3} {'wall s':>7} {'start s':>7} {'plan s':>6} {'load s':>7} "
        f"{'rows/s':>8} {'cpu s':>7} {'emu cpu':>7} {'run cpu':>7} {'bulk/1M':>7} "
        f"{'run MB':>7} {'emu MB':>7} {'main MB':>7} {'recon s':>7} {'apex x':>9}"
    )
    yield header
    yield "-" * len(header)
    for r in rows:
        rate = r.rows_loaded / r.load_s if r.load_s else 0.0
        scale = r.records / APEX_ROWS
        apex = f"{APEX_SECONDS[0] * scale / r.wall_s:.0f}-{APEX_SECONDS[1] * scale / r.wall_s:.0f}"
        yield (
            f"{r.records:>10,} {'yes' if r.ok else 'NO':>3} {r.wall_s:>7.1f} {r.start_s:>7.1f} "
            f"{r.plan_s:>6.1f} {r.load_s:>7.1f} {rate:>8,.0f} {r.cpu_total_s:>7.1f} "
            f"{r.cpu_emulator_s:>7.1f} {r.cpu_workers_s:>7.1f} {r.calls_per_million:>7.1f} "
            f"{r.peak_worker_mb:>7.0f} {r.peak_emulator_mb:>7.0f} {r.peak_main_mb:>7.0f} "
            f"{r.recon_s:>7.1f} {apex:>9}"
        )
    yield (
        "wall = generate+start + plan + load (runs with their checks); rows/s over the load; "
        "cpu = every process; bulk/1M = Bulk API ingest requests per 1M rows (emulator count); "
        "run MB = peak RSS of the largest run worker; recon = one key-level reconciliation of "
        "all ids (read both sides + compare); apex x = how many times faster than the Apex job "
        "(2M rows in 2-4 h, scaled to the row count)."
    )


def _load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
