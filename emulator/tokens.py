"""Issued access tokens for the core org and the Data Cloud tenant, with lifetimes."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

Clock = Callable[[], float]


class TokenKind(Enum):
    CORE = "core"
    DATACLOUD = "datacloud"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Token:
    value: str
    kind: TokenKind
    username: str
    client_id: str
    expires_at: float


class TokenStore:
    ORG_ID = "00DEM0000000001EAA"

    def __init__(self, clock: Clock | None = None) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._clock = clock or time.monotonic

    def issue(self, kind: TokenKind, username: str, client_id: str, lifetime_s: float) -> Token:
        value = self._new_value(kind)
        token = Token(value, kind, username, client_id, self._clock() + lifetime_s)
        with self._lock:
            self._tokens[value] = token
        return token

    def lookup(self, value: str, kind: TokenKind) -> Token | None:
        """The live token with that value and kind, or None when unknown, revoked or expired."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.kind is not kind or token.expires_at <= self._clock():
            return None
        return token

    def revoke(self, value: str) -> bool:
        with self._lock:
            return self._tokens.pop(value, None) is not None

    def expire_all(self, kind: TokenKind | None = None) -> int:
        """Make live tokens (of one kind, or all) expire now; used by fault injection and tests."""
        with self._lock:
            doomed = [v for v, t in self._tokens.items() if kind is None or t.kind is kind]
            for value in doomed:
                del self._tokens[value]
        return len(doomed)

    def _new_value(self, kind: TokenKind) -> str:
        if kind is TokenKind.DATACLOUD:
            return (
                "eyJhbGciOiJIUzI1NiJ9."
                + secrets.token_urlsafe(32)
                + "."
                + secrets.token_urlsafe(16)
            )
        if kind is TokenKind.REFRESH:
            return "5Aep861" + secrets.token_urlsafe(40)
        return f"{self.ORG_ID}!AQ" + secrets.token_urlsafe(48)
