"""What SQL the tenant accepts, decided by DuckDB's own parser, never by string matching.

Two layers keep queries read-only:

1. ``check_single_select`` parses with ``duckdb.extract_statements`` and accepts exactly one
   statement of type SELECT (``WITH ... SELECT`` included). INSERT, DROP, COPY, PRAGMA, ATTACH,
   SET, CALL, EXPLAIN and multi-statement texts are refused with a 400.
2. The statement then runs on a connection opened ``read_only=True`` with
   ``enable_external_access=false`` (see ``backend.py``): even a SELECT cannot write, read files
   (``read_csv``, ``glob``, ``'/path'`` scans), attach databases or load extensions.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb


class QueryRefused(Exception):
    """The SQL is not something the Query API runs; the message goes back to the client."""


def check_single_select(sql: str) -> None:
    if not sql.strip():
        raise QueryRefused("SQL query is empty")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(str(exc)) from exc
    if len(statements) != 1:
        raise QueryRefused(
            f"Exactly one SELECT statement is allowed, the query has {len(statements)}"
        )
    kind = statements[0].type
    if kind is not duckdb.StatementType.SELECT:
        raise QueryRefused(f"Only SELECT queries are allowed, not {kind.name}")


def plain_output_columns(
    connection: duckdb.DuckDBPyConnection, sql: str, n_columns: int
) -> list[bool] | None:
    """Per output column: True when it is a bare column reference (or part of a ``*``).

    Plain values go back as JSON strings, computed ones (aggregates, window functions,
    expressions) as JSON numbers. ``None`` when the select list cannot be lined up with the
    output columns; the caller then decides by type.
    """
    cursor = connection.cursor()  # the connection is shared between request threads
    try:
        (tree_text,) = cursor.execute("SELECT json_serialize_sql(?)", [sql]).fetchone() or (None,)
    except duckdb.Error:
        return None
    finally:
        cursor.close()
    if not isinstance(tree_text, str):
        return None
    tree = json.loads(tree_text)
    if tree.get("error") or not tree.get("statements"):
        return None
    select_list = _leftmost_select_list(tree["statements"][0].get("node", {}))
    if select_list is None:
        return None
    return _expand(select_list, n_columns)


def _leftmost_select_list(node: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The select list that names the output columns (for UNION etc., the first branch's)."""
    while node.get("type") == "SET_OPERATION_NODE":
        children = node.get("children") or [node.get("left")]
        if not children or not isinstance(children[0], dict):
            return None
        node = children[0]
    if node.get("type") != "SELECT_NODE":
        return None
    select_list = node.get("select_list")
    return select_list if isinstance(select_list, list) else None


def _expand(select_list: list[dict[str, Any]], n_columns: int) -> list[bool] | None:
    stars = [item for item in select_list if item.get("class") == "STAR"]
    if not stars:
        if len(select_list) != n_columns:
            return None
        return [item.get("class") == "COLUMN_REF" for item in select_list]
    if len(stars) > 1:
        return None
    star_width = n_columns - (len(select_list) - 1)
    if star_width < 0:
        return None
    plain: list[bool] = []
    for item in select_list:
        if item.get("class") == "STAR":
            plain.extend([True] * star_width)
        else:
            plain.append(item.get("class") == "COLUMN_REF")
    return plain
