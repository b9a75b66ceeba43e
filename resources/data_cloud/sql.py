"""Quoting for Data Cloud SQL: the one place where a value becomes SQL text.

Data 360 SQL (Hyper) is PostgreSQL-like; the Query API V2 engine is ANSI/Trino-like; the emulator runs
DuckDB. All three read *standard* string literals the same way: a literal is delimited by single
quotes, a single quote inside it is written twice, and a backslash is an ordinary character
(PostgreSQL with ``standard_conforming_strings=on``, the default since 9.1; DuckDB; Trino). So
backslashes are deliberately NOT escaped here — doubling them would change the value. We never emit
``E'...'`` literals, where backslash would be an escape.

Identifiers are always double-quoted with embedded double quotes doubled, so case is kept exactly and
no name is read as a keyword.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

_NUL = "\x00"


def quote_literal(value: str) -> str:
    """``value`` as a SQL string literal, e.g. ``O'Brien`` -> ``'O''Brien'``."""
    if not isinstance(value, str):
        raise TypeError(f"quote_literal takes str, got {type(value).__name__}")
    _require_sql_text(value, "string literal")
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier, e.g. ``ExternalId__c`` -> ``"ExternalId__c"``."""
    if not isinstance(name, str):
        raise TypeError(f"quote_identifier takes str, got {type(name).__name__}")
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    _require_sql_text(name, "identifier")
    return '"' + name.replace('"', '""') + '"'


def quote_fraction(value: float) -> str:
    """A fraction in [0, 1] as an exact decimal literal (for ``percentile_disc``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"quote_fraction takes a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {value!r}")
    # The shortest round-tripping decimal, written without an exponent.
    return format(Decimal(repr(float(value))), "f")


def quote_count(value: int) -> str:
    """A non-negative integer for LIMIT and similar clauses."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"quote_count takes int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"count must be >= 0, got {value}")
    return str(value)


def column_list(names: Iterable[str]) -> str:
    """``a, b`` as ``"a", "b"``; at least one name."""
    quoted = [quote_identifier(name) for name in names]
    if not quoted:
        raise ValueError("at least one column is required")
    return ", ".join(quoted)


def _require_sql_text(value: str, what: str) -> None:
    if _NUL in value:
        raise ValueError(f"a NUL character cannot appear in an SQL {what}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: not representable on the wire
        raise ValueError(f"an SQL {what} must be valid Unicode (no lone surrogates)") from exc
