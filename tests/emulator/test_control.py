"""The control plane: stats, reset, request log, loopback guard, Data Cloud row changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from emulator import control, profiles
from emulator.config import EmulatorConfig
from emulator.datacloud.backend import PageFormat
from emulator.routing import Call
from emulator.server import EmulatorServer
from tests.emulator.conftest import IngestClient

pytestmark = pytest.mark.emulator

RECORDS = 300


@pytest.fixture(scope="module")
def control_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    data_dir: Path = tmp_path_factory.mktemp("control")
    profiles.seed(data_dir, RECORDS, 4, "clean")
    with EmulatorServer(EmulatorConfig(data_dir=data_dir)) as server:
        yield server


@pytest.fixture
def plane(control_server: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        session.verify = str(control_server.ca_bundle)
        assert session.post(f"{control_server.url}/__emulator__/reset", timeout=20).ok
        yield session


def get(session: requests.Session, server: EmulatorServer, path: str, **kw: Any) -> Any:
    response = session.get(f"{server.url}/__emulator__/{path}", timeout=20, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def _csv(rows: int) -> str:
    lines = ["External_Id__c,Name,StageName,CloseDate"]
    lines += [f"CTL-{i:04d},Deal {i},Prospecting,2026-02-01" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_stats_count_requests_jobs_and_rows(
    plane: requests.Session, control_server: EmulatorServer
) -> None:
    ingest = IngestClient(control_server)
    ingest.run(_csv(50))
    job_id = ingest.create()["id"]  # left Open
    ingest.request("GET", "/nope-not-a-job")

    stats = get(plane, control_server, "stats")

    assert stats["rows"] == {"Opportunity": 50, "datacloud": RECORDS}
    assert stats["ingest"]["jobs_by_state"] == {"JobComplete": 1, "Open": 1}
    assert stats["ingest"]["max_active_jobs"] >= 1
    assert stats["requests"]["bulk.ingest.create"]["200"] == 2
    assert stats["requests"]["bulk.ingest.get"]["404"] == 1
    assert stats["api_calls"]["DailyApiRequests"]["used"] >= 6
    assert stats["api_calls"]["DailyBulkApiBatches"]["used"] == 1
    assert stats["datacloud"]["profile"]["profile"] == "clean"
    assert ingest.set_state(job_id, "Aborted").status_code == 200


def test_reset_clears_jobs_rows_counters_and_log(
    plane: requests.Session, control_server: EmulatorServer
) -> None:
    IngestClient(control_server).run(_csv(10))
    assert plane.post(f"{control_server.url}/__emulator__/reset", timeout=20).ok

    stats = get(plane, control_server, "stats")
    log = get(plane, control_server, "requests")["requests"]

    assert stats["rows"] == {"Opportunity": 0, "datacloud": RECORDS}
    assert stats["ingest"]["jobs_by_state"] == {}
    assert stats["ingest"]["max_active_jobs"] == 0
    assert stats["api_calls"]["DailyApiRequests"]["used"] == 0
    assert [e["endpoint"] for e in log] == ["emulator.reset", "emulator.stats"]


def test_request_log_filters_by_endpoint_and_time(
    plane: requests.Session, control_server: EmulatorServer
) -> None:
    ingest = IngestClient(control_server)
    ingest.run(_csv(5))
    everything = get(plane, control_server, "requests")["requests"]
    creates = get(plane, control_server, "requests", params={"endpoint": "bulk.ingest.create"})
    last = get(plane, control_server, "requests", params={"limit": 1})["requests"]
    later = get(plane, control_server, "requests", params={"since": everything[-1]["at"] + 3600})

    assert [e["method"] for e in creates["requests"]] == ["POST"]
    assert creates["requests"][0]["path"].endswith("/jobs/ingest")
    assert creates["requests"][0]["status"] == 200
    assert len(last) == 1
    assert later["requests"] == []
    assert {"bulk.ingest.upload", "bulk.ingest.patch"} <= {e["endpoint"] for e in everything}


def test_control_plane_needs_no_token_and_costs_no_api_calls(
    plane: requests.Session, control_server: EmulatorServer
) -> None:
    for _ in range(3):
        get(plane, control_server, "stats")

    assert get(plane, control_server, "stats")["api_calls"]["DailyApiRequests"]["used"] == 0


@pytest.mark.unit
def test_control_plane_refuses_clients_that_are_not_loopback(
    control_server: EmulatorServer,
) -> None:
    request = Request(
        EnvironBuilder(
            path="/__emulator__/stats", environ_base={"REMOTE_ADDR": "10.1.2.3"}
        ).get_environ()
    )
    guarded = control._loopback_only(control.stats)

    answer = guarded(Call(request=request, emulator=control_server.emulator, token=None))

    assert answer.status_code == 403


def test_datacloud_rows_insert_update_delete_while_serving(
    plane: requests.Session, control_server: EmulatorServer
) -> None:
    url = f"{control_server.url}/__emulator__/datacloud/rows"
    backend = control_server.emulator.services["datacloud"]
    new = {
        "ExternalId__c": "DRIFT-1",
        "ssot__Name__c": "Drift deal",
        "ssot__TotalAmount__c": "12.50",
        "ssot__CloseDate__c": "2026-03-01T00:00:00Z",
    }
    inserted = plane.post(
        url, json={"insert": [new, {**new, "ExternalId__c": "DRIFT-2"}]}, timeout=20
    )
    updated = plane.post(
        url, json={"update": [{"ExternalId__c": "DRIFT-1", "ssot__Name__c": "Renamed"}]}, timeout=20
    )
    page = backend.submit(
        'SELECT "ssot__Name__c", "ssot__TotalAmount__c" FROM ssot__Opportunity__dlm '
        "WHERE \"ExternalId__c\" = 'DRIFT-1'",
        PageFormat.JSON,
    )
    name = json.loads(b"[" + page.payload + b"]")
    deleted = plane.post(url, json={"delete": ["DRIFT-1", "DRIFT-2", "NOT-THERE"]}, timeout=20)
    refused = plane.post(url, json={"insert": [{"NoSuchColumn": 1}]}, timeout=20)

    assert inserted.json() == {"inserted": 2, "updated": 0, "deleted": 0, "rows": RECORDS + 2}
    assert updated.json()["updated"] == 1
    assert name[0][0] == "Renamed"
    assert float(name[0][1]) == 12.5
    assert deleted.json() == {"inserted": 0, "updated": 0, "deleted": 2, "rows": RECORDS}
    assert refused.status_code == 400
    assert get(plane, control_server, "stats")["counters"]["datacloud.rows_changed"] == 5
