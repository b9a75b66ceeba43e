"""Query results frozen at query time: one DuckDB table per REST cursor or Bulk query job.

A snapshot is a consistent read (later upserts do not shift pages) and lives in the database,
not in Python memory, so a 2M-row result costs disk, not RAM. Rows keep the query's order in
``rowid``, so a page is a cheap ``rowid`` range.
"""

from __future__ import annotations

import re
from typing import Any, Final

from emulator.core.soql import CompiledQuery
from emulator.store import Store

SCHEMA: Final = "query_snapshots"
_NAME: Final = re.compile(r"[A-Za-z0-9_]+")


def reset(store: Store) -> None:
    """Drop every snapshot; they belong to jobs and cursors that do not outlive the process."""
    with store.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cur.execute(f"CREATE SCHEMA {SCHEMA}")


def create(store: Store, name: str, query: CompiledQuery, columns: list[str]) -> int:
    """Run ``query`` selecting ``columns`` (SQL expressions) into a new snapshot; its row count."""
    sql, params = query.select_sql(columns)
    with store.cursor() as cur:
        cur.execute(f"CREATE TABLE {_table(name)} AS {sql}", params)
        row = cur.execute(f"SELECT count(*) FROM {_table(name)}").fetchone()  # noqa: S608 - names are validated, values bound
    return int(row[0]) if row else 0


def page(store: Store, name: str, start: int, size: int) -> list[tuple[Any, ...]]:
    """Rows ``start`` to ``start + size - 1`` (0-based) in query order."""
    with store.cursor() as cur:
        return cur.execute(
            f"SELECT * FROM {_table(name)} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",  # noqa: S608 - names are validated, values bound
            [start, start + size],
        ).fetchall()


def total_bytes(store: Store, name: str, column: str, per_row: int) -> int:
    """Sum of the UTF-8 length of one text column plus ``per_row`` bytes per row."""
    with store.cursor() as cur:
        row = cur.execute(
            f'SELECT coalesce(sum(octet_length(encode("{column}")) + ?), 0) FROM {_table(name)}',  # noqa: S608 - names are validated, values bound
            [per_row],
        ).fetchone()
    return int(row[0]) if row else 0


def drop(store: Store, name: str) -> None:
    with store.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {_table(name)}")


def _table(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad snapshot name {name!r}")
    return f'{SCHEMA}."{name}"'
