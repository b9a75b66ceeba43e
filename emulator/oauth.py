"""``/services/oauth2/token`` and ``/services/oauth2/revoke``: the core org's OAuth endpoints.

Parameters are read from the query string and the form body alike: the Data Cloud connector
sends them in the query string with an empty body, most other clients as a form body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import jwt
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator.errors import EmulatorHttpError, json_response, oauth_error
from emulator.routing import Auth, Call, route
from emulator.tokens import Token, TokenKind, TokenStore

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.config import EmulatorConfig
    from emulator.state import Emulator

USER_ID: Final = "005DEM000000001AAA"
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE: Final = "api cdp_query_api refresh_token"
JWT_AUDIENCES: Final = ("https://login.salesforce.com", "https://test.salesforce.com")
# A refresh token outlives many access tokens; Salesforce's default policy is "valid until revoked".
REFRESH_LIFETIME_S: Final = 365 * 24 * 3600.0


def identity_url(emulator: Emulator) -> str:
    return f"{emulator.base_url}/id/{TokenStore.ORG_ID}/{USER_ID}"


def token(call: Call) -> Response:
    params = _params(call)
    grant = params.get("grant_type", "")
    if not grant:
        return oauth_error("invalid_request", "grant type is missing")
    grant_handler = _GRANTS.get(grant)
    if grant_handler is None:
        return oauth_error("unsupported_grant_type", "grant type not supported")
    try:
        return grant_handler(call, params)
    except EmulatorHttpError as exc:
        return exc.response


def revoke(call: Call) -> Response:
    value = _params(call).get("token", "")
    if not value or not call.emulator.tokens.revoke(value):
        return oauth_error("invalid_token", "invalid token")
    return Response(b"", status=200)


def _client_credentials(call: Call, params: MultiDict[str, str]) -> Response:
    client_id, client_secret = _client_auth(call, params)
    config = call.emulator.config
    _check_client(config, client_id, client_secret)
    access = _issue_access(call.emulator, config.username, client_id)
    return _success(call.emulator, access, signed=True, scope=SCOPE)


def _password(call: Call, params: MultiDict[str, str]) -> Response:
    client_id, client_secret = _client_auth(call, params)
    config = call.emulator.config
    _check_client(config, client_id, client_secret)
    if params.get("username") != config.username or params.get("password") != config.password:
        raise _grant_error("authentication failure")
    access = _issue_access(call.emulator, config.username, client_id)
    refresh = call.emulator.tokens.issue(
        TokenKind.REFRESH, config.username, client_id, REFRESH_LIFETIME_S
    )
    return _success(call.emulator, access, signed=True, refresh_token=refresh.value)


def _refresh_token(call: Call, params: MultiDict[str, str]) -> Response:
    client_id, client_secret = _client_auth(call, params)
    config = call.emulator.config
    _check_client(config, client_id, client_secret)
    refresh = call.emulator.tokens.lookup(params.get("refresh_token", ""), TokenKind.REFRESH)
    if refresh is None or refresh.client_id != client_id:
        raise _grant_error("expired access/refresh token")
    access = _issue_access(call.emulator, refresh.username, client_id)
    return _success(call.emulator, access, signed=True, scope=SCOPE)


def _jwt_bearer(call: Call, params: MultiDict[str, str]) -> Response:
    config = call.emulator.config
    claims = _verified_claims(call.emulator, params.get("assertion", ""))
    if claims.get("iss") != config.client_id:
        raise EmulatorHttpError(oauth_error("invalid_client_id", "client identifier invalid"))
    if claims.get("sub") != config.username:
        raise _grant_error("authentication failure")
    access = _issue_access(call.emulator, config.username, config.client_id)
    return _success(call.emulator, access, signed=False, scope=SCOPE)


def _verified_claims(emulator: Emulator, assertion: str) -> dict[str, Any]:
    key_file = emulator.config.jwt_public_key_file
    if key_file is None or not key_file.is_file():
        raise _grant_error("user hasn't approved this consumer")
    audiences = [*JWT_AUDIENCES, emulator.base_url]
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key_file.read_bytes(),
            algorithms=["RS256"],
            audience=audiences,
            options={"require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidTokenError as exc:
        reason = "invalid assertion" if _malformed(exc) else "authentication failure"
        raise _grant_error(reason) from None
    return claims


def _malformed(exc: jwt.InvalidTokenError) -> bool:
    return isinstance(exc, jwt.DecodeError) and not isinstance(exc, jwt.InvalidSignatureError)


def _params(call: Call) -> MultiDict[str, str]:
    """Query-string parameters, overridden by form-body ones of the same name."""
    merged: MultiDict[str, str] = MultiDict(call.request.args)
    for key in call.request.form:
        merged.setlist(key, call.request.form.getlist(key))
    return merged


def _client_auth(call: Call, params: MultiDict[str, str]) -> tuple[str, str]:
    """Client id and secret from the form, or else from ``Authorization: Basic``."""
    client_id = params.get("client_id", "")
    client_secret = params.get("client_secret", "")
    if client_id:
        return client_id, client_secret
    scheme, _, encoded = call.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    basic_id, _, basic_secret = decoded.partition(":")
    return basic_id, basic_secret


def _check_client(config: EmulatorConfig, client_id: str, client_secret: str) -> None:
    if client_id != config.client_id:
        raise EmulatorHttpError(oauth_error("invalid_client_id", "client identifier invalid"))
    if not hmac.compare_digest(client_secret.encode(), config.client_secret.encode()):
        raise EmulatorHttpError(oauth_error("invalid_client", "invalid client credentials"))


def _grant_error(description: str) -> EmulatorHttpError:
    return EmulatorHttpError(oauth_error("invalid_grant", description))


def _issue_access(emulator: Emulator, username: str, client_id: str) -> Token:
    return emulator.tokens.issue(
        TokenKind.CORE, username, client_id, emulator.config.token_lifetime_s
    )


def _success(
    emulator: Emulator,
    access: Token,
    *,
    signed: bool,
    scope: str | None = None,
    refresh_token: str | None = None,
) -> Response:
    """The grant's success body, with the fields (and their order) Salesforce sends for it."""
    issued_at = str(int(time.time() * 1000))
    body: dict[str, str] = {"access_token": access.value}
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if signed:
        body["signature"] = signature(
            identity_url(emulator), issued_at, emulator.config.client_secret
        )
    if scope is not None:
        body["scope"] = scope
    body["instance_url"] = emulator.base_url
    body["id"] = identity_url(emulator)
    body["token_type"] = "Bearer"  # noqa: S105 - the token type, not a secret
    if signed:
        body["issued_at"] = issued_at
    return json_response(body)


def signature(identity: str, issued_at: str, client_secret: str) -> str:
    digest = hmac.new(
        client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


_GRANTS: Final[dict[str, Callable[[Call, MultiDict[str, str]], Response]]] = {
    "client_credentials": _client_credentials,
    "password": _password,
    "refresh_token": _refresh_token,
    JWT_BEARER: _jwt_bearer,
}

RULES: list[Rule] = [
    route("/services/oauth2/token", ["POST"], "oauth.token", token, auth=Auth.NONE),
    route("/services/oauth2/revoke", ["POST", "GET"], "oauth.revoke", revoke, auth=Auth.NONE),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    pass
