"""OAuth for server-to-server loads: client credentials or JWT bearer, one cached token per client.

The token is shared by every thread of a client. ``refresh(stale)`` replaces it only if it is still
the stale one, under a lock, so N threads that hit 401 together cause exactly one token request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final
from urllib.parse import urlparse

import jwt
import requests

from resources.http import HttpClient
from resources.salesforce.errors import ConnectionFailedError, auth_error_from_response

TOKEN_PATH: Final = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S: Final = 180
PRODUCTION_AUDIENCE: Final = "https://login.salesforce.com"
SANDBOX_AUDIENCE: Final = "https://test.salesforce.com"


class ClientAuthMethod(StrEnum):
    FORM = "form"  # client_id/client_secret as form fields
    BASIC = "basic"  # HTTP Basic base64(id:secret)


@dataclass(frozen=True)
class Credentials:
    login_url: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    username: str = ""
    private_key_file: str = ""
    client_auth: ClientAuthMethod = ClientAuthMethod.FORM
    jwt_audience: str = ""  # default: derived from login_url

    @property
    def uses_jwt(self) -> bool:
        return bool(self.private_key_file)

    @property
    def token_url(self) -> str:
        return self.login_url.rstrip("/") + TOKEN_PATH

    def audience(self) -> str:
        if self.jwt_audience:
            return self.jwt_audience
        host = urlparse(self.login_url).hostname or ""
        if host == "test.salesforce.com" or ".sandbox.my.salesforce.com" in host:
            return SANDBOX_AUDIENCE
        if host.endswith(".salesforce.com"):
            return PRODUCTION_AUDIENCE
        return self.login_url.rstrip("/")  # emulator or another IdP: its own URL


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    instance_url: str
    obtained_at: float

    def __str__(self) -> str:
        return f"AccessToken(instance_url={self.instance_url})"


class Authenticator:
    """Fetches, caches and refreshes the core access token."""

    def __init__(self, credentials: Credentials, http: HttpClient) -> None:
        self.credentials = credentials
        self._http = http
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.fetch_count = 0

    def token(self) -> AccessToken:
        current = self._token
        if current is not None:
            return current
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def refresh(self, stale: AccessToken | None) -> AccessToken:
        """A new token unless another thread already replaced ``stale``."""
        with self._lock:
            if self._token is None or self._token is stale:
                self._token = self._fetch()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> AccessToken:
        form, basic = self._grant()
        try:
            response = self._http.request(
                "POST",
                self.credentials.token_url,
                idempotent=True,  # asking again only yields another token
                label="oauth_token",
                data=form,
                auth=basic,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            raise ConnectionFailedError(
                f"OAuth token request failed: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise auth_error_from_response(response)
        payload = response.json()
        self.fetch_count += 1
        return AccessToken(
            value=str(payload["access_token"]),
            instance_url=str(payload["instance_url"]).rstrip("/"),
            obtained_at=time.monotonic(),
        )

    def _grant(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        creds = self.credentials
        if creds.uses_jwt:
            return {"grant_type": JWT_BEARER_GRANT, "assertion": self._assertion()}, None
        if creds.client_auth is ClientAuthMethod.BASIC:
            return {"grant_type": "client_credentials"}, (creds.client_id, creds.client_secret)
        return {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }, None

    def _assertion(self) -> str:
        creds = self.credentials
        key = Path(creds.private_key_file).read_bytes()
        claims = {
            "iss": creds.client_id,
            "sub": creds.username,
            "aud": creds.audience(),
            "exp": int(time.time()) + JWT_LIFETIME_S,
        }
        return jwt.encode(claims, key, algorithm="RS256")
