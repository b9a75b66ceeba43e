"""Thread-safe counters and a bounded request log, read through the control plane."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    method: str
    path: str
    query: str
    endpoint: str
    status: int
    request_bytes: int


class Stats:
    def __init__(self, log_size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.counters: Counter[str] = Counter()
        self.gauges_max: dict[str, int] = {}
        self._log: deque[LoggedRequest] = deque(maxlen=log_size)

    def record_request(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests[(entry.endpoint, entry.status)] += 1
            self._log.append(entry)

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counters[name] += by

    def observe_max(self, name: str, value: int) -> None:
        with self._lock:
            if value > self.gauges_max.get(name, 0):
                self.gauges_max[name] = value

    def request_log(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in self._log if e.at >= since]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_endpoint: dict[str, dict[str, int]] = {}
            for (endpoint, status), n in sorted(self.requests.items()):
                by_endpoint.setdefault(endpoint, {})[str(status)] = n
            return {
                "requests": by_endpoint,
                "counters": dict(sorted(self.counters.items())),
                "max": dict(sorted(self.gauges_max.items())),
            }

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.counters.clear()
            self.gauges_max.clear()
            self._log.clear()


def now() -> float:
    return time.time()
