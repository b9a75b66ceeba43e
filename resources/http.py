"""The ONE HTTP session factory: timeouts, TLS verification and retries live here and nowhere else.

Every call made through :class:`HttpClient` has a connect and a read timeout, passes ``verify=``
explicitly (``REQUESTS_CA_BUNDLE`` would otherwise silently replace ``session.verify``), and is
counted. Retries:

* connection failures that happen before the request reached the server (DNS, refused, connect
  timeout) are retried for every method, since nothing was sent;
* 5xx, 420 (Salesforce Edge), 429 and read failures are retried only for idempotent calls
  (GET/HEAD/PUT/DELETE/OPTIONS by default; callers may mark a POST/PATCH idempotent);
* anything else, including 403 ``REQUEST_LIMIT_EXCEEDED``, is returned to the caller at once.

Backoff is capped exponential with full jitter; a ``Retry-After`` header (seconds or HTTP date) wins
when present, capped by ``backoff_cap_s``.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUSES: Final = frozenset({420, 429, 500, 502, 503, 504})

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    ca_bundle: str | None = None  # None = the system trust store; verification is never off
    pool_size: int = 16
    user_agent: str = "sfload"


class ApiCallCounter:
    """Thread-safe count of HTTP requests sent (each attempt counts, as it does against org limits)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_label: Counter[str] = Counter()

    def add(self, label: str) -> None:
        with self._lock:
            self._by_label[label] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_label.values())

    def by_label(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_label)


class HttpClient:
    """A ``requests.Session`` wrapper that is the only way resources speak HTTP."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        self.calls = ApiCallCounter()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session = _new_session(self.settings)

    @property
    def verify(self) -> str | bool:
        return self.settings.ca_bundle or True

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout_s, self.settings.read_timeout_s)

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        label: str = "",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | str | Mapping[str, Any] | None = None,
        json: Any = None,
        stream: bool = False,
        auth: tuple[str, str] | None = None,
        read_timeout_s: float | None = None,
    ) -> requests.Response:
        """Send one logical call; returns the final response whatever its status.

        Raises ``requests.RequestException`` when the transport still fails after the retries.
        """
        method = method.upper()
        may_retry_after_send = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        timeout = (self.settings.connect_timeout_s, read_timeout_s or self.settings.read_timeout_s)
        attempt = 0
        while True:
            self.calls.add(label or method)
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    params=params,
                    data=data,
                    json=json,
                    stream=stream,
                    auth=auth,
                    timeout=timeout,
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                retryable = _never_sent(exc) or (may_retry_after_send and _transient(exc))
                if not retryable or attempt >= self.settings.max_retries:
                    raise
                self._sleep(self.backoff_s(attempt))
                attempt += 1
                continue
            if (
                response.status_code in RETRYABLE_STATUSES
                and may_retry_after_send
                and attempt < self.settings.max_retries
            ):
                delay = self.retry_after_s(response) or self.backoff_s(attempt)
                response.close()
                self._sleep(delay)
                attempt += 1
                continue
            return response

    def retry_read(self, attempt: int, exc: requests.RequestException) -> None:
        """Called when reading an idempotent response's body failed: wait and return to try the
        call again, or re-raise when the failure is not transient or the retries are spent."""
        if not _transient(exc) or attempt >= self.settings.max_retries:
            raise exc
        self._sleep(self.backoff_s(attempt))

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter capped exponential backoff for the given 0-based attempt."""
        ceiling = min(self.settings.backoff_cap_s, self.settings.backoff_base_s * (2**attempt))
        return self._rng.uniform(ceiling / 2, ceiling)

    def retry_after_s(self, response: requests.Response) -> float | None:
        value = parse_retry_after(response.headers.get("Retry-After"))
        return None if value is None else min(value, self.settings.backoff_cap_s)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _new_session(settings: HttpSettings) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy/CA surprises from the environment; verify= is explicit
    session.headers["User-Agent"] = settings.user_agent
    adapter = HTTPAdapter(
        pool_connections=settings.pool_size, pool_maxsize=settings.pool_size, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server, so any method may be retried."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        return any(
            marker in text
            for marker in ("NewConnectionError", "Connection refused", "NameResolutionError")
        )
    return False


def _transient(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal by retrying
    # ChunkedEncodingError: the connection dropped mid-response (not a ConnectionError subclass).
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError,
    )


_SECRET_PATTERNS: Final = (
    # Salesforce session ids / access tokens: 00D<org>!<opaque>
    re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"),
    # JWTs (Data Cloud tokens, JWT bearer assertions)
    re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    # Authorization header values
    re.compile(r"(?i)((?:bearer|basic|oauth)\s+)[A-Za-z0-9._~+/=!\-]+"),
    # JSON or form fields that carry secrets
    re.compile(
        r"(?i)(\"?(?:access_token|refresh_token|client_secret|assertion|password|signature|"
        r"subject_token|id_token)\"?\s*[:=]\s*\"?)[^\"&\s,}]+"
    ),
)


def redact(text: str) -> str:
    """``text`` with tokens, secrets and credentials replaced by ``[REDACTED]``."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
    return text
