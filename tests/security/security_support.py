"""Helpers for the secret-leak tests: distinctive credentials, a recorder of every secret that
crosses the wire, a hostile server that echoes credentials in error bodies, and the leak search."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Response

from emulator.routing import Call, Endpoint

CLIENT_SECRET = "SFLOAD-SECRET-c7e1f0d2a9b84e55"
WRONG_SECRET = "SFLOAD-WRONG-SECRET-5a0b2e9d17c3"
CLIENT_ID = "sfload-security-client"
USERNAME = "security@sfload.emulator"
LOGIN_ENDPOINTS = ("oauth.token", "datacloud.token")
SECRET_FIELDS = ("client_secret", "assertion", "subject_token", "password", "refresh_token")
MIN_NEEDLE = 16


@dataclass(frozen=True)
class KeyPair:
    private_key_file: Path
    public_key_file: Path
    pem: str

    @property
    def needles(self) -> list[str]:
        """The base64 lines of the private key: any of them in a text means the key leaked."""
        return [line for line in self.pem.splitlines() if line and not line.startswith("-----")]


def rsa_key_pair(directory: Path, name: str) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    private_file = directory / f"{name}.key"
    public_file = directory / f"{name}.pub.pem"
    private_file.write_text(pem)
    private_file.chmod(0o600)
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private_file, public_file, pem)


@dataclass
class SecretRecorder:
    """An emulator interceptor that remembers every credential sent to, or issued by, the server."""

    seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, call: Call, endpoint: Endpoint) -> Response | None:
        request = call.request
        found = [request.headers.get("Authorization", "").partition(" ")[2]]
        if endpoint.name in LOGIN_ENDPOINTS:
            params = {**request.args.to_dict(), **request.form.to_dict()}
            found += [params.get(name, "") for name in SECRET_FIELDS]
        self._add(found)
        return None

    def after(self, call: Call, endpoint: Endpoint, response: Response) -> Response:
        if endpoint.name in LOGIN_ENDPOINTS and response.status_code == 200:
            body = json.loads(response.get_data())
            self._add([str(body.get(k, "")) for k in ("access_token", "refresh_token")])
        return response

    def _add(self, values: Iterable[str]) -> None:
        with self._lock:
            self.seen.update(v for v in values if len(v) >= MIN_NEEDLE)


@dataclass
class CredentialEcho:
    """A hostile or sloppy server (or proxy): for the next ``times`` calls to ``endpoint`` it answers
    ``status`` with a body that quotes the request's credentials back."""

    endpoint: str = ""
    status: int = 500
    times: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, endpoint: str, status: int, times: int = 100) -> None:
        with self._lock:
            self.endpoint, self.status, self.times = endpoint, status, times

    def before(self, call: Call, endpoint: Endpoint) -> Response | None:
        with self._lock:
            if endpoint.name != self.endpoint or self.times <= 0:
                return None
            self.times -= 1
        request = call.request
        authorization = request.headers.get("Authorization", "")
        # The form as it came (re-encoded: the recorder may already have parsed the stream).
        form = urlencode([*request.args.items(multi=True), *request.form.items(multi=True)])
        message = f"rejected request with Authorization: {authorization} and body {form}"
        if endpoint.name in LOGIN_ENDPOINTS:
            body: object = {"error": "server_error", "error_description": message}
        elif endpoint.name.startswith("datacloud"):
            body = {"error": "server_error", "message": message}
        else:
            code = "INVALID_SESSION_ID" if self.status == 401 else "UNKNOWN_EXCEPTION"
            body = [{"errorCode": code, "message": message}]
        return Response(json.dumps(body), status=self.status, content_type="application/json")

    def after(self, call: Call, endpoint: Endpoint, response: Response) -> Response:
        return response


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception can show: str, repr, args, attributes, its whole chain, traceback."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(v) for v in vars(current).values()]
        pending += [c for c in (current.__cause__, current.__context__) if c is not None]
    texts.append("".join(traceback.format_exception(exc)))
    return texts


def leaks(texts: Iterable[str], needles: Iterable[str]) -> list[tuple[str, str]]:
    """(needle, excerpt) for every needle found in any text."""
    found = []
    needle_list = [n for n in needles if len(n) >= MIN_NEEDLE]
    for text in texts:
        for needle in needle_list:
            at = text.find(needle)
            if at >= 0:
                found.append((needle[:12] + "...", text[max(0, at - 80) : at + 40]))
    return found


def files_containing(root: Path, needles: Iterable[str]) -> list[tuple[str, str]]:
    """(file, needle prefix) for every file under ``root`` whose bytes contain a needle."""
    encoded = [(n, n.encode()) for n in needles if len(n) >= MIN_NEEDLE]
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [(str(path.relative_to(root)), n[:12]) for n, raw in encoded if raw in data]
    return hits
