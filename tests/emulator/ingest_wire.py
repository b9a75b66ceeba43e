"""The wire client the Bulk API 2.0 ingest tests share (imported by name: tests are no package)."""

from __future__ import annotations

import time
from typing import Any

import requests

from emulator.core.ingest_jobs import IngestBackend
from emulator.server import EmulatorServer
from emulator.tokens import TokenKind

API_VERSION = "59.0"
TERMINAL = ("JobComplete", "Failed", "Aborted")


def core_token(server: EmulatorServer) -> str:
    config = server.config
    return server.emulator.tokens.issue(
        TokenKind.CORE, config.username, config.client_id, 3600.0
    ).value


class IngestClient:
    """Raw HTTP calls to ``/jobs/ingest`` so tests can assert exact statuses and bodies."""

    def __init__(self, server: EmulatorServer, version: str = API_VERSION) -> None:
        self.server = server
        self.base = f"{server.url}/services/data/v{version}/jobs/ingest"
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        self.session.verify = str(server.ca_bundle)
        self.session.headers["Authorization"] = f"Bearer {core_token(server)}"

    @property
    def backend(self) -> IngestBackend:
        service: IngestBackend = self.server.emulator.services["ingest"]
        return service

    def request(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kwargs)

    def create(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "object": "Opportunity",
            "operation": "upsert",
            "externalIdFieldName": "External_Id__c",
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        response = self.request("POST", json=body)
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        return info

    def upload(self, job_id: str, data: bytes | str) -> requests.Response:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        return self.request(
            "PUT",
            f"/{job_id}/batches",
            data=payload,
            headers={"Content-Type": "text/csv"},
        )

    def set_state(self, job_id: str, state: str) -> requests.Response:
        return self.request("PATCH", f"/{job_id}", json={"state": state})

    def info(self, job_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/{job_id}")
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        return info

    def wait(self, job_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.info(job_id)
            if info["state"] in TERMINAL:
                return info
            assert time.monotonic() < deadline, f"job {job_id} still {info['state']}"
            time.sleep(0.02)

    def results(self, job_id: str, kind: str) -> str:
        response = self.request("GET", f"/{job_id}/{kind}")
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/csv")
        return response.content.decode("utf-8")

    def run(self, data: bytes | str, **create: Any) -> tuple[str, dict[str, Any]]:
        """Create, upload, close and wait: the job id and its final JobInfo."""
        job_id = self.create(**create)["id"]
        assert self.upload(job_id, data).status_code == 201
        assert self.set_state(job_id, "UploadComplete").status_code == 200
        return job_id, self.wait(job_id)
