"""SOQL literal quoting: escapes, LIKE, identifiers (emulator round trip in test_client_emulator)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resources.salesforce.soql import identifier, in_list, literal, quote_like, quote_string

pytestmark = pytest.mark.unit

_UNESCAPE = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _unquote(literal_text: str) -> str:
    """A reference SOQL string-literal reader (strict: unknown escapes fail)."""
    assert literal_text[0] == literal_text[-1] == "'"
    body, out, i = literal_text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(_UNESCAPE[body[i + 1]])
            i += 2
            continue
        assert ch != "'", "unescaped quote would end the literal"
        out.append(ch)
        i += 1
    return "".join(out)


@given(st.text(alphabet=st.characters(blacklist_characters="\x00")))
def test_quote_string_round_trips(value: str) -> None:
    quoted = quote_string(value)
    assert _unquote(quoted) == value
    assert "\n" not in quoted and "\r" not in quoted


def test_quote_string_examples() -> None:
    assert quote_string("O'Brien") == "'O\\'Brien'"
    assert quote_string("a\\' OR Name != '") == "'a\\\\\\' OR Name != \\''"
    assert quote_string('say "hi"\n') == "'say \\\"hi\\\"\\n'"
    with pytest.raises(ValueError):
        quote_string("nul\x00")


def test_like_escapes_wildcards() -> None:
    assert quote_like("50%_off") == "'50\\%\\_off'"


def test_literals_and_identifiers() -> None:
    assert literal(None) == "null"
    assert literal(True) == "true"
    assert literal(Decimal("1E+3")) == "1000"
    assert literal(dt.date(2024, 1, 2)) == "2024-01-02"
    assert literal(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2024-01-02T03:04:05Z"
    with pytest.raises(ValueError):
        literal(dt.datetime(2024, 1, 2))
    assert identifier("Account.External_Id__c") == "Account.External_Id__c"
    with pytest.raises(ValueError):
        identifier("Name FROM User --")
    assert in_list(["a", "b'"]) == "('a', 'b\\'')"
