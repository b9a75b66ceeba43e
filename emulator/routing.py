"""The routing contract every emulator feature module follows.

A feature module (``oauth``, ``core.*``, ``datacloud.*``, ``control``) exposes ``RULES``: a list of
werkzeug ``Rule``s whose endpoint is an :class:`Endpoint`. Handlers take a :class:`Call` plus the
URL arguments and return a werkzeug ``Response`` (or raise ``EmulatorHttpError``). Rules are
written without a trailing slash; the dispatcher strips one from the request path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from emulator.state import Emulator
    from emulator.tokens import Token


class Auth(Enum):
    NONE = "none"
    CORE = "core"  # Authorization: Bearer <core access token>
    DATACLOUD = "datacloud"  # Authorization: Bearer <Data Cloud token>


@dataclass(frozen=True)
class Call:
    request: Request
    emulator: Emulator
    token: Token | None


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Endpoint:
    name: str  # stable stats key, e.g. "bulk.ingest.create"
    handler: Handler
    auth: Auth = Auth.CORE
    api_call: bool = True  # counts against DailyApiRequests


def route(
    path: str,
    methods: list[str],
    name: str,
    handler: Handler,
    auth: Auth = Auth.CORE,
    api_call: bool = True,
    **rule_kwargs: Any,
) -> Rule:
    endpoint = Endpoint(
        name=name, handler=handler, auth=auth, api_call=api_call and auth is Auth.CORE
    )
    return Rule(path, methods=methods, endpoint=endpoint, **rule_kwargs)
