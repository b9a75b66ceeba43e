"""The WSGI application: match a route, authenticate, run interceptors and the handler, log."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from emulator import errors
from emulator.routing import Auth, Call, Endpoint
from emulator.stats import LoggedRequest
from emulator.tokens import TokenKind

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from emulator.state import Emulator

log = logging.getLogger(__name__)


class Interceptor(Protocol):
    """Runs around every routed request (limits, fault injection). ``before`` may short-circuit."""

    def before(self, call: Call, endpoint: Endpoint) -> Response | None: ...

    def after(self, call: Call, endpoint: Endpoint, response: Response) -> Response: ...


class EmulatorApp:
    def __init__(self, emulator: Emulator, url_map: Map) -> None:
        self.emulator = emulator
        self.url_map = url_map
        self.interceptors: list[Interceptor] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        started = time.time()
        endpoint_name = "unrouted"
        try:
            endpoint, args = self._match(request)
            endpoint_name = endpoint.name
            response = self._run(request, endpoint, args)
        except errors.EmulatorHttpError as exc:
            response = exc.response
        except NotFound:
            response = errors.not_found()
        except MethodNotAllowed:
            response = errors.rest_error(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed"
            )
        except HTTPException as exc:
            response = errors.rest_error(
                exc.code or 500, "UNKNOWN_EXCEPTION", exc.description or ""
            )
        except Exception:
            log.exception("emulator handler failed for %s %s", request.method, request.path)
            response = errors.rest_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        self.emulator.stats.record_request(
            LoggedRequest(
                at=started,
                method=request.method,
                path=request.path,
                query=request.query_string.decode("latin-1"),
                endpoint=endpoint_name,
                status=response.status_code,
                request_bytes=request.content_length or 0,
            )
        )
        return response(environ, start_response)

    def _match(self, request: Request) -> tuple[Endpoint, Mapping[str, Any]]:
        path = request.path.rstrip("/") or "/"
        adapter = self.url_map.bind_to_environ(request.environ)
        endpoint, args = adapter.match(path_info=path, method=request.method)
        assert isinstance(endpoint, Endpoint)
        return endpoint, args

    def _run(self, request: Request, endpoint: Endpoint, args: Mapping[str, Any]) -> Response:
        token = None
        if endpoint.auth is not Auth.NONE:
            token = self._authenticate(request, endpoint.auth)
            if token is None:
                return _unauthorized(endpoint.auth)
        call = Call(request=request, emulator=self.emulator, token=token)
        for interceptor in self.interceptors:
            early = interceptor.before(call, endpoint)
            if early is not None:
                return early
        try:
            response = endpoint.handler(call, **args)
        except errors.EmulatorHttpError as exc:
            response = exc.response
        for interceptor in reversed(self.interceptors):
            response = interceptor.after(call, endpoint, response)
        return response

    def _authenticate(self, request: Request, auth: Auth) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not value.strip():
            return None
        kind = TokenKind.CORE if auth is Auth.CORE else TokenKind.DATACLOUD
        return self.emulator.tokens.lookup(value.strip(), kind)


def _unauthorized(auth: Auth) -> Response:
    if auth is Auth.DATACLOUD:
        return errors.datacloud_error(
            401, "invalid_token", "Access token is missing, invalid or expired"
        )
    return errors.invalid_session()
