"""Quoting and query texts, proved against DuckDB (the emulator's engine) in memory."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.data_cloud import queries
from resources.data_cloud.queries import KeyedObject
from resources.data_cloud.sql import (
    column_list,
    quote_count,
    quote_fraction,
    quote_identifier,
    quote_literal,
)

pytestmark = pytest.mark.unit

# Any text SQL can carry: no NUL, no lone surrogates (astral characters are fine).
sql_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
HOSTILE = [
    "",
    "'",
    "''",
    "O'Brien",
    "\\",
    "\\'",
    "a\\",
    "' OR 1=1 --",
    "x'; DROP TABLE t; --",
    "/* c */",
    "--",
    ";",
    '"',
    "\n\r\t",
    "é",
    "😀",
    "𝔘𝔫𝔦",
    "\u202e",
    "E'\\x41'",
]


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    yield con
    con.close()


@pytest.mark.parametrize("value", HOSTILE)
def test_literal_reads_back_as_the_same_string(db: duckdb.DuckDBPyConnection, value: str) -> None:
    assert db.execute(f"SELECT {quote_literal(value)}").fetchone() == (value,)


@functools.cache
def shared_db() -> duckdb.DuckDBPyConnection:
    """One in-memory database for the hypothesis tests (a fresh connection per example is slow)."""
    return duckdb.connect(":memory:")


@settings(max_examples=40, deadline=None)
@given(st.lists(sql_text, min_size=1, max_size=25))
def test_any_text_literal_round_trips(values: list[str]) -> None:
    selected = ", ".join(quote_literal(v) for v in values)
    assert shared_db().execute(f"SELECT {selected}").fetchone() == tuple(values)


def test_literal_examples() -> None:
    assert quote_literal("O'Brien") == "'O''Brien'"
    assert quote_literal("a\\b") == "'a\\b'"  # backslash is an ordinary character


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfff"])
def test_literal_rejects_nul_and_lone_surrogates(bad: str) -> None:
    with pytest.raises(ValueError):
        quote_literal(bad)


def test_literal_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        quote_literal(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["ExternalId__c", 'we"ird', "select", "a b", "Ünï", "--x"])
def test_identifier_names_the_column_exactly(db: duckdb.DuckDBPyConnection, name: str) -> None:
    cursor = db.execute(f"SELECT 1 AS {quote_identifier(name)}")
    assert [d[0] for d in cursor.description] == [name]


def test_identifier_rejects_empty_and_nul() -> None:
    for bad in ["", "a\x00"]:
        with pytest.raises(ValueError):
            quote_identifier(bad)


def test_column_list_needs_a_column() -> None:
    assert column_list(["a", "b"]) == '"a", "b"'
    with pytest.raises(ValueError):
        column_list([])


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0.0"), (1, "1.0"), (0.25, "0.25"), (1e-05, "0.00001")]
)
def test_fraction_literals_have_no_exponent(value: float, text: str) -> None:
    assert quote_fraction(value) == text


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_fraction_outside_unit_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        quote_fraction(bad)


def test_count_must_be_a_non_negative_int() -> None:
    assert quote_count(7) == "7"
    for bad in (-1, True, 1.0):
        with pytest.raises((ValueError, TypeError)):
            quote_count(bad)  # type: ignore[arg-type]


# -- range queries on a DuckDB table of hostile ids -----------------------------------------------

OBJ = KeyedObject(name="ssot__Opportunity__dlm", key="ExternalId__c")


def _table_with(con: duckdb.DuckDBPyConnection, ids: list[str | None]) -> None:
    con.execute('CREATE OR REPLACE TABLE "ssot__Opportunity__dlm" ("ExternalId__c" VARCHAR)')
    con.execute('INSERT INTO "ssot__Opportunity__dlm" SELECT unnest(?::VARCHAR[])', [ids])


def _expected(ids: list[str | None], lo: str | None, hi: str | None, after: str | None) -> list:
    def inside(i: str | None) -> bool:
        if i is None:  # NULL sorts first: only the range unbounded below holds it
            return lo is None and after is None
        return (lo is None or lo <= i) and (hi is None or i < hi) and (after is None or i > after)

    chosen = [i for i in ids if inside(i)]
    return sorted(chosen, key=lambda i: (i is not None, i or ""))


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.one_of(st.sampled_from(HOSTILE), sql_text), max_size=25),
    bounds=st.lists(
        st.one_of(st.none(), st.sampled_from(HOSTILE), sql_text), min_size=3, max_size=3
    ),
)
def test_range_sql_returns_exactly_the_ids_in_range(
    ids: list[str], bounds: list[str | None]
) -> None:
    lo, hi, after = bounds
    if lo is not None and hi is not None and not lo < hi:
        lo, hi = (hi, lo) if hi < lo else (lo, None)
    con = shared_db()
    _table_with(con, [*ids, None])
    got = [r[0] for r in con.execute(queries.range_sql(OBJ, lo, hi, after=after)).fetchall()]
    assert got == _expected([*ids, None], lo, hi, after)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(sql_text, max_size=30),
    boundaries=st.lists(st.one_of(st.sampled_from(HOSTILE), sql_text), max_size=6, unique=True),
)
def test_count_ranges_sql_counts_each_range(ids: list[str], boundaries: list[str]) -> None:
    boundaries = sorted(boundaries)
    con = shared_db()
    _table_with(con, [*ids, None])
    rows = con.execute(queries.count_ranges_sql(OBJ, boundaries)).fetchall()
    counts = dict(rows)
    edges: list[str | None] = [None, *boundaries, None]
    for bucket in range(len(boundaries) + 1):
        lo, hi = edges[bucket], edges[bucket + 1]
        assert counts.get(bucket, 0) == len(_expected([*ids, None], lo, hi, None))


def test_range_needs_lo_below_hi() -> None:
    with pytest.raises(ValueError):
        queries.range_sql(OBJ, "b", "a")
    with pytest.raises(ValueError):
        queries.count_ranges_sql(OBJ, ["b", "a"])
