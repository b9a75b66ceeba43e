"""``make demo``: the whole load on a laptop, against the built-in emulator.

``python -m orchestration.demo --records N`` starts the emulator as a child process (data in
``var/emulator``, N generated opportunities when empty), points the SALESFORCE_* variables at it,
plans the ranges (so the partitions exist), loads every range through Dagster into
``DAGSTER_HOME``'s instance, prints the reconciliation table, says how to open the UI, and stops
the emulator. The emulator is reached only as a command line and a URL, like a real org.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

DEFAULT_RECORDS = 2_000_000
DEFAULT_DATA_DIR = Path("var/emulator")
DEFAULT_DAGSTER_HOME = Path("var/dagster_home")
# Generating 2M rows on a busy 2-core machine takes a while before the emulator is ready.
READY_TIMEOUT_S = 900.0


class EmulatorStartError(RuntimeError):
    pass


@dataclass
class RunningEmulator:
    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    log_file: Path

    @property
    def url(self) -> str:
        return str(self.ready["url"])


def emulator_command(data_dir: Path, records: int, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.cli",
        "emulator",
        "serve",
        "--data-dir",
        str(data_dir),
        "--records",
        str(records),
        *extra,
    ]


@contextmanager
def emulator_process(
    data_dir: Path,
    records: int,
    *,
    extra: tuple[str, ...] = (),
    timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[RunningEmulator]:
    """The emulator as a child process, until the block ends (then SIGINT, then SIGKILL)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "emulator.log"
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            emulator_command(data_dir, records, extra),
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # a Ctrl-C reaches us; we stop the emulator last
        )
    try:
        ready = _read_ready_line(process, timeout_s, log_file)
        yield RunningEmulator(process, ready, log_file)
    finally:
        stop_process(process)


def _read_ready_line(
    process: subprocess.Popen[bytes], timeout_s: float, log_file: Path
) -> dict[str, Any]:
    lines: queue.Queue[bytes] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.strip():
            ready: dict[str, Any] = json.loads(line)
            return ready
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)  # it closed stdout: let it finish dying to report its exit code
    raise EmulatorStartError(
        f"The emulator did not start (exit code {process.poll()}); see {log_file}."
    )


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def apply_environment(values: Mapping[str, str]) -> None:
    """The SALESFORCE_* variables, for this process and the run workers it starts."""
    os.environ.update(values)


def dagster_home() -> Path:
    """``DAGSTER_HOME`` if set (the Makefile sets it), else ``var/dagster_home``; made absolute
    and exported, so worker processes and ``make dev`` use the same instance."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_demo(
    records: int,
    data_dir: Path,
    partitions: int,
    echo: Any = click.echo,
    emulator_args: tuple[str, ...] = (),
) -> int:
    """The demo; returns the exit code (0 when every range loaded with nothing missing)."""
    import dagster as dg

    from orchestration import cli
    from orchestration import operations as ops

    started = time.monotonic()
    home = dagster_home()
    ops.prepare_home(home)
    echo(f"Instance: DAGSTER_HOME={home}")
    echo(f"Starting the emulator ({records:,} opportunities in {data_dir}) ...")
    with emulator_process(data_dir, records, extra=emulator_args) as emulator:
        echo(f"Emulator ready at {emulator.url} ({time.monotonic() - started:.0f}s)")
        apply_environment(ops.env_for_emulator(emulator.ready))
        with dg.DagsterInstance.get() as instance:
            limit = ops.ensure_pool_limit(instance)
            connections = ops.connections_from_environment()
            try:
                plan = ops.make_plan(instance, connections, target_partitions=partitions)
                ops.apply_plan(instance, plan)
                echo(cli.render_plan(plan, applied=True))
                echo("")
                keys = ops.current_keys(instance)
                result = cli.run_load(instance, connections, keys, limit=limit)
            finally:
                connections.close()
        echo(cli.render_load(result))
    echo("")
    echo(f"Demo finished in {time.monotonic() - started:.0f}s; the emulator is stopped.")
    echo(
        "Open the UI with `make dev` (same DAGSTER_HOME): runs, checks and the metadata plots of "
        "salesforce_opportunities are there."
    )
    return 0 if result.ok else cli.EXIT_PROBLEM


@click.command(help="Run the whole load against the built-in emulator (make demo).")
@click.option("--records", default=DEFAULT_RECORDS, show_default=True, help="Generated rows.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Emulator data (kept between runs; rows are generated only when it is empty).",
)
@click.option("--partitions", default=10, show_default=True, help="Target number of ranges.")
def main(records: int, data_dir: Path, partitions: int) -> None:
    import warnings

    from orchestration import operations as ops

    warnings.filterwarnings("ignore", message=".*(beta|preview).*", category=Warning)
    try:
        code = run_demo(records, data_dir, partitions)
    except (ops.OperationError, EmulatorStartError) as exc:
        click.echo(f"demo: {exc}", err=True)
        code = 2
    except Exception as exc:
        click.echo(f"demo failed: {ops.describe_error(exc)}", err=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
