"""A scripted plain-HTTP stub for client tests: each request pops the next scripted reply.

Subclasses choose replies differently by overriding ``reply_for`` (``dc_stub.TenantStub``)."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes as-is
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubServer:
    def __init__(self, replies: list[Reply] | None = None, default: Reply | None = None) -> None:
        self.replies: deque[Reply] = deque(replies or [])
        self.default = default or Reply(404, [{"errorCode": "NOT_FOUND", "message": "stub"}])
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stub._lock:
                    stub.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                    reply = stub.reply_for(self.command, self.path)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data, ctype = stub.encode(reply.body)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", ctype))
                for key, value in reply.headers.items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def reply_for(self, method: str, path: str) -> Reply:
        """The reply to a request (called under the lock, after it was recorded in ``seen``)."""
        return self.replies.popleft() if self.replies else self.default

    def encode(self, body: Any) -> tuple[bytes, str]:
        """(bytes, Content-Type) of a reply body: dict/list -> JSON, str/bytes as they are."""
        if isinstance(body, dict | list):
            return json.dumps(body).encode(), "application/json"
        if isinstance(body, str):
            return body.encode(), "text/plain"
        return body or b"", "application/octet-stream"

    def requests_to(self, method: str, path_prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path_prefix)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
