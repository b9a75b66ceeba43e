"""A scripted plain-HTTP stand-in for a Data Cloud tenant, for faults the emulator cannot yet inject.

Each request pops the next reply scripted for its (method, path prefix); the token exchange always
succeeds and points the tenant at the stub itself (``http://`` host, which the client tolerates).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from http_stub import Reply, Seen, StubServer

from resources.data_cloud.auth import CoreLogin

__all__ = ["Reply", "Seen", "StaticCoreAuth", "TenantStub", "page"]


class TenantStub(StubServer):
    def __init__(self, token_lifetime_s: int = 3600) -> None:
        super().__init__(default=Reply(404, {"error": "not_found", "message": "no scripted reply"}))
        self.scripts: dict[tuple[str, str], deque[Reply]] = {}
        self.exchanges = 0
        self.token_lifetime_s = token_lifetime_s

    def script(self, method: str, path_prefix: str, *replies: Reply) -> None:
        self.scripts.setdefault((method, path_prefix), deque()).extend(replies)

    def reply_for(self, method: str, path: str) -> Reply:
        if path.startswith("/services/a360/token"):
            self.exchanges += 1
            return Reply(
                200,
                {
                    "access_token": f"eyJstub.{self.exchanges}.sig",
                    "instance_url": self.url,
                    "token_type": "Bearer",
                    "expires_in": self.token_lifetime_s,
                },
            )
        for (m, prefix), queue in self.scripts.items():
            if m == method and path.startswith(prefix) and queue:
                return queue.popleft()
        return self.default

    def encode(self, body: Any) -> tuple[bytes, str]:
        """Every body is served as JSON, even a deliberately broken one."""
        data, _ = super().encode(body)
        return data, "application/json"


class StaticCoreAuth:
    """A core login that never changes; counts refresh requests."""

    def __init__(self, instance_url: str, access_token: str = "00Dstub!core") -> None:  # noqa: S107
        self.login = CoreLogin(access_token=access_token, instance_url=instance_url)
        self.refreshes = 0

    def core_login(self) -> CoreLogin:
        return self.login

    def refresh_core_login(self, stale: CoreLogin) -> CoreLogin:
        self.refreshes += 1
        return self.login


def page(
    rows: list[list[Any]],
    next_batch_id: str | None,
    done: bool,
    metadata: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "data": rows,
        "metadata": metadata or {"ExternalId__c": {"type": "VARCHAR", "placeInOrder": 0}},
        "done": done,
        "nextBatchId": next_batch_id,
        "queryId": "20260101_000000_00001_stub1",
        "rowCount": len(rows),
    }
