"""The session factory: timeouts, retry policy, Retry-After, call counting, redaction."""

from __future__ import annotations

import pytest
import requests
from http_stub import Reply, StubServer

from resources.http import HttpClient, HttpSettings, parse_retry_after, redact

pytestmark = pytest.mark.unit


def _client(sleeps: list[float], max_retries: int = 3) -> HttpClient:
    settings = HttpSettings(
        connect_timeout_s=2, read_timeout_s=5, max_retries=max_retries, backoff_base_s=0.1
    )
    return HttpClient(settings, sleep=sleeps.append)


def test_get_is_retried_on_5xx_and_420_then_succeeds() -> None:
    sleeps: list[float] = []
    replies = [Reply(503), Reply(420), Reply(500), Reply(200, {"ok": True})]
    with StubServer(replies) as stub, _client(sleeps) as http:
        response = http.request("GET", stub.url + "/x")
    assert response.json() == {"ok": True}
    assert len(stub.seen) == 4
    assert http.calls.total == 4
    assert len(sleeps) == 3


def test_retries_are_bounded_and_return_last_response() -> None:
    sleeps: list[float] = []
    with StubServer(default=Reply(503)) as stub, _client(sleeps, max_retries=2) as http:
        response = http.request("GET", stub.url + "/x")
    assert response.status_code == 503
    assert len(stub.seen) == 3


def test_post_is_not_retried_on_5xx_unless_marked_idempotent() -> None:
    sleeps: list[float] = []
    with StubServer([Reply(503), Reply(503), Reply(200, {})]) as stub, _client(sleeps) as http:
        first = http.request("POST", stub.url + "/x", json={})
        assert first.status_code == 503
        assert len(stub.seen) == 1
        second = http.request("PATCH", stub.url + "/x", json={}, idempotent=True)
        assert second.status_code == 200
        assert len(stub.seen) == 3


def test_request_limit_exceeded_is_never_retried() -> None:
    body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    sleeps: list[float] = []
    with StubServer([Reply(403, body), Reply(200, {})]) as stub, _client(sleeps) as http:
        response = http.request("GET", stub.url + "/x")
    assert response.status_code == 403
    assert len(stub.seen) == 1
    assert sleeps == []


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps: list[float] = []
    replies = [Reply(429, headers={"Retry-After": "7"}), Reply(503, headers={"Retry-After": "999"})]
    settings = HttpSettings(max_retries=3, backoff_cap_s=20)
    with (
        StubServer([*replies, Reply(200, {})]) as stub,
        HttpClient(settings, sleep=sleeps.append) as http,
    ):
        assert http.request("GET", stub.url + "/x").status_code == 200
    assert sleeps == [7.0, 20.0]


def test_dropped_connection_retried_for_get_not_for_post() -> None:
    sleeps: list[float] = []
    with StubServer([Reply(drop=True), Reply(200, {"ok": 1})]) as stub, _client(sleeps) as http:
        assert http.request("GET", stub.url + "/x").json() == {"ok": 1}
    with StubServer([Reply(drop=True), Reply(200, {})]) as stub, _client(sleeps) as http:
        with pytest.raises(requests.ConnectionError):
            http.request("POST", stub.url + "/x", json={})
        assert len(stub.seen) == 1


def test_refused_connection_is_retried_even_for_post_then_raises() -> None:
    sleeps: list[float] = []
    with StubServer() as stub:
        url = stub.url
    with _client(sleeps, max_retries=2) as http, pytest.raises(requests.ConnectionError):
        http.request("POST", url + "/x", json={})
    assert len(sleeps) == 2
    assert http.calls.total == 3


def test_backoff_is_capped_exponential_with_jitter() -> None:
    http = HttpClient(HttpSettings(backoff_base_s=1, backoff_cap_s=8))
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (10, 8)]:
        delays = {http.backoff_s(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_every_request_passes_timeout_and_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_request(self: requests.Session, method: str, url: str, **kwargs: object) -> object:
        seen.update(kwargs)
        raise requests.ConnectionError("boom")

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    monkeypatch.setattr(requests.Session, "request", fake_request)
    http = HttpClient(HttpSettings(ca_bundle="ca.pem", connect_timeout_s=3, read_timeout_s=9))
    with pytest.raises(requests.ConnectionError):
        http.request("POST", "https://example.invalid/x")
    assert seen["timeout"] == (3, 9)
    assert seen["verify"] == "ca.pem"


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_redact_removes_tokens_and_secrets() -> None:
    token = "00DEM0000000001EAA!AQabc.DEF_123-xyz"
    text = (
        f'{{"access_token":"{token}","instance_url":"https://x"}} Authorization: Bearer {token} '
        "client_secret=s3cr3t&assertion=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
    )
    cleaned = redact(text)
    assert token not in cleaned
    assert "s3cr3t" not in cleaned
    assert "eyJhbGci" not in cleaned
    assert "https://x" in cleaned
