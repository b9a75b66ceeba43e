"""A scripted plain-HTTP stand-in for a Data Cloud tenant, for faults the emulator cannot yet inject.

Each request pops the next reply scripted for its (method, path prefix); the token exchange always
succeeds and points the tenant at the stub itself (``http://`` host, which the client tolerates).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from resources.data_cloud.auth import CoreLogin


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class TenantStub:
    def __init__(self, token_lifetime_s: int = 3600) -> None:
        self.scripts: dict[tuple[str, str], deque[Reply]] = {}
        self.seen: list[Seen] = []
        self.exchanges = 0
        self.token_lifetime_s = token_lifetime_s
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = stub._reply_for(self.command, self.path, dict(self.headers), body)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = (
                    json.dumps(reply.body).encode()
                    if isinstance(reply.body, dict | list)
                    else str(reply.body or "").encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def script(self, method: str, path_prefix: str, *replies: Reply) -> None:
        self.scripts.setdefault((method, path_prefix), deque()).extend(replies)

    def requests_to(self, method: str, path_prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path_prefix)]

    def _reply_for(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.seen.append(Seen(method, path, headers, body))
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
        return Reply(404, {"error": "not_found", "message": "no scripted reply"})

    def __enter__(self) -> TenantStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


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
