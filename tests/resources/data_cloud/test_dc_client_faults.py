"""Paging and retry rules of the client, against a scripted tenant stub (faults on demand)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dc_stub import Reply, StaticCoreAuth, TenantStub, page

from resources.data_cloud import (
    DataCloudClient,
    DataCloudQueryError,
    QueryRestartRequiredError,
)
from resources.data_cloud.auth import DataCloudAuth
from resources.http import HttpClient, HttpSettings

pytestmark = pytest.mark.unit

FAST = HttpSettings(connect_timeout_s=2, read_timeout_s=5, max_retries=3, backoff_base_s=0.01)


@pytest.fixture
def stub() -> Iterator[TenantStub]:
    with TenantStub() as server:
        yield server


@pytest.fixture
def client(stub: TenantStub) -> Iterator[DataCloudClient]:
    with DataCloudClient.connect(StaticCoreAuth(stub.url), http=FAST, prefer_arrow=False) as c:
        yield c


def ids_of(client: DataCloudClient, sql: str = "SELECT 1") -> list[str]:
    table = client.query_arrow(sql).read_all()
    return table.column(0).to_pylist()


def test_pages_are_followed_until_done(stub: TenantStub, client: DataCloudClient) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([["a"], ["b"]], "id-1", False)))
    stub.script(
        "GET",
        "/api/v2/query/",
        Reply(200, page([["c"]], "id-2", False)),
        Reply(200, page([["d"]], None, True)),
    )
    assert ids_of(client) == ["a", "b", "c", "d"]
    assert [s.path for s in stub.requests_to("GET", "/api/v2/query/")] == [
        "/api/v2/query/id-1",
        "/api/v2/query/id-2",
    ]


def test_empty_pages_and_spurious_not_done_are_tolerated(
    stub: TenantStub, client: DataCloudClient
) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([], "id-1", False)))
    stub.script(
        "GET",
        "/api/v2/query/",
        Reply(200, page([["a"]], "id-2", False)),
        Reply(200, page([], "id-3", False)),
        Reply(200, page([], None, False)),  # done:false with nothing left and no next id
    )
    assert ids_of(client) == ["a"]


def test_batch_id_is_sent_opaque_and_path_safe(stub: TenantStub, client: DataCloudClient) -> None:
    odd = "20260101_0001_ab/cd?x=1_#3"
    stub.script("POST", "/api/v2/query", Reply(200, page([["a"]], odd, False)))
    stub.script("GET", "/api/v2/query/", Reply(200, page([], None, True)))
    assert ids_of(client) == ["a"]
    assert stub.requests_to("GET", "/api/v2/query/")[0].path == (
        "/api/v2/query/20260101_0001_ab%2Fcd%3Fx%3D1_%233"
    )


def test_page_get_is_retried_after_429_with_retry_after(
    stub: TenantStub, client: DataCloudClient
) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([["a"]], "id-1", False)))
    stub.script(
        "GET",
        "/api/v2/query/",
        Reply(429, {"error": "throttled", "message": "slow down"}, {"Retry-After": "0"}),
        Reply(200, page([["b"]], None, True)),
    )
    assert ids_of(client) == ["a", "b"]
    assert [s.path for s in stub.requests_to("GET", "/api/v2/query/")] == ["/api/v2/query/id-1"] * 2


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, {"error": "internal", "message": "boom"}),
        Reply(503, "<html>no healthy upstream</html>"),
        Reply(404, {"error": "not_found", "message": "batch id unknown"}),
        Reply(drop=True),
    ],
    ids=["500", "503-html", "404", "dropped"],
)
def test_page_get_failure_is_never_repeated_and_demands_a_restart(
    stub: TenantStub, client: DataCloudClient, failure: Reply
) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([["a"], ["b"]], "id-1", False)))
    stub.script("GET", "/api/v2/query/", failure, Reply(200, page([["c"]], None, True)))
    reader = client.query_arrow("SELECT 1")
    first = reader.read_next_batch()
    assert first.column(0).to_pylist() == ["a", "b"]
    with pytest.raises(QueryRestartRequiredError) as caught:
        reader.read_next_batch()
    assert caught.value.rows_delivered == 2
    assert "must be restarted" in str(caught.value)
    assert len(stub.requests_to("GET", "/api/v2/query/")) == 1  # the batch id was used once


def test_submit_is_retried_on_5xx(stub: TenantStub, client: DataCloudClient) -> None:
    stub.script(
        "POST",
        "/api/v2/query",
        Reply(503, {"error": "unavailable", "message": "try later"}, {"Retry-After": "0"}),
        Reply(502, "bad gateway"),
        Reply(200, page([["a"]], None, True)),
    )
    assert ids_of(client) == ["a"]
    assert len(stub.requests_to("POST", "/api/v2/query")) == 3


def test_bad_sql_is_a_query_error_not_retried(stub: TenantStub, client: DataCloudClient) -> None:
    stub.script("POST", "/api/v2/query", Reply(400, {"error": "bad_sql", "message": "no such col"}))
    with pytest.raises(DataCloudQueryError, match="no such col"):
        client.query_arrow("SELECT nope")
    assert len(stub.requests_to("POST", "/api/v2/query")) == 1


def test_401_on_a_page_renews_the_token_once_and_repeats(stub: TenantStub) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([["a"]], "id-1", False)))
    stub.script(
        "GET",
        "/api/v2/query/",
        Reply(401, {"error": "invalid_token", "message": "expired"}),
        Reply(200, page([["b"]], None, True)),
    )
    with DataCloudClient.connect(StaticCoreAuth(stub.url), http=FAST, prefer_arrow=False) as c:
        assert ids_of(c) == ["a", "b"]
    gets = stub.requests_to("GET", "/api/v2/query/")
    assert [g.path for g in gets] == ["/api/v2/query/id-1"] * 2
    assert gets[0].headers["Authorization"] != gets[1].headers["Authorization"]
    assert stub.exchanges == 2


def test_token_is_renewed_before_expiry_with_a_margin(stub: TenantStub) -> None:
    now = [1000.0]
    http = HttpClient(FAST)
    auth = DataCloudAuth(StaticCoreAuth(stub.url), http, renew_margin_s=60, clock=lambda: now[0])
    first = auth.token()
    now[0] += 3600 - 61
    assert auth.token() is first
    now[0] += 2  # inside the 60 s margin
    second = auth.token()
    assert second is not first and stub.exchanges == 2
    assert auth.renew(first) is second  # a stale renewal does not exchange again
    assert stub.exchanges == 2
    http.close()


def test_exchange_sends_the_core_token_as_subject_and_optional_dataspace(stub: TenantStub) -> None:
    http = HttpClient(FAST)
    DataCloudAuth(StaticCoreAuth(stub.url), http, dataspace="sales").token()
    http.close()
    sent = stub.requests_to("POST", "/services/a360/token")[0].body.decode()
    assert "subject_token=00Dstub%21core" in sent
    assert "grant_type=urn%3Asalesforce%3Agrant-type%3Aexternal%3Acdp" in sent
    assert "dataspace=sales" in sent


def test_errors_never_carry_the_token(stub: TenantStub, client: DataCloudClient) -> None:
    token = client.auth.token().access_token
    stub.script(
        "POST",
        "/api/v2/query",
        Reply(400, {"error": "bad", "message": f"echo Bearer {token}", "access_token": token}),
    )
    with pytest.raises(DataCloudQueryError) as caught:
        client.query_arrow("SELECT 1")
    assert token not in str(caught.value)
    assert token not in caught.value.body
    assert token not in repr(client.auth.token())


def test_sql_is_sent_as_json_body(stub: TenantStub, client: DataCloudClient) -> None:
    stub.script("POST", "/api/v2/query", Reply(200, page([], None, True)))
    client.query_arrow("SELECT 'x''y'").read_all()
    assert json.loads(stub.requests_to("POST", "/api/v2/query")[0].body) == {"sql": "SELECT 'x''y'"}
