"""The ONE place SOQL literals are made: every value spliced into SOQL goes through here."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Final

_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE: Final = re.compile(r"[\\'\"\n\r\t\b\f]")
_LIKE_WILDCARDS: Final = re.compile(r"[%_]")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


def quote_string(value: str) -> str:
    """``value`` as a SOQL string literal, quotes included."""
    if "\x00" in value:
        raise ValueError("SOQL string literals cannot contain NUL")
    return "'" + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], value) + "'"


def quote_like(value: str) -> str:
    """A LIKE pattern that matches ``value`` literally (``%`` and ``_`` escaped too)."""
    literal = quote_string(value)
    return _LIKE_WILDCARDS.sub(lambda m: "\\" + m.group(), literal)


def literal(value: str | int | Decimal | bool | dt.date | dt.datetime | None) -> str:
    """Any supported Python value as a SOQL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("SOQL datetimes need a time zone")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return quote_string(value)
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


def identifier(name: str) -> str:
    """A field or object API name, checked (SOQL has no identifier quoting)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a SOQL identifier: {name!r}")
    return name


def in_list(values: list[str]) -> str:
    if not values:
        raise ValueError("SOQL IN () needs at least one value")
    return "(" + ", ".join(quote_string(v) for v in values) + ")"
