"""``sfload emulator ...``: run the local Salesforce org + Data Cloud tenant."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import pyarrow as pa

from emulator import profiles
from emulator.config import EmulatorConfig
from emulator.datacloud.backend import DataCloudBackend
from emulator.faults import FaultPlanError, parse_plan
from emulator.server import EmulatorServer


@click.group(help="The built-in Salesforce + Data Cloud emulator.")
def emulator() -> None:
    pass


@emulator.command(help="Serve the emulator over HTTPS on 127.0.0.1 until interrupted.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; loopback unless you mean it.",
)
@click.option("--port", default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=Path("var/emulator"), show_default=True
)
@click.option(
    "--records", default=0, show_default=True, help="Generate this many Data Cloud rows if empty."
)
@click.option("--seed", default=42, show_default=True)
@click.option("--plain-http", is_flag=True, help="Serve plain HTTP (debugging only).")
@click.option(
    "--token-lifetime", default=7200.0, show_default=True, help="Core token lifetime, seconds."
)
@click.option("--datacloud-token-lifetime", default=7200.0, show_default=True)
@click.option(
    "--profile",
    type=click.Choice(profiles.PROFILES),
    default="clean",
    show_default=True,
    help="Data profile used when --records generates rows (see emulator/profiles.py).",
)
@click.option(
    "--faults",
    default="none",
    show_default=True,
    help="Fault plan at start: a name (none, storm) or a JSON plan (see emulator/faults.py).",
)
@click.option(
    "--from-parquet",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Load these Data Cloud rows (the DMO's columns) instead of generating.",
)
def serve(
    host: str,
    port: int,
    data_dir: Path,
    records: int,
    seed: int,
    plain_http: bool,
    token_lifetime: float,
    datacloud_token_lifetime: float,
    profile: str,
    faults: str,
    from_parquet: Path | None,
) -> None:
    try:
        parse_plan(faults)
    except FaultPlanError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc
    prefer_returning_allocator()
    if from_parquet is not None:
        _report(profiles.load_parquet(data_dir, from_parquet))
    elif records > 0 and _tenant_rows(data_dir) == 0:
        _report(profiles.seed(data_dir, records, seed, profile))
    config = EmulatorConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        tls=not plain_http,
        records=0,  # seeded above, with the chosen profile
        seed=seed,
        token_lifetime_s=token_lifetime,
        datacloud_token_lifetime_s=datacloud_token_lifetime,
        extra={"faults": faults},
    )
    server = EmulatorServer(config).start()
    _print_ready(server.ready_info())
    _wait_for_signal()
    server.stop()


@emulator.command(help="(Re)generate the Data Cloud rows in a data directory, then exit.")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=Path("var/emulator"), show_default=True
)
@click.option("--records", default=10_000, show_default=True)
@click.option("--seed", default=42, show_default=True)
@click.option("--profile", type=click.Choice(profiles.PROFILES), default="clean", show_default=True)
@click.option(
    "--from-parquet",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Load these rows (the DMO's columns) instead of generating.",
)
def seed(data_dir: Path, records: int, seed: int, profile: str, from_parquet: Path | None) -> None:
    if from_parquet is not None:
        _report(profiles.load_parquet(data_dir, from_parquet), to_stdout=True)
    else:
        _report(profiles.seed(data_dir, records, seed, profile), to_stdout=True)


def prefer_returning_allocator() -> None:
    """Arrow buffers from jemalloc in this server process, unless ``ARROW_DEFAULT_MEMORY_POOL``
    chooses: the default pool kept freed job and page buffers, so a 2M-row upsert and read peaked
    at 1,573 MB instead of 1,469 MB (``uv run python -m bench emulator_memory``)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def _tenant_rows(data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    backend = DataCloudBackend(EmulatorConfig(data_dir=data_dir))
    try:
        return backend.row_count()
    finally:
        backend.close()


def _report(report: profiles.SeedReport, to_stdout: bool = False) -> None:
    """The seed report as one JSON line: on stdout for ``seed``, on stderr for ``serve`` (whose
    stdout carries only the ready line)."""
    stream = sys.stdout if to_stdout else sys.stderr
    stream.write(json.dumps(report.as_json()) + "\n")
    stream.flush()


def _print_ready(info: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
