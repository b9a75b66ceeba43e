"""The org's rolling 24-hour allowances (``GET /limits``) and the API-request interceptor.

Other features consume their own allowance through the service:
``emulator.services["limits"].consume("DailyBulkApiBatches", n)``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator.errors import rest_error
from emulator.routing import Auth, Call, Endpoint
from resources.salesforce.protocol import (
    DAILY_API_REQUESTS,
    DAILY_BULK_API_BATCHES,
    DAILY_BULK_V2_QUERY_FILE_STORAGE_MB,
    DAILY_BULK_V2_QUERY_JOBS,
    HEADER_LIMIT_INFO,
    REQUEST_LIMIT_EXCEEDED,
)

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

SERVICE: Final = "limits"
WINDOW_S: Final = 24 * 3600
BUCKET_S: Final = 60  # usage is kept per minute; the window rolls minute by minute

DEFAULT_MAXIMA: Final[Mapping[str, int]] = {
    "ActiveScratchOrgs": 3,
    "AnalyticsExternalDataSizeMB": 40960,
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentSyncReportRuns": 20,
    DAILY_API_REQUESTS: 100_000,
    "DailyAsyncApexExecutions": 250_000,
    DAILY_BULK_API_BATCHES: 15_000,
    DAILY_BULK_V2_QUERY_FILE_STORAGE_MB: 1_048_576,
    DAILY_BULK_V2_QUERY_JOBS: 10_000,
    "DailyDurableGenericStreamingApiEvents": 10_000,
    "DailyDurableStreamingApiEvents": 10_000,
    "DailyGenericStreamingApiEvents": 10_000,
    "DailyScratchOrgs": 6,
    "DailyStandardVolumePlatformEvents": 10_000,
    "DailyStreamingApiEvents": 10_000,
    "DailyWorkflowEmails": 1_050,
    "DataStorageMB": 5_120,
    "FileStorageMB": 20_480,
    "HourlyAsyncReportRuns": 1_200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5_000,
    "HourlyDashboardStatuses": 999_999_999,
    "HourlyODataCallout": 10_000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50,
    "MassEmail": 10,
    "PermissionSets": 1_500,
    "SingleEmail": 15,
}


@dataclass
class _Allowance:
    max: int
    buckets: deque[list[int]] = field(default_factory=deque)  # [bucket start (s), amount]
    used: int = 0


class Limits:
    """Rolling 24-hour counters; thread-safe. ``clock`` is injectable for tests."""

    def __init__(
        self,
        maxima: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._maxima = {**DEFAULT_MAXIMA, **(maxima or {})}
        self._allowances = {name: _Allowance(value) for name, value in self._maxima.items()}

    def consume(self, name: str, amount: int = 1) -> bool:
        """Use ``amount`` of the allowance; False (and nothing used) if it would exceed Max."""
        with self._lock:
            allowance = self._rolled(name)
            if allowance.used + amount > allowance.max:
                return False
            bucket = int(self._clock()) // BUCKET_S * BUCKET_S
            if allowance.buckets and allowance.buckets[-1][0] == bucket:
                allowance.buckets[-1][1] += amount
            else:
                allowance.buckets.append([bucket, amount])
            allowance.used += amount
            return True

    def remaining(self, name: str) -> int:
        with self._lock:
            allowance = self._rolled(name)
            return max(allowance.max - allowance.used, 0)

    def used(self, name: str) -> int:
        with self._lock:
            return self._rolled(name).used

    def maximum(self, name: str) -> int:
        with self._lock:
            return self._rolled(name).max

    def set_max(self, name: str, value: int) -> None:
        with self._lock:
            if name in self._allowances:
                self._allowances[name].max = value
            else:
                self._allowances[name] = _Allowance(value)

    def reset(self) -> None:
        """Forget all usage and restore the configured maxima."""
        with self._lock:
            self._allowances = {name: _Allowance(value) for name, value in self._maxima.items()}

    def snapshot(self) -> dict[str, dict[str, int]]:
        """The ``GET /limits`` body: ``{name: {"Max": m, "Remaining": r}}`` sorted by name."""
        with self._lock:
            body = {}
            for name in sorted(self._allowances):
                allowance = self._rolled(name)
                remaining = max(allowance.max - allowance.used, 0)
                body[name] = {"Max": allowance.max, "Remaining": remaining}
            return body

    def _rolled(self, name: str) -> _Allowance:
        allowance = self._allowances[name]
        horizon = self._clock() - WINDOW_S
        while allowance.buckets and allowance.buckets[0][0] + BUCKET_S <= horizon:
            allowance.used -= allowance.buckets.popleft()[1]
        return allowance


class ApiRequestInterceptor:
    """Counts DailyApiRequests for API calls, refuses them when spent, reports usage."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def before(self, call: Call, endpoint: Endpoint) -> Response | None:
        if endpoint.auth is not Auth.CORE or not endpoint.api_call:
            return None
        if self.limits.consume(DAILY_API_REQUESTS):
            return None
        refused = rest_error(403, REQUEST_LIMIT_EXCEEDED, "TotalRequests Limit exceeded.")
        refused.headers[HEADER_LIMIT_INFO] = self.usage_header()
        return refused

    def after(self, call: Call, endpoint: Endpoint, response: Response) -> Response:
        if endpoint.auth is Auth.CORE:
            response.headers[HEADER_LIMIT_INFO] = self.usage_header()
        return response

    def usage_header(self) -> str:
        used = self.limits.used(DAILY_API_REQUESTS)
        return f"api-usage={used}/{self.limits.maximum(DAILY_API_REQUESTS)}"


def limits_of(emulator: Emulator) -> Limits:
    service: Limits = emulator.services[SERVICE]
    return service


def _configured_maxima(emulator: Emulator) -> dict[str, int]:
    """Overrides from ``EmulatorConfig.extra["limits"]``, e.g. ``{"DailyApiRequests": 15000}``."""
    overrides: Any = emulator.config.extra.get("limits", {})
    return {str(name): int(value) for name, value in dict(overrides).items()}


RULES: list[Rule] = []  # GET /limits is served by emulator.core.rest


def install(emulator: Emulator, app: EmulatorApp) -> None:
    limits = Limits(_configured_maxima(emulator))
    emulator.services[SERVICE] = limits
    app.interceptors.append(ApiRequestInterceptor(limits))
    emulator.on_reset(lambda _emulator: limits.reset())
