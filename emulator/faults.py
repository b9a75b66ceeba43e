"""Fault injection: a ``FaultPlan`` set at start (``--faults NAME|JSON``) or at runtime
(``POST /__emulator__/faults``), applied by an interceptor (HTTP faults) and by writing the
backends' knobs (ingest processing, limits, token lifetimes, Data Cloud cursors).

A plan is JSON; every part is optional and an absent part means "no fault of that kind"::

    {
      "seed": 7,
      "http": [                                   # per request, decided before the handler runs
        {"kind": "error", "status": 503, "rate": 0.05, "endpoints": ["bulk.*"]},
        {"kind": "error", "status": 420, "rate": 0.02},
        {"kind": "drop", "rate": 0.02, "methods": ["GET"]},  # connection cut mid-response
        {"kind": "slow", "rate": 0.1, "delay_s": 0.5},
        {"kind": "throttle", "rate": 0.1, "retry_after_s": 1}  # Data Cloud 429 + Retry-After
      ],
      "limits": {"DailyApiRequests": 500},        # allowances (Max in /limits); spent -> 403
      "tokens": {"core_lifetime_s": 30, "datacloud_lifetime_s": 20, "expire_now": ["core"]},
      "ingest": {"lock_error_rate": 0.01, "fail_after_rows": 5000, "batch_retries": 2,
                 "rows_per_second": 50000, "queue_delay_s": 1.0, "parallel_batches": 8},
      "datacloud": {"batch_idle_s": 180, "batch_lifetime_s": 3600}
    }

HTTP rules: ``endpoints`` are glob patterns over endpoint names (``bulk.ingest.*``,
``datacloud.query.next``; default every endpoint), ``methods`` limit the HTTP methods, ``times``
caps how often the rule fires. ``throttle`` only ever applies to Data Cloud endpoints (core
Salesforce signals limits with 403, not 429). Nothing is injected on ``/__emulator__/*``.
An injected error or throttle answers before the handler runs, so nothing happened and the call is
safe to retry; a drop happens after the handler ran (the work is done, the answer is lost).

Randomness is deterministic: whether rule ``i`` fires on its ``n``-th matching request is a
hash of ``(seed, i, n)``, independent of other endpoints' traffic.

Named plans (``NAMED_PLANS``):

- ``none``: no faults.
- ``storm``: a bit of everything at once, tuned so a correct client (retrying idempotent calls
  with backoff, honouring Retry-After, renewing tokens, resubmitting lock failures and
  unprocessed rows up to 3 times) still finishes: on idempotent core calls (GET/PUT/DELETE of
  REST and Bulk) 3% 503, 1% 502, 1% 420 and 2% of GETs dropped mid-response; 5% of all calls
  200 ms slower; 5% of Data Cloud query submissions 429 with Retry-After 1 (single-use batch
  reads are never failed: a client cannot know it may repeat them); core tokens live 120 s and
  Data Cloud tokens 90 s; 0.5% UNABLE_TO_LOCK_ROW; jobs go Failed after 200,000 rows with the
  rest unprocessed (a job of up to 800,000 rows finishes within 3 resubmissions); 1 retry per
  internal batch; a 1 s queue delay; Data Cloud batch ids expire after 120 s unread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from werkzeug.wrappers import Response

from emulator import errors
from emulator.routing import Auth, Call, Endpoint
from emulator.tokens import TokenKind

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from emulator.state import Emulator

SERVICE: Final = "faults"
HTTP_KINDS: Final = ("error", "drop", "slow", "throttle")
ERROR_STATUSES: Final = (500, 502, 503, 420)
CONTROL_PREFIX: Final = "emulator."  # endpoint names of the control plane
INGEST_KNOBS: Final = (
    "lock_error_rate",
    "fail_after_rows",
    "batch_retries",
    "rows_per_second",
    "queue_delay_s",
    "parallel_batches",
    "clock",
    "polls_to_complete",
)


class FaultPlanError(ValueError):
    """A plan that cannot be applied (unknown name, bad JSON, unknown key)."""


@dataclass(frozen=True)
class HttpRule:
    kind: str
    rate: float = 1.0
    status: int = 503
    endpoints: tuple[str, ...] = ("*",)
    methods: tuple[str, ...] = ()
    delay_s: float = 1.0
    retry_after_s: int = 1
    times: int | None = None

    def matches(self, endpoint: Endpoint, method: str) -> bool:
        if endpoint.name.startswith(CONTROL_PREFIX):
            return False
        if self.methods and method.upper() not in self.methods:
            return False
        if self.kind == "throttle" and endpoint.auth is not Auth.DATACLOUD:
            return False
        return any(fnmatch.fnmatchcase(endpoint.name, p) for p in self.endpoints)

    @property
    def label(self) -> str:
        """The stats key this rule counts under."""
        if self.kind == "error":
            return f"http_{self.status}"
        if self.kind == "throttle":
            return "http_429"
        return self.kind


@dataclass(frozen=True)
class FaultPlan:
    seed: int = 0
    http: tuple[HttpRule, ...] = ()
    limits: Mapping[str, int] = field(default_factory=dict)
    tokens: Mapping[str, Any] = field(default_factory=dict)
    ingest: Mapping[str, Any] = field(default_factory=dict)
    datacloud: Mapping[str, float] = field(default_factory=dict)
    name: str = "custom"

    def as_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["http"] = [dataclasses.asdict(r) for r in self.http]
        return body


# Idempotent calls a client may repeat (not Data Cloud's single-use batch reads, not POST/PATCH).
_RETRYABLE: Final[dict[str, Any]] = {
    "methods": ["GET", "PUT", "DELETE"],
    "endpoints": ["rest.*", "bulk.*", "datacloud.metadata"],
}

NAMED_PLANS: Final[dict[str, dict[str, Any]]] = {
    "none": {},
    "storm": {
        "seed": 1,
        "http": [
            {"kind": "error", "status": 503, "rate": 0.03, **_RETRYABLE},
            {"kind": "error", "status": 502, "rate": 0.01, **_RETRYABLE},
            {"kind": "error", "status": 420, "rate": 0.01, **_RETRYABLE},
            {
                "kind": "drop",
                "rate": 0.02,
                "methods": ["GET"],
                "endpoints": _RETRYABLE["endpoints"],
            },
            {"kind": "slow", "rate": 0.05, "delay_s": 0.2},
            {
                "kind": "throttle",
                "rate": 0.05,
                "retry_after_s": 1,
                "endpoints": ["datacloud.query"],
            },
        ],
        "tokens": {"core_lifetime_s": 120, "datacloud_lifetime_s": 90},
        "ingest": {
            "lock_error_rate": 0.005,
            "fail_after_rows": 200_000,
            "batch_retries": 1,
            "queue_delay_s": 1.0,
        },
        "datacloud": {"batch_idle_s": 120},
    },
}


def parse_plan(spec: str | Mapping[str, Any]) -> FaultPlan:
    """A plan from a name in ``NAMED_PLANS``, a JSON text, or a decoded JSON object."""
    name = "custom"
    body: Any
    if isinstance(spec, str):
        text = spec.strip()
        if text in NAMED_PLANS:
            name, body = text, NAMED_PLANS[text]
        else:
            try:
                body = json.loads(text)
            except ValueError as exc:
                known = ", ".join(NAMED_PLANS)
                raise FaultPlanError(f"faults: not a plan name ({known}) nor JSON") from exc
    else:
        body = spec
    if not isinstance(body, Mapping):
        raise FaultPlanError("faults: a plan is a JSON object")
    if "name" in body and isinstance(body["name"], str):
        name = body["name"]
    unknown = set(body) - {"seed", "http", "limits", "tokens", "ingest", "datacloud", "name"}
    if unknown:
        raise FaultPlanError(f"faults: unknown part(s) {', '.join(sorted(unknown))}")
    return FaultPlan(
        seed=int(body.get("seed", 0)),
        http=tuple(_rule(r) for r in body.get("http", [])),
        limits={str(k): int(v) for k, v in dict(body.get("limits", {})).items()},
        tokens=_tokens(body.get("tokens", {})),
        ingest=_ingest(body.get("ingest", {})),
        datacloud=_datacloud(body.get("datacloud", {})),
        name=name,
    )


def _rule(body: Any) -> HttpRule:
    if not isinstance(body, Mapping) or body.get("kind") not in HTTP_KINDS:
        raise FaultPlanError(f"faults.http: each rule needs a kind in {HTTP_KINDS}")
    allowed = {f.name for f in dataclasses.fields(HttpRule)}
    unknown = set(body) - allowed
    if unknown:
        raise FaultPlanError(f"faults.http: unknown key(s) {', '.join(sorted(unknown))}")
    rule = HttpRule(
        kind=str(body["kind"]),
        rate=float(body.get("rate", 1.0)),
        status=int(body.get("status", 503)),
        endpoints=tuple(body.get("endpoints", ("*",))),
        methods=tuple(m.upper() for m in body.get("methods", ())),
        delay_s=float(body.get("delay_s", 1.0)),
        retry_after_s=int(body.get("retry_after_s", 1)),
        times=None if body.get("times") is None else int(body["times"]),
    )
    if rule.kind == "error" and rule.status not in ERROR_STATUSES:
        raise FaultPlanError(f"faults.http: error status must be one of {ERROR_STATUSES}")
    if not 0.0 <= rule.rate <= 1.0:
        raise FaultPlanError("faults.http: rate is a fraction between 0 and 1")
    return rule


def _tokens(body: Any) -> dict[str, Any]:
    unknown = set(body) - {"core_lifetime_s", "datacloud_lifetime_s", "expire_now"}
    if unknown:
        raise FaultPlanError(f"faults.tokens: unknown key(s) {', '.join(sorted(unknown))}")
    expire = [str(k) for k in body.get("expire_now", [])]
    if set(expire) - {"core", "datacloud"}:
        raise FaultPlanError('faults.tokens.expire_now takes "core" and/or "datacloud"')
    tokens: dict[str, Any] = {k: float(v) for k, v in body.items() if k != "expire_now"}
    if expire:
        tokens["expire_now"] = expire
    return tokens


def _ingest(body: Any) -> dict[str, Any]:
    unknown = set(body) - set(INGEST_KNOBS)
    if unknown:
        raise FaultPlanError(f"faults.ingest: unknown key(s) {', '.join(sorted(unknown))}")
    return dict(body)


def _datacloud(body: Any) -> dict[str, float]:
    unknown = set(body) - {"batch_idle_s", "batch_lifetime_s"}
    if unknown:
        raise FaultPlanError(f"faults.datacloud: unknown key(s) {', '.join(sorted(unknown))}")
    return {k: float(v) for k, v in body.items()}


# ---------------------------------------------------------------------------------- applying


class Faults:
    """The active plan, its per-rule counters, and what it injected (by kind)."""

    def __init__(self, emulator: Emulator, startup: FaultPlan) -> None:
        self.emulator = emulator
        self.startup = startup
        self.plan = FaultPlan(name="none")
        self._lock = threading.Lock()
        self._seen: list[int] = []
        self._fired: list[int] = []
        self.injected: dict[str, int] = {}
        self._base_config = emulator.config
        self._limited: set[str] = set()

    def apply(self, plan: FaultPlan) -> None:
        """Make ``plan`` the active one: HTTP rules restart their counts, knobs are written."""
        with self._lock:
            self.plan = plan
            self._seen = [0] * len(plan.http)
            self._fired = [0] * len(plan.http)
        self._apply_limits(plan)
        self._apply_tokens(plan)
        self._apply_ingest(plan)
        self._apply_datacloud(plan)

    def restore_startup(self) -> None:
        with self._lock:
            self.injected = {}
        self.apply(self.startup)

    def count(self, kind: str, by: int = 1) -> None:
        with self._lock:
            self.injected[kind] = self.injected.get(kind, 0) + by

    def injected_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.injected.items()))

    def pick(self, endpoint: Endpoint, method: str, kinds: Iterable[str]) -> HttpRule | None:
        """The first rule of one of ``kinds`` that fires for this request (counts it)."""
        wanted = set(kinds)
        with self._lock:
            plan = self.plan
            for index, rule in enumerate(plan.http):
                if rule.kind not in wanted or not rule.matches(endpoint, method):
                    continue
                n = self._seen[index]
                self._seen[index] += 1
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                if _draw(plan.seed, index, n) < rule.rate:
                    self._fired[index] += 1
                    self.injected[rule.label] = self.injected.get(rule.label, 0) + 1
                    return rule
        return None

    # -- knobs ---------------------------------------------------------------------------------

    def _apply_limits(self, plan: FaultPlan) -> None:
        limits = self.emulator.services.get("limits")
        if limits is None:
            return
        from emulator.core.limits import DEFAULT_MAXIMA

        overrides: Any = self._base_config.extra.get("limits", {})
        configured = {**DEFAULT_MAXIMA, **dict(overrides)}
        for name in self._limited - set(plan.limits):
            if name in configured:
                limits.set_max(name, int(configured[name]))
        for name, value in plan.limits.items():
            limits.set_max(name, value)
        self._limited = set(plan.limits)

    def _apply_tokens(self, plan: FaultPlan) -> None:
        base = self._base_config
        core = plan.tokens.get("core_lifetime_s", base.token_lifetime_s)
        datacloud = plan.tokens.get("datacloud_lifetime_s", base.datacloud_token_lifetime_s)
        self.emulator.config = dataclasses.replace(
            self.emulator.config, token_lifetime_s=core, datacloud_token_lifetime_s=datacloud
        )
        for kind in plan.tokens.get("expire_now", []):
            expired = self.emulator.tokens.expire_all(TokenKind(kind))
            self.count(f"token_expired_{kind}", expired)

    def _apply_ingest(self, plan: FaultPlan) -> None:
        ingest = self.emulator.services.get("ingest")
        if ingest is None:
            return
        from emulator.core.ingest_jobs import ClockMode, IngestSettings

        knobs = dict(plan.ingest)
        if "clock" in knobs:
            knobs["clock"] = ClockMode(knobs["clock"])
        if "lock_error_rate" in knobs:
            knobs.setdefault("lock_error_seed", plan.seed)
        ingest.settings = dataclasses.replace(IngestSettings(), **knobs)

    def _apply_datacloud(self, plan: FaultPlan) -> None:
        backend = self.emulator.services.get("datacloud")
        if backend is None:
            return
        base = self._base_config
        backend.config = dataclasses.replace(
            backend.config,
            datacloud_cursor_idle_s=plan.datacloud.get(
                "batch_idle_s", base.datacloud_cursor_idle_s
            ),
            datacloud_cursor_lifetime_s=plan.datacloud.get(
                "batch_lifetime_s", base.datacloud_cursor_lifetime_s
            ),
        )


def _draw(seed: int, rule: int, n: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{rule}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


# ---------------------------------------------------------------------------------- HTTP faults


class FaultInterceptor:
    """Injects the active plan's HTTP faults; never on the control plane."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def before(self, call: Call, endpoint: Endpoint) -> Response | None:
        method = call.request.method
        slow = self.faults.pick(endpoint, method, ["slow"])
        if slow is not None:
            time.sleep(slow.delay_s)
        rule = self.faults.pick(endpoint, method, ["error", "throttle"])
        if rule is None:
            return None
        if rule.kind == "throttle":
            return _throttled(rule)
        return _server_error(rule.status, endpoint)

    def after(self, call: Call, endpoint: Endpoint, response: Response) -> Response:
        if endpoint.name == "datacloud.query.next" and response.status_code == 404:
            self.faults.count("datacloud_batch_refused")
        if self.faults.pick(endpoint, call.request.method, ["drop"]) is None:
            return response
        return DroppedResponse.cut(response)


def _throttled(rule: HttpRule) -> Response:
    response = errors.datacloud_error(
        429, "TOO_MANY_REQUESTS", "Too many requests; retry after the given delay"
    )
    response.headers["Retry-After"] = str(rule.retry_after_s)
    return response


def _server_error(status: int, endpoint: Endpoint) -> Response:
    if status == 420:
        # Salesforce Edge answers with its own page, not a JSON API error.
        return Response(
            "<html><body>Salesforce Edge: routing problem (420)</body></html>",
            status=420,
            content_type="text/html;charset=UTF-8",
        )
    message = {
        500: "An unexpected error occurred.",
        502: "Bad Gateway",
        503: "Service temporarily unavailable; please retry later.",
    }[status]
    if endpoint.auth is Auth.DATACLOUD:
        return errors.datacloud_error(status, "SERVICE_UNAVAILABLE", message)
    code = "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"
    return errors.rest_error(status, code, message)


class DroppedResponse(Response):
    """Sends the headers and half of the body, then cuts the TCP connection."""

    @classmethod
    def cut(cls, response: Response) -> DroppedResponse:
        body = response.get_data()
        dropped = cls(body, status=response.status_code, headers=list(response.headers.items()))
        dropped.headers["Content-Length"] = str(max(len(body), 2))
        return dropped

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = self.get_data()
        start_response(self.status, list(self.headers.items()))
        return _half_then_cut(body, environ.get("werkzeug.socket"))


def _half_then_cut(body: bytes, sock: socket.socket | None) -> Iterator[bytes]:
    yield body[: len(body) // 2]
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    # A connection error makes werkzeug drop the request quietly instead of answering 500.
    raise ConnectionResetError("connection dropped by fault injection")
