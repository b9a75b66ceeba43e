"""Data Cloud token exchange on top of the core Salesforce login.

``POST {core instance_url}/services/a360/token`` turns a core access token into a Data Cloud token
and the tenant host. The token is cached, renewed ``renew_margin_s`` before it expires and, once,
when the tenant answers 401. Concurrent renewals collapse into one exchange.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from resources.data_cloud.errors import DataCloudAuthError, error_details, error_from_response
from resources.http import HttpClient
from resources.salesforce.auth import AccessToken, Authenticator

EXCHANGE_PATH = "/services/a360/token"
GRANT_TYPE = "urn:salesforce:grant-type:external:cdp"
SUBJECT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN

Clock = Callable[[], float]


@dataclass(frozen=True)
class CoreLogin:
    access_token: str = field(repr=False)
    instance_url: str  # full URL with scheme, e.g. https://myorg.my.salesforce.com


class CoreAuth(Protocol):
    """What the Data Cloud client needs from the Salesforce login."""

    def core_login(self) -> CoreLogin:
        """The current core token (cached by the Salesforce client)."""
        ...

    def refresh_core_login(self, stale: CoreLogin) -> CoreLogin:
        """A new core token after ``stale`` was rejected (no-op if already replaced)."""
        ...


@dataclass(frozen=True)
class DataCloudToken:
    access_token: str = field(repr=False)
    tenant_url: str  # https://<tenant host>
    expires_at: float  # on the auth's clock
    renew_at: float


def tenant_base_url(instance_url: str) -> str:
    """The tenant ``instance_url`` is a bare host (``abcd.c360a.salesforce.com``); tolerate a scheme."""
    host = instance_url.strip().rstrip("/")
    if not host:
        raise DataCloudAuthError("token exchange returned an empty instance_url")
    if "://" in host:
        return host
    return f"https://{host}"


class DataCloudAuth:
    def __init__(
        self,
        core: CoreAuth,
        http: HttpClient,
        dataspace: str | None = None,
        renew_margin_s: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._core = core
        self._http = http
        self._dataspace = dataspace
        self._margin = renew_margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: DataCloudToken | None = None
        self.exchanges = 0

    def token(self) -> DataCloudToken:
        """A Data Cloud token that is not about to expire."""
        with self._lock:
            current = self._token
            if current is None or self._clock() >= current.renew_at:
                current = self._token = self._exchange()
            return current

    def renew(self, stale: DataCloudToken) -> DataCloudToken:
        """A new token after the tenant rejected ``stale``; one exchange however many callers."""
        with self._lock:
            if self._token is None or self._token is stale:
                self._token = self._exchange()
            return self._token

    def _exchange(self) -> DataCloudToken:
        login = self._core.core_login()
        response = self._post_exchange(login)
        if _core_token_rejected(response):
            login = self._core.refresh_core_login(login)
            response = self._post_exchange(login)
        if response.status_code != 200:
            error = error_from_response(response, "Data Cloud token exchange")
            raise DataCloudAuthError(
                error.message,
                status=error.status,
                error_code=error.error_code,
                body=error.body,
            )
        self.exchanges += 1
        return self._token_from(response)

    def _post_exchange(self, login: CoreLogin) -> requests.Response:
        form = {
            "grant_type": GRANT_TYPE,
            "subject_token": login.access_token,
            "subject_token_type": SUBJECT_TOKEN_TYPE,
        }
        if self._dataspace:
            form["dataspace"] = self._dataspace
        url = login.instance_url.rstrip("/") + EXCHANGE_PATH
        try:
            # Not idempotent (a password-grant core token is good for one exchange): only calls
            # that never reached the server are retried, by the HttpClient.
            return self._http.request(
                "POST", url, data=form, idempotent=False, label="datacloud.token_exchange"
            )
        except requests.RequestException as exc:
            raise DataCloudAuthError(
                f"Data Cloud token exchange failed: {type(exc).__name__}"
            ) from None

    def _token_from(self, response: requests.Response) -> DataCloudToken:
        try:
            body = response.json()
            access_token = str(body["access_token"])
            instance_url = str(body["instance_url"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise DataCloudAuthError(
                "token exchange answered 200 without access_token/instance_url"
            ) from None
        now = self._clock()
        # A lifetime shorter than twice the margin would renew on every call; renew at half-life then.
        margin = min(self._margin, lifetime / 2)
        return DataCloudToken(
            access_token=access_token,
            tenant_url=tenant_base_url(instance_url),
            expires_at=now + lifetime,
            renew_at=now + lifetime - margin,
        )


def _core_token_rejected(response: requests.Response) -> bool:
    if response.status_code == 401:
        return True
    if response.status_code != 400:
        return False
    code, _ = error_details(response)
    return code in ("invalid_grant", "invalid_token", "INVALID_SESSION_ID")


class SalesforceCoreAuth:
    """:class:`CoreAuth` over the Salesforce client's ``Authenticator`` (shared, cached token)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    def core_login(self) -> CoreLogin:
        return _login(self._auth.token())

    def refresh_core_login(self, stale: CoreLogin) -> CoreLogin:
        current = self._auth.token()
        if current.value == stale.access_token:
            current = self._auth.refresh(current)  # collapses with concurrent refreshes
        return _login(current)


def _login(token: AccessToken) -> CoreLogin:
    return CoreLogin(access_token=token.value, instance_url=token.instance_url)
