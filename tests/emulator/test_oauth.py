"""OAuth token and revoke endpoints, over real HTTPS."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.config import EmulatorConfig
from emulator.oauth import USER_ID, signature
from emulator.server import EmulatorServer
from emulator.tokens import TokenStore

pytestmark = pytest.mark.emulator

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@dataclasses.dataclass(frozen=True)
class JwtSetup:
    server: EmulatorServer
    session: requests.Session
    private_key: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def jwt_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtSetup]:
    """An emulator that trusts one RSA public key for the JWT bearer grant."""
    root = tmp_path_factory.mktemp("jwt")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_file = root / "jwt.pub.pem"
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = EmulatorConfig(data_dir=root / "emulator", jwt_public_key_file=public_file)
    with EmulatorServer(config) as server, requests.Session() as session:
        session.trust_env = False
        session.verify = str(server.ca_bundle)
        yield JwtSetup(server, session, key)


def _token_url(server: EmulatorServer) -> str:
    return f"{server.url}/services/oauth2/token"


def _client_credentials(server: EmulatorServer) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
    }


def _password_form(server: EmulatorServer) -> dict[str, str]:
    return {
        "grant_type": "password",
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "username": server.config.username,
        "password": server.config.password,
    }


def _assert_signed(body: dict[str, str], server: EmulatorServer) -> None:
    assert body["signature"] == signature(
        body["id"], body["issued_at"], server.config.client_secret
    )
    assert abs(int(body["issued_at"]) - time.time() * 1000) < 60_000


def _limits_status(https: requests.Session, server: EmulatorServer, token: str) -> int:
    response = https.get(
        f"{server.url}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.status_code


def test_client_credentials_with_form_fields(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    response = https.post(
        _token_url(emulator_server), data=_client_credentials(emulator_server), timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == [
        "access_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ]
    assert body["access_token"].startswith(f"{TokenStore.ORG_ID}!AQ")
    assert body["instance_url"] == emulator_server.url
    assert body["id"] == f"{emulator_server.url}/id/{TokenStore.ORG_ID}/{USER_ID}"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api cdp_query_api refresh_token"
    _assert_signed(body, emulator_server)
    assert _limits_status(https, emulator_server, body["access_token"]) == 200


def test_client_credentials_with_basic_auth(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    config = emulator_server.config
    response = https.post(
        _token_url(emulator_server),
        data={"grant_type": "client_credentials"},
        auth=(config.client_id, config.client_secret),
        timeout=10,
    )
    assert response.status_code == 200
    assert _limits_status(https, emulator_server, response.json()["access_token"]) == 200


@pytest.mark.parametrize(
    ("override", "error", "description"),
    [
        ({"client_id": "nobody"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        (
            {"grant_type": "authorization_code"},
            "unsupported_grant_type",
            "grant type not supported",
        ),
        ({"grant_type": ""}, "invalid_request", "grant type is missing"),
    ],
)
def test_client_errors(
    emulator_server: EmulatorServer,
    https: requests.Session,
    override: dict[str, str],
    error: str,
    description: str,
) -> None:
    form = _client_credentials(emulator_server) | override
    response = https.post(_token_url(emulator_server), data=form, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_password_grant_in_the_query_string_with_an_empty_body(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    """The Data Cloud connector's way: every parameter in the URL, Content-Length 0."""
    response = https.post(
        _token_url(emulator_server), params=_password_form(emulator_server), timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "access_token",
        "refresh_token",
        "signature",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ]
    _assert_signed(body, emulator_server)
    assert _limits_status(https, emulator_server, body["access_token"]) == 200


def test_password_grant_with_a_wrong_password(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    form = _password_form(emulator_server) | {"password": "guess"}
    response = https.post(_token_url(emulator_server), data=form, timeout=10)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_refresh_token_grant_and_revocation(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    config = emulator_server.config
    login = https.post(
        _token_url(emulator_server), data=_password_form(emulator_server), timeout=10
    ).json()
    refresh_form = {
        "grant_type": "refresh_token",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": login["refresh_token"],
    }
    refreshed = https.post(_token_url(emulator_server), data=refresh_form, timeout=10)
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert "refresh_token" not in body
    assert body["access_token"] != login["access_token"]
    _assert_signed(body, emulator_server)

    revoke_url = f"{emulator_server.url}/services/oauth2/revoke"
    revoked = https.post(revoke_url, params={"token": login["refresh_token"]}, timeout=10)
    assert (revoked.status_code, revoked.content) == (200, b"")
    again = https.post(_token_url(emulator_server), data=refresh_form, timeout=10)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


def test_revoked_access_token_gets_401(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    token = https.post(
        _token_url(emulator_server), data=_client_credentials(emulator_server), timeout=10
    ).json()["access_token"]
    revoked = https.post(
        f"{emulator_server.url}/services/oauth2/revoke", data={"token": token}, timeout=10
    )
    assert (revoked.status_code, revoked.content) == (200, b"")
    response = https.get(
        f"{emulator_server.url}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == INVALID_SESSION
    unknown = https.post(
        f"{emulator_server.url}/services/oauth2/revoke", data={"token": token}, timeout=10
    )
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "invalid_token", "error_description": "invalid token"}


def test_expired_token_gets_401(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path / "emulator", token_lifetime_s=0.5)
    with EmulatorServer(config) as server, requests.Session() as session:
        session.trust_env = False
        session.verify = str(server.ca_bundle)
        token = session.post(
            _token_url(server), data=_client_credentials(server), timeout=10
        ).json()["access_token"]
        assert _limits_status(session, server, token) == 200
        time.sleep(0.6)
        assert _limits_status(session, server, token) == 401


def _assertion(setup: JwtSetup, **overrides: object) -> str:
    config = setup.server.config
    claims: dict[str, object] = {
        "iss": config.client_id,
        "sub": config.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, setup.private_key, algorithm="RS256")


def _jwt_grant(setup: JwtSetup, assertion: str) -> requests.Response:
    return setup.session.post(
        _token_url(setup.server),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=10,
    )


def test_jwt_bearer_grant(jwt_setup: JwtSetup) -> None:
    response = _jwt_grant(jwt_setup, _assertion(jwt_setup))
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "scope", "instance_url", "id", "token_type"]
    assert body["instance_url"] == jwt_setup.server.url
    assert _limits_status(jwt_setup.session, jwt_setup.server, body["access_token"]) == 200


def test_jwt_audience_may_be_the_emulator_itself(jwt_setup: JwtSetup) -> None:
    response = _jwt_grant(jwt_setup, _assertion(jwt_setup, aud=jwt_setup.server.url))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"sub": "someone@else"}, "invalid_grant", "authentication failure"),
        ({"exp": int(time.time()) - 60}, "invalid_grant", "authentication failure"),
        ({"aud": "https://evil.example"}, "invalid_grant", "authentication failure"),
        ({"iss": "unknown-client"}, "invalid_client_id", "client identifier invalid"),
    ],
)
def test_jwt_rejections(
    jwt_setup: JwtSetup, overrides: dict[str, object], error: str, description: str
) -> None:
    response = _jwt_grant(jwt_setup, _assertion(jwt_setup, **overrides))
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_signed_by_another_key_is_refused(jwt_setup: JwtSetup) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {
            "iss": jwt_setup.server.config.client_id,
            "sub": jwt_setup.server.config.username,
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180,
        },
        stranger,
        algorithm="RS256",
    )
    response = _jwt_grant(jwt_setup, forged)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_jwt_garbage_assertion(jwt_setup: JwtSetup) -> None:
    response = _jwt_grant(jwt_setup, base64.b64encode(b"not a jwt").decode())
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_jwt_without_a_configured_key_is_unapproved(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    response = https.post(
        _token_url(emulator_server),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x.y.z"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "user hasn't approved this consumer",
    }
