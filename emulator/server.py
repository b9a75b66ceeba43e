"""Start and stop the emulator on 127.0.0.1 (port 0 picks a free port, for tests)."""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator.app import EmulatorApp
from emulator.config import EmulatorConfig
from emulator.routes import FEATURES, build_url_map
from emulator.state import Emulator
from emulator.tls import TlsFiles, ensure_tls_files

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmulatorServer:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.tls: TlsFiles | None = (
            ensure_tls_files(config.data_dir / "tls") if config.tls else None
        )
        self.emulator = Emulator(config)
        self.app = EmulatorApp(self.emulator, build_url_map())
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.emulator.base_url

    @property
    def ca_bundle(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    def start(self) -> EmulatorServer:
        self._server = make_server(
            self.config.host,
            self.config.port,
            self.app,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=self._ssl_context(),
        )
        scheme = "https" if self.tls else "http"
        self.emulator.base_url = f"{scheme}://{self.config.host}:{self._server.server_port}"
        for feature in FEATURES:
            feature.install(self.emulator, self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sfload-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.emulator.close()

    def ready_info(self) -> dict[str, Any]:
        """The one JSON line ``sfload emulator serve`` prints: everything a client needs to connect."""
        return {
            "url": self.url,
            "login_url": self.url,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "username": self.config.username,
            "password": self.config.password,
        }

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
        return context

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
