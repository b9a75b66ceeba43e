"""``sfload emulator serve`` as a child process, and its control plane over verified HTTPS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.e2e.processes import ChildProcess, wait_until
from tests.e2e.stack import BIN_DIR, DagsterStack

TIMEOUT = (5, 60)
API_VERSION = "66.0"


@dataclass
class EmulatorProcess:
    process: ChildProcess
    info: dict[str, Any]
    session: requests.Session

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def salesforce_env(self) -> dict[str, str]:
        """The configuration a real org would get: URL, client credentials, the CA to trust."""
        return {
            "SALESFORCE_LOGIN_URL": str(self.info["login_url"]),
            "SALESFORCE_CLIENT_ID": str(self.info["client_id"]),
            "SALESFORCE_CLIENT_SECRET": str(self.info["client_secret"]),
            "SALESFORCE_USERNAME": str(self.info.get("username") or ""),
            "SALESFORCE_PRIVATE_KEY_FILE": "",
            "SALESFORCE_CA_BUNDLE": str(self.info["ca_bundle"]),
            "SALESFORCE_API_VERSION": API_VERSION,
        }

    def control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.session.request(
            method, f"{self.url}/__emulator__/{path}", json=body, timeout=TIMEOUT
        )
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def row_counts(self) -> tuple[int, int]:
        """(Data Cloud rows, Salesforce Opportunity rows)."""
        rows = self.stats()["rows"]
        return int(rows["datacloud"]), int(rows["Opportunity"])

    def set_faults(self, plan: dict[str, Any] | str) -> None:
        self.control("POST", "faults", plan)

    def change_rows(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.control("POST", "datacloud/rows", changes)

    def stop(self) -> None:
        self.session.close()
        self.process.stop()


def start_emulator(data_dir: Path, log_dir: Path, records: int) -> EmulatorProcess:
    process = ChildProcess(
        "emulator",
        [
            str(BIN_DIR / "sfload"),
            "emulator",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--records",
            str(records),
        ],
        log_dir,
    )
    try:
        info = wait_until(lambda: _ready_line(process), 300, "the emulator", 0.5, [process])
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
        session.verify = str(info["ca_bundle"])
    except BaseException:
        process.stop()
        raise
    return EmulatorProcess(process=process, info=info, session=session)


def _ready_line(process: ChildProcess) -> dict[str, Any] | None:
    """The JSON line with the connection details (other JSON lines, e.g. the data profile, precede it)."""
    for line in process.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            info = json.loads(line)
            if "url" in info and "ca_bundle" in info:
                return dict(info)
    return None


@dataclass
class SfloadDeployment:
    """The real code location on the production shape, with the emulator as its org."""

    stack: DagsterStack
    emulator: EmulatorProcess
