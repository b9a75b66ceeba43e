"""``sfload emulator ...``: run the local Salesforce org + Data Cloud tenant."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from emulator.config import EmulatorConfig
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
def serve(
    host: str,
    port: int,
    data_dir: Path,
    records: int,
    seed: int,
    plain_http: bool,
    token_lifetime: float,
    datacloud_token_lifetime: float,
) -> None:
    config = EmulatorConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        tls=not plain_http,
        records=records,
        seed=seed,
        token_lifetime_s=token_lifetime,
        datacloud_token_lifetime_s=datacloud_token_lifetime,
    )
    server = EmulatorServer(config).start()
    _print_ready(server.ready_info())
    _wait_for_signal()
    server.stop()


def _print_ready(info: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
