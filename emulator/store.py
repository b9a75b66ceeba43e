"""The emulator's DuckDB database: both the Salesforce org and the Data Cloud tenant live here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class Store:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._root = duckdb.connect(str(path) if path else ":memory:")
        self.write_lock = threading.RLock()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for the calling thread; DuckDB cursors must not be shared across threads."""
        cur = self._root.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        self._root.close()
