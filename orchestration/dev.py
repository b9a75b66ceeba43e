"""``make dev``: the emulator and ``dagster dev`` on the same instance as ``make demo``.

``python -m orchestration.dev`` starts the emulator (``var/emulator``), exports the SALESFORCE_*
variables for it, and runs ``dagster dev -w workspace.yaml -h 127.0.0.1`` with the same
``DAGSTER_HOME``, so the demo's runs, checks and plots are in the UI and new runs (Materialize,
schedule, sensors) load into the same emulator. Ctrl-C stops both.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

from orchestration.demo import (
    DEFAULT_DATA_DIR,
    DEFAULT_RECORDS,
    EmulatorStartError,
    apply_environment,
    dagster_home,
    emulator_process,
)


def dagster_dev_command(port: int, workspace: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def run_dev(records: int, data_dir: Path, port: int, workspace: Path) -> int:
    import dagster as dg

    from orchestration import operations as ops

    home = dagster_home()
    ops.prepare_home(home)
    with dg.DagsterInstance.get() as instance:
        limit = ops.ensure_pool_limit(instance)
    click.echo(f"Instance: DAGSTER_HOME={home} (pool {ops.POOL} limit {limit})")
    with emulator_process(data_dir, records) as emulator:
        apply_environment(ops.env_for_emulator(emulator.ready))
        click.echo(f"Emulator at {emulator.url}; starting dagster dev on http://127.0.0.1:{port}")
        # Its own session: a Ctrl-C reaches us only, and we forward exactly one SIGINT, on which
        # dagster dev stops its webserver, daemon and code server; then the emulator stops.
        dev = subprocess.Popen(dagster_dev_command(port, workspace), start_new_session=True)
        try:
            return dev.wait()
        except KeyboardInterrupt:
            dev.send_signal(signal.SIGINT)
            try:
                return dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dev.kill()
                return dev.wait()


@click.command(help="Start the emulator and `dagster dev` on the demo's instance (make dev).")
@click.option("--records", default=DEFAULT_RECORDS, show_default=True, help="Rows if empty.")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True
)
@click.option("--port", default=3000, show_default=True, help="Port of the UI on 127.0.0.1.")
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, exists=True),
    default=Path("workspace.yaml"),
    show_default=True,
)
def main(records: int, data_dir: Path, port: int, workspace: Path) -> None:
    try:
        sys.exit(run_dev(records, data_dir, port, workspace))
    except EmulatorStartError as exc:
        click.echo(f"dev: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
