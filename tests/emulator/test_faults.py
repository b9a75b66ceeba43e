"""Fault injection through real HTTPS: each kind happens as specified and the stats count it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator import profiles
from emulator.config import EmulatorConfig
from emulator.faults import NAMED_PLANS, parse_plan
from emulator.server import EmulatorServer
from tests.emulator.conftest import IngestClient

pytestmark = pytest.mark.emulator

VERSION = "59.0"


class Wire:
    """A session trusting the emulator CA, with the OAuth and control-plane calls tests need."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.url = server.url
        self.session = requests.Session()
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        self.session.verify = str(server.ca_bundle)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return self.session.request(method, self.url + path, **kwargs)

    def faults(self, plan: Any) -> dict[str, Any]:
        response = self.call("POST", "/__emulator__/faults", json=plan)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def stats(self) -> dict[str, Any]:
        response = self.call("GET", "/__emulator__/stats")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def injected(self) -> dict[str, int]:
        counts: dict[str, int] = self.stats()["faults"]["injected"]
        return counts

    def core_token(self) -> str:
        config = self.server.config
        response = self.call(
            "POST",
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def datacloud_token(self, core: str) -> str:
        response = self.call(
            "POST",
            "/services/a360/token",
            data={
                "grant_type": "urn:salesforce:grant-type:external:cdp",
                "subject_token": core,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def limits(self, token: str) -> requests.Response:
        return self.call(
            "GET", f"/services/data/v{VERSION}/limits", headers={"Authorization": f"Bearer {token}"}
        )

    def query(self, token: str, sql: str) -> requests.Response:
        return self.call(
            "POST", "/api/v2/query", json={"sql": sql}, headers={"Authorization": f"Bearer {token}"}
        )

    def next_batch(self, token: str, batch_id: str) -> requests.Response:
        return self.call(
            "GET", f"/api/v2/query/{batch_id}", headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    data_dir: Path = tmp_path_factory.mktemp("faults")
    profiles.seed(data_dir, 1_000, 11, "clean")
    config = EmulatorConfig(data_dir=data_dir, datacloud_page_rows=100)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def wire(fault_server: EmulatorServer) -> Iterator[Wire]:
    wire = Wire(fault_server)
    assert wire.call("POST", "/__emulator__/reset").status_code == 200
    yield wire
    wire.call("POST", "/__emulator__/reset")


# ---------------------------------------------------------------------------------- HTTP faults


@pytest.mark.parametrize("status", [503, 502, 420])
def test_server_errors_answer_before_the_handler_and_are_counted(wire: Wire, status: int) -> None:
    token = wire.core_token()
    wire.faults({"http": [{"kind": "error", "status": status, "endpoints": ["rest.limits"]}]})

    answers = [wire.limits(token) for _ in range(3)]
    untouched = wire.call(
        "GET", f"/services/data/v{VERSION}", headers={"Authorization": f"Bearer {token}"}
    )

    assert [a.status_code for a in answers] == [status] * 3
    assert untouched.status_code == 200
    if status == 420:
        assert answers[0].headers["Content-Type"].startswith("text/html")
    else:
        assert answers[0].json()[0]["errorCode"] in ("SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION")
    assert wire.injected()[f"http_{status}"] == 3
    assert wire.stats()["requests"]["rest.limits"][str(status)] == 3
    assert wire.stats()["api_calls"]["DailyApiRequests"]["used"] == 1  # refused calls cost nothing


def test_rates_are_deterministic_per_seed_and_times_caps_a_rule(wire: Wire) -> None:
    token = wire.core_token()
    plan = {"seed": 5, "http": [{"kind": "error", "status": 503, "rate": 0.4}]}

    def statuses() -> list[int]:
        wire.faults(plan)
        return [wire.limits(token).status_code for _ in range(30)]

    first, second = statuses(), statuses()
    wire.faults({"http": [{"kind": "error", "status": 503, "times": 2}]})
    capped = [wire.limits(token).status_code for _ in range(4)]

    assert first == second
    assert 3 <= first.count(503) <= 25
    assert capped == [503, 503, 200, 200]
    assert wire.injected()["http_503"] == first.count(503) * 2 + 2


def test_dropped_connection_cuts_the_response_mid_body(wire: Wire) -> None:
    token = wire.core_token()
    wire.faults({"http": [{"kind": "drop", "endpoints": ["rest.limits"], "times": 1}]})

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        wire.limits(token)
    after = wire.limits(token)

    assert after.status_code == 200
    assert wire.injected()["drop"] == 1


def test_slow_responses_wait_before_answering(wire: Wire) -> None:
    wire.faults({"http": [{"kind": "slow", "delay_s": 0.3, "endpoints": ["rest.versions"]}]})

    started = time.monotonic()
    answer = wire.call("GET", "/services/data")
    waited = time.monotonic() - started

    assert answer.status_code == 200
    assert waited >= 0.3
    assert wire.injected()["slow"] == 1


def test_data_cloud_throttle_is_429_with_retry_after_and_spares_core(wire: Wire) -> None:
    core = wire.core_token()
    datacloud = wire.datacloud_token(core)
    wire.faults({"http": [{"kind": "throttle", "retry_after_s": 2, "times": 1}]})

    throttled = wire.query(datacloud, "SELECT COUNT(*) FROM ssot__Opportunity__dlm")
    core_answer = wire.limits(core)
    retried = wire.query(datacloud, "SELECT COUNT(*) FROM ssot__Opportunity__dlm")

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert "message" in throttled.json()
    assert core_answer.status_code == 200
    assert retried.status_code == 200
    assert wire.injected()["http_429"] == 1


def test_nothing_is_injected_on_the_control_plane(wire: Wire) -> None:
    wire.faults({"http": [{"kind": "error", "status": 503}, {"kind": "drop"}]})

    assert wire.call("GET", "/__emulator__/stats").status_code == 200
    assert wire.call("GET", "/__emulator__/requests").status_code == 200
    assert wire.call("GET", "/services/data").status_code == 503


# ---------------------------------------------------------------------------------- limits, tokens


def test_spent_daily_allowance_answers_403_and_shows_in_limits(wire: Wire) -> None:
    token = wire.core_token()
    wire.faults({"limits": {"DailyApiRequests": 3}})

    answers = [wire.limits(token) for _ in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 403, 403]
    assert answers[0].json()["DailyApiRequests"]["Max"] == 3
    assert answers[2].json()["DailyApiRequests"]["Remaining"] == 0
    assert answers[3].json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    stats = wire.stats()
    assert stats["faults"]["injected"]["request_limit_exceeded"] == 2
    assert stats["api_calls"]["DailyApiRequests"] == {"used": 3, "max": 3}


def test_allowance_returns_to_default_when_the_plan_changes(wire: Wire) -> None:
    token = wire.core_token()
    wire.faults({"limits": {"DailyApiRequests": 3}})
    wire.faults("none")

    assert wire.limits(token).json()["DailyApiRequests"]["Max"] == 100_000


def test_spent_bulk_batch_allowance_fails_the_job_part_way(wire: Wire) -> None:
    ingest = IngestClient(wire.server)
    wire.faults({"limits": {"DailyBulkApiBatches": 1}})

    _, info = ingest.run(_csv(10_050, "QUOTA"))
    limits = wire.limits(wire.core_token()).json()["DailyBulkApiBatches"]

    assert info["state"] == "Failed"
    assert info["numberRecordsProcessed"] == 10_000
    assert "ExceededQuota" in info["errorMessage"]
    assert limits == {"Max": 1, "Remaining": 0}
    assert wire.injected()["jobs_failed_part_way"] == 1


def test_core_and_data_cloud_tokens_expire_independently(wire: Wire) -> None:
    wire.faults({"tokens": {"core_lifetime_s": 0.5, "datacloud_lifetime_s": 60}})
    core = wire.core_token()
    datacloud = wire.datacloud_token(core)
    time.sleep(0.7)

    assert wire.limits(core).status_code == 401
    assert wire.query(datacloud, "SELECT 1").status_code == 200

    wire.faults({"tokens": {"core_lifetime_s": 60, "datacloud_lifetime_s": 0.5}})
    core = wire.core_token()
    datacloud = wire.datacloud_token(core)
    time.sleep(0.7)

    assert wire.limits(core).status_code == 200
    assert wire.query(datacloud, "SELECT 1").status_code == 401
    assert wire.injected()["unauthorized"] == 2


def test_expire_now_invalidates_live_tokens_of_one_kind(wire: Wire) -> None:
    core = wire.core_token()
    datacloud = wire.datacloud_token(core)
    wire.faults({"tokens": {"expire_now": ["datacloud"]}})

    assert wire.query(datacloud, "SELECT 1").status_code == 401
    assert wire.limits(core).status_code == 200
    assert wire.injected()["token_expired_datacloud"] >= 1


# ---------------------------------------------------------------------------------- ingest


def _csv(rows: int, prefix: str) -> str:
    lines = ["External_Id__c,Name,StageName,CloseDate"]
    lines += [f"{prefix}-{i:05d},Deal {i},Prospecting,2026-01-15" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_lock_errors_fail_rows_at_the_rate_and_are_counted(wire: Wire) -> None:
    ingest = IngestClient(wire.server)
    wire.faults({"seed": 3, "ingest": {"lock_error_rate": 0.2}})

    job_id, info = ingest.run(_csv(500, "LOCK"))
    failed = ingest.results(job_id, "failedResults").splitlines()[1:]

    assert info["state"] == "JobComplete"
    assert 40 <= info["numberRecordsFailed"] <= 160
    assert len(failed) == info["numberRecordsFailed"]
    assert all('"UNABLE_TO_LOCK_ROW:' in line for line in failed)
    assert wire.injected()["unable_to_lock_row"] == info["numberRecordsFailed"]


def test_jobs_fail_part_way_leaving_unprocessed_rows(wire: Wire) -> None:
    ingest = IngestClient(wire.server)
    wire.faults({"ingest": {"fail_after_rows": 120, "batch_retries": 2}})

    job_id, info = ingest.run(_csv(300, "FAIL"))
    unprocessed = ingest.results(job_id, "unprocessedrecords").splitlines()

    assert info["state"] == "Failed"
    assert info["numberRecordsProcessed"] == 120
    assert info["retries"] >= 2
    assert "errorMessage" in info
    assert len(unprocessed) == 1 + 180
    injected = wire.injected()
    assert injected["jobs_failed_part_way"] == 1
    assert injected["batch_retries"] == info["retries"]


def test_queue_delay_and_speed_hold_jobs_open_for_a_while(wire: Wire) -> None:
    ingest = IngestClient(wire.server)
    wire.faults({"ingest": {"queue_delay_s": 0.5, "rows_per_second": 2_000}})

    job_id = ingest.create()["id"]
    assert ingest.upload(job_id, _csv(400, "SLOW")).status_code == 201
    assert ingest.set_state(job_id, "UploadComplete").status_code == 200
    early = ingest.info(job_id)["state"]
    final = ingest.wait(job_id)

    assert early == "UploadComplete"
    assert final["state"] == "JobComplete"
    assert final["numberRecordsProcessed"] == 400
    assert wire.stats()["ingest"]["max_active_jobs"] >= 1


# ---------------------------------------------------------------------------------- Data Cloud


def test_batch_ids_expire_when_unread_and_are_refused_when_reused(wire: Wire) -> None:
    token = wire.datacloud_token(wire.core_token())
    sql = 'SELECT "ExternalId__c" FROM ssot__Opportunity__dlm ORDER BY 1'

    first = wire.query(token, sql).json()
    second = wire.next_batch(token, first["nextBatchId"])
    reused = wire.next_batch(token, first["nextBatchId"])
    wire.faults({"datacloud": {"batch_idle_s": 0.2}})
    page = wire.query(token, sql).json()
    time.sleep(0.4)
    expired = wire.next_batch(token, page["nextBatchId"])

    assert second.status_code == 200
    assert reused.status_code == 404
    assert expired.status_code == 404
    assert wire.injected()["datacloud_batch_refused"] == 2


# ---------------------------------------------------------------------------------- plans


def test_named_plans_parse_and_storm_has_every_kind() -> None:
    storm = parse_plan("storm")
    kinds = {rule.kind for rule in storm.http}

    assert parse_plan("none").http == ()
    assert set(NAMED_PLANS) >= {"none", "storm"}
    assert kinds == {"error", "drop", "slow", "throttle"}
    assert {r.status for r in storm.http if r.kind == "error"} == {502, 503, 420}
    assert storm.tokens and storm.ingest and storm.datacloud


def test_bad_plans_are_refused_with_400(wire: Wire) -> None:
    for bad in ({"http": [{"kind": "error", "status": 404}]}, {"bogus": 1}, "no-such-plan"):
        answer = wire.call("POST", "/__emulator__/faults", json=bad)
        assert answer.status_code == 400, bad
        assert answer.json()[0]["errorCode"] == "INVALID_FAULT_PLAN"


def test_startup_plan_is_active_and_reset_restores_it(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path / "emulator", extra={"faults": "storm"})
    with EmulatorServer(config) as server:
        wire = Wire(server)
        assert wire.call("GET", "/__emulator__/faults").json()["plan"]["name"] == "storm"
        wire.faults("none")
        assert wire.call("GET", "/__emulator__/faults").json()["plan"]["name"] == "none"
        wire.call("POST", "/__emulator__/reset")
        assert wire.call("GET", "/__emulator__/faults").json()["plan"]["name"] == "storm"
