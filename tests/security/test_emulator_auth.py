"""Every emulator route refuses missing, wrong, expired and wrong-kind tokens; it binds to loopback.

The cases are generated from ``emulator.routes.build_url_map()``, so a new route is covered the day it
lands. Unauthenticated routes are an explicit allow-list: adding one fails here until it is reviewed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests
from werkzeug.routing import Rule

from emulator import cli as emulator_cli
from emulator.config import EmulatorConfig
from emulator.routes import build_url_map
from emulator.routing import Auth, Endpoint
from emulator.server import EmulatorServer
from emulator.tokens import TokenKind

pytestmark = pytest.mark.emulator

# Reviewed unauthenticated endpoints: logging in, listing versions, the Data Cloud token exchange
# (it validates its subject_token itself), and the emulator's own control plane.
UNAUTHENTICATED_ENDPOINTS = frozenset(
    {
        ("/services/oauth2/token", "oauth.token"),
        ("/services/oauth2/revoke", "oauth.revoke"),
        ("/services/data", "rest.versions"),
        ("/services/a360/token", "datacloud.token"),
    }
)
CONTROL_PLANE_PREFIX = "/__emulator__/"

PLACEHOLDERS = {
    "version": "59.0",
    "job_id": "7508c00000A1b2cAAB",
    "kind": "successfulResults",
    "locator": "01gD0000002HU6KIAW-2000",
    "batch_id": "20240101000000-0000000000000000001",
}
TOKEN_KIND_OF = {Auth.CORE: TokenKind.CORE, Auth.DATACLOUD: TokenKind.DATACLOUD}
OTHER_KIND_OF = {Auth.CORE: TokenKind.DATACLOUD, Auth.DATACLOUD: TokenKind.CORE}


@dataclass(frozen=True)
class RouteCall:
    method: str
    path: str
    name: str
    auth: Auth

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def concrete_path(rule: Rule) -> str:
    def value(match: re.Match[str]) -> str:
        return PLACEHOLDERS.get(match.group(1), "x1")

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", value, rule.rule)


def route_calls() -> list[RouteCall]:
    calls = []
    for rule in build_url_map().iter_rules():
        endpoint = rule.endpoint
        assert isinstance(endpoint, Endpoint)
        for method in sorted(rule.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue  # answered like GET by werkzeug; GET is in the table
            calls.append(RouteCall(method, concrete_path(rule), endpoint.name, endpoint.auth))
    return calls


ALL_CALLS = route_calls()
AUTHENTICATED = [c for c in ALL_CALLS if c.auth is not Auth.NONE]


def test_the_route_table_is_not_empty_and_covers_both_kinds() -> None:
    kinds = {c.auth for c in AUTHENTICATED}
    assert kinds == {Auth.CORE, Auth.DATACLOUD}
    assert len(AUTHENTICATED) >= 20


def test_unauthenticated_routes_are_exactly_the_reviewed_allow_list() -> None:
    open_routes = {
        (rule.rule, rule.endpoint.name)
        for rule in build_url_map().iter_rules()
        if rule.endpoint.auth is Auth.NONE and not rule.rule.startswith(CONTROL_PLANE_PREFIX)
    }
    assert open_routes == UNAUTHENTICATED_ENDPOINTS, (
        "an unauthenticated route was added or removed: review it, then update the allow-list"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("auth-emulator"))
    with EmulatorServer(config) as running:
        yield running


@pytest.fixture(scope="module")
def session(server: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify
        http.verify = str(server.ca_bundle)
        yield http


def issue(server: EmulatorServer, kind: TokenKind, lifetime_s: float = 600.0) -> str:
    config = server.config
    return server.emulator.tokens.issue(kind, config.username, config.client_id, lifetime_s).value


def send(
    session: requests.Session, server: EmulatorServer, call: RouteCall, authorization: str | None
) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return session.request(call.method, server.url + call.path, headers=headers, timeout=30)


def assert_refused(response: requests.Response, call: RouteCall, presented: str = "") -> None:
    assert response.status_code == 401, (call.id, response.status_code, response.text[:200])
    body = response.json()
    if call.auth is Auth.CORE:
        assert body[0]["errorCode"] == "INVALID_SESSION_ID"
    else:
        assert body["error"] == "invalid_token"
    if presented:
        assert presented not in response.text  # a refused credential is never echoed back


@pytest.mark.parametrize("call", AUTHENTICATED, ids=lambda c: c.id)
def test_authenticated_route_refuses_every_bad_credential(
    call: RouteCall, server: EmulatorServer, session: requests.Session
) -> None:
    right_kind = TOKEN_KIND_OF[call.auth]
    expired = issue(server, right_kind, lifetime_s=-1.0)
    other_kind = issue(server, OTHER_KIND_OF[call.auth])
    refresh = issue(server, TokenKind.REFRESH)
    valid = issue(server, right_kind)
    bad_credentials = {
        "missing": None,
        "empty bearer": "Bearer ",
        "garbage": "Bearer not-a-token",
        "forged core shape": f"Bearer {server.emulator.tokens.ORG_ID}!AQforged",
        "forged jwt shape": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
        "expired": f"Bearer {expired}",
        "other kind": f"Bearer {other_kind}",
        "refresh token": f"Bearer {refresh}",
        "valid token, wrong scheme": f"Basic {valid}",
        "valid token, no scheme": valid,
    }
    for label, authorization in bad_credentials.items():
        response = send(session, server, call, authorization)
        presented = (authorization or "").partition(" ")[2]
        assert response.status_code == 401, (label, call.id, response.text[:200])
        assert_refused(response, call, presented)

    # The same route with the right token gets past authentication (so 401 above meant refusal).
    accepted = send(session, server, call, f"Bearer {valid}")
    assert accepted.status_code != 401, (call.id, accepted.text[:200])


@pytest.mark.parametrize("kind", [TokenKind.CORE, TokenKind.DATACLOUD])
def test_tokens_expired_by_the_emulator_are_refused_everywhere(
    kind: TokenKind, tmp_path: Path
) -> None:
    auth = Auth.CORE if kind is TokenKind.CORE else Auth.DATACLOUD
    calls = [c for c in AUTHENTICATED if c.auth is auth]
    with (
        EmulatorServer(EmulatorConfig(data_dir=tmp_path / "emulator")) as own,
        requests.Session() as http,
    ):
        http.trust_env = False
        http.verify = str(own.ca_bundle)
        token = issue(own, kind)
        first = calls[0]
        assert send(http, own, first, f"Bearer {token}").status_code != 401
        assert own.emulator.tokens.expire_all(kind) >= 1
        for call in calls:
            assert_refused(send(http, own, call, f"Bearer {token}"), call, token)


def test_a_token_past_its_lifetime_is_refused(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path / "emulator", token_lifetime_s=0.2)
    with EmulatorServer(config) as own, requests.Session() as http:
        http.trust_env = False
        http.verify = str(own.ca_bundle)
        login = http.post(
            own.url + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            },
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        limits = next(c for c in AUTHENTICATED if c.name == "rest.limits")
        assert send(http, own, limits, f"Bearer {token}").status_code == 200
        time.sleep(0.3)
        assert_refused(send(http, own, limits, f"Bearer {token}"), limits, token)


# -- loopback only ------------------------------------------------------------------------------


def listening_addresses(pid: int, port: int) -> set[str]:
    connections = psutil.Process(pid).net_connections(kind="inet")
    return {
        c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def test_config_and_cli_default_to_loopback() -> None:
    assert EmulatorConfig(data_dir=Path("unused")).host == "127.0.0.1"
    host_option = next(p for p in emulator_cli.serve.params if p.name == "host")
    assert host_option.default == "127.0.0.1"


def test_a_test_server_listens_on_loopback_only(server: EmulatorServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    assert server.url.startswith("https://127.0.0.1:")
    assert listening_addresses(psutil.Process().pid, port) == {"127.0.0.1"}


def test_sfload_emulator_serve_listens_on_loopback_only(tmp_path: Path) -> None:
    sfload = Path(sys.executable).parent / "sfload"
    process = subprocess.Popen(
        [str(sfload), "emulator", "serve", "--data-dir", str(tmp_path / "emulator")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["url"].startswith("https://127.0.0.1:")
        port = int(ready["url"].rsplit(":", 1)[1])
        assert listening_addresses(process.pid, port) == {"127.0.0.1"}
    finally:
        process.terminate()
        process.wait(timeout=30)
