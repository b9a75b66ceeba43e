"""The Data Cloud tenant's state: its DuckDB database, server-side query cursors, paging. No HTTP.

The tenant has its own DuckDB file (``datacloud.duckdb`` in the data directory), separate from the
core org's, so tenant SQL cannot even name the org's tables. Queries run on a connection opened
``read_only=True`` with external access disabled (see ``sql.py`` for the parser-level check in
front of it). Writes (generating data, later data changes) close that connection, open the file
read-write, and reopen it read-only; open cursors do not survive a write.

A cursor keeps DuckDB's streaming Arrow reader and pulls one page at a time, so a 2M-row result
is never materialised in Python. Batch ids are single-use; a cursor dies after an idle gap
(``datacloud_cursor_idle_s``) or its lifetime (``datacloud_cursor_lifetime_s``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from emulator.config import EmulatorConfig
from emulator.datacloud import encoding, schema, sql
from emulator.datacloud.generate import generate_table

Clock = Callable[[], float]

DATABASE_FILE: Final = "datacloud.duckdb"
# DuckDB must not take most of a shared machine's memory; big sorts spill to disk instead.
MEMORY_LIMIT: Final = "2GB"
_SAFE_CONFIG: Final[dict[str, Any]] = {
    "enable_external_access": False,
    "python_enable_replacements": False,
}


class PageFormat(Enum):
    JSON = "json"
    ARROW = "arrow"


class BatchNotFound(Exception):
    """Unknown, already used or expired ``nextBatchId``."""


@dataclass
class Page:
    """One V2 response, with the rows already encoded (JSON row text or base64 Arrow)."""

    payload: bytes
    format: PageFormat
    metadata: dict[str, dict[str, Any]]
    row_count: int
    query_id: str
    start_time: str
    end_time: str
    done: bool
    next_batch_id: str | None


@dataclass
class QueryCursor:
    query_id: str
    connection: duckdb.DuckDBPyConnection
    reader: pa.RecordBatchReader
    columns: list[encoding.ResultColumn]
    json_encoder: encoding.JsonRowsEncoder
    created_at: float
    last_used_at: float
    pending: list[pa.RecordBatch] = field(default_factory=list)
    exhausted: bool = False
    pages_served: int = 0

    def take(self, max_rows: int) -> pa.RecordBatch:
        """Up to ``max_rows`` rows, from what was pushed back first, then from DuckDB."""
        parts: list[pa.RecordBatch] = []
        wanted = max_rows
        while wanted > 0 and self._fill():
            batch = self.pending.pop(0)
            if batch.num_rows > wanted:
                self.pending.insert(0, batch.slice(wanted))
                batch = batch.slice(0, wanted)
            parts.append(batch)
            wanted -= batch.num_rows
        if not parts:
            return _empty_batch(self.reader.schema)
        if len(parts) == 1:
            return parts[0]
        return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]

    def push_back(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.pending.insert(0, batch)

    def has_more(self) -> bool:
        return self._fill()

    def _fill(self) -> bool:
        """Make sure ``pending`` holds a non-empty batch unless the result is exhausted."""
        while not self.pending and not self.exhausted:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                self.exhausted = True
                break
            if batch.num_rows:
                self.pending.append(batch)
        return bool(self.pending)

    def close(self) -> None:
        self.pending.clear()
        try:
            self.reader.close()
        finally:
            self.connection.close()


class _ReadWriteGate:
    """Many readers at once, or one writer alone (readers: queries; writer: data changes)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writing)
            self._writing = True
            self._condition.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


class DataCloudBackend:
    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.path: Path = config.data_dir / DATABASE_FILE
        self._clock = clock or time.monotonic
        self._gate = _ReadWriteGate()
        self._lock = threading.Lock()
        self._batches: dict[str, QueryCursor] = {}
        self._query_numbers = itertools.count(1)
        self._formatter = _connect(None)
        self._initialise_file()
        self._reader: duckdb.DuckDBPyConnection | None = _connect(self.path, read_only=True)

    # ------------------------------------------------------------------------------ data

    def row_count(self) -> int:
        with self._gate.reading(), self._read_cursor() as cursor:
            query = f"SELECT count(*) FROM {_table()}"  # noqa: S608 - our own constant
            row = cursor.execute(query).fetchone()
        return int(row[0]) if row else 0

    def regenerate(self, records: int, seed: int, profile: str = "clean") -> int:
        """Replace the table's rows with ``records`` generated ones; returns the row count."""
        table = generate_table(records, seed, profile)
        with self.writable() as connection:
            connection.register("generated", table)
            connection.execute(f"DELETE FROM {_table()}")  # noqa: S608 - our own constant
            connection.execute(
                f"INSERT INTO {_table()} BY NAME SELECT * FROM generated"  # noqa: S608
            )
            connection.unregister("generated")
        return records

    @contextmanager
    def writable(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the tenant database; all open query cursors are dropped."""
        with self._gate.writing():
            self.drop_cursors()
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            connection = _connect(self.path)
            try:
                yield connection
                connection.execute("CHECKPOINT")
            finally:
                connection.close()
                self._reader = _connect(self.path, read_only=True)

    # ------------------------------------------------------------------------------ queries

    def submit(self, query: str, page_format: PageFormat) -> Page:
        """Run ``query`` and answer its first page (raises ``sql.QueryRefused`` -> 400)."""
        sql.check_single_select(query)
        self._sweep_expired()
        started = _utc_now()
        with self._gate.reading():
            cursor = self._open_cursor(query)
            try:
                return self._page(cursor, page_format, started)
            except Exception:
                cursor.close()
                raise

    def next_page(self, batch_id: str, page_format: PageFormat) -> Page:
        self._sweep_expired()
        with self._lock:
            cursor = self._batches.pop(batch_id, None)
        if cursor is None:
            raise BatchNotFound(batch_id)
        if self._expired(cursor):
            cursor.close()
            raise BatchNotFound(batch_id)
        started = _utc_now()
        with self._gate.reading():
            try:
                return self._page(cursor, page_format, started)
            except Exception:
                cursor.close()
                raise

    def drop_cursors(self) -> None:
        with self._lock:
            doomed = list(self._batches.values())
            self._batches.clear()
        for cursor in doomed:
            cursor.close()

    def open_cursor_count(self) -> int:
        with self._lock:
            return len(self._batches)

    def close(self) -> None:
        self.drop_cursors()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._formatter.close()

    # ------------------------------------------------------------------------------ internals

    def _initialise_file(self) -> None:
        connection = _connect(self.path)
        try:
            connection.execute(schema.create_table_sql())
        finally:
            connection.close()

    @contextmanager
    def _read_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        assert self._reader is not None, "tenant database is closed"
        cursor = quiet_cursor(self._reader)
        try:
            yield cursor
        finally:
            cursor.close()

    def _open_cursor(self, query: str) -> QueryCursor:
        assert self._reader is not None, "tenant database is closed"
        connection = quiet_cursor(self._reader)
        try:
            reader = connection.sql(query).to_arrow_reader(self.config.datacloud_page_rows)
        except Exception:
            connection.close()
            raise
        plain = sql.plain_output_columns(self._formatter, query, len(reader.schema))
        columns = encoding.result_columns(reader.schema, plain)
        now = self._clock()
        return QueryCursor(
            query_id=self._new_query_id(),
            connection=connection,
            reader=reader,
            columns=columns,
            json_encoder=encoding.JsonRowsEncoder(self._formatter, columns),
            created_at=now,
            last_used_at=now,
        )

    def _page(self, cursor: QueryCursor, page_format: PageFormat, started: str) -> Page:
        rows, payload = self._fill_page(cursor, page_format)
        done = not cursor.has_more()
        cursor.pages_served += 1
        cursor.last_used_at = self._clock()
        next_batch_id = None
        if done:
            cursor.close()
        else:
            next_batch_id = self._new_batch_id(cursor)
            with self._lock:
                self._batches[next_batch_id] = cursor
        return Page(
            payload=payload,
            format=page_format,
            metadata=encoding.metadata(cursor.columns),
            row_count=rows,
            query_id=cursor.query_id,
            start_time=started,
            end_time=_utc_now(),
            done=done,
            next_batch_id=next_batch_id,
        )

    def _fill_page(self, cursor: QueryCursor, page_format: PageFormat) -> tuple[int, bytes]:
        """At most ``page_rows`` rows whose encoded form stays within ``page_bytes``."""
        cap = self.config.datacloud_page_bytes
        batch = cursor.take(self.config.datacloud_page_rows)
        payload = self._encode(cursor, batch, page_format)
        while len(payload) > cap and batch.num_rows > 1:
            keep = max(1, min(batch.num_rows - 1, int(batch.num_rows * cap / len(payload) * 0.95)))
            cursor.push_back(batch.slice(keep))
            batch = batch.slice(0, keep)
            payload = self._encode(cursor, batch, page_format)
        return batch.num_rows, payload

    @staticmethod
    def _encode(cursor: QueryCursor, batch: pa.RecordBatch, page_format: PageFormat) -> bytes:
        if page_format is PageFormat.ARROW:
            return encoding.arrow_stream_base64(batch)
        return cursor.json_encoder.encode(batch)

    def _expired(self, cursor: QueryCursor) -> bool:
        now = self._clock()
        return (
            now - cursor.last_used_at > self.config.datacloud_cursor_idle_s
            or now - cursor.created_at > self.config.datacloud_cursor_lifetime_s
        )

    def _sweep_expired(self) -> None:
        with self._lock:
            doomed = [(k, c) for k, c in self._batches.items() if self._expired(c)]
            for key, _ in doomed:
                del self._batches[key]
        for _, cursor in doomed:
            cursor.close()

    def _new_query_id(self) -> str:
        """Presto-shaped: ``YYYYMMDD_HHMMSS_NNNNN_xxxxx``."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M%S")
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        return f"{stamp}_{next(self._query_numbers) % 100_000:05d}_{suffix}"

    @staticmethod
    def _new_batch_id(cursor: QueryCursor) -> str:
        return f"{cursor.query_id}_{uuid.uuid4()}_{cursor.pages_served}"


def quiet_cursor(connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new session on ``connection``; DuckDB would draw a progress bar on stdout for slow ones."""
    cursor = connection.cursor()
    cursor.execute("SET enable_progress_bar = false")
    return cursor


def _connect(path: Path | None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    config = dict(_SAFE_CONFIG, memory_limit=MEMORY_LIMIT)
    connection = duckdb.connect(str(path) if path else ":memory:", read_only, config)
    # Arrow timestamps and strftime render in UTC whatever the machine's zone.
    connection.execute("SET GLOBAL TimeZone = 'UTC'")
    connection.execute("SET enable_progress_bar = false")
    return connection


def _empty_batch(arrow_schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([], type=f.type) for f in arrow_schema], schema=arrow_schema
    )


def _table() -> str:
    return schema.quote_identifier(schema.TABLE_NAME)


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed_tenant(data_dir: Path, records: int, seed: int, profile: str = "clean") -> int:
    """(Re)generate the tenant's rows in ``data_dir`` while no server has it open."""
    backend = DataCloudBackend(EmulatorConfig(data_dir=data_dir))
    try:
        return backend.regenerate(records, seed, profile)
    finally:
        backend.close()
