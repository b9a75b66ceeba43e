"""The SOQL compiler: syntax, Salesforce's error texts, and semantics run on an in-memory DuckDB."""
# ruff: noqa: S608  (these tests build SOQL on purpose; SOQL is not SQL here)

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import duckdb
import pytest

from emulator.core import schema
from emulator.core.soql import Feature, SoqlError, compile_soql, parse

pytestmark = pytest.mark.unit

ROWS = [
    # Id, External_Id__c, Name, StageName, CloseDate, Amount, IsPrivate, IsDeleted
    ("006000000000001AAA", "EXT-1", "Acme", "Prospecting", "2024-01-10", "100.00", False, False),
    (
        "006000000000002AAA",
        "ext-1",
        "acme corp",
        "Closed Won",
        "2024-02-10",
        "250.50",
        False,
        False,
    ),
    (
        "006000000000003AAA",
        "EXT-2",
        "O'Brien \\ Sons",
        "Closed Lost",
        "2024-03-10",
        None,
        True,
        False,
    ),
    ("006000000000004AAA", "EXT-3", None, "Prospecting", "2024-04-10", "5.00", False, False),
    (
        "006000000000005AAA",
        "EXT-4",
        "50% off_sale",
        "Prospecting",
        "2024-05-10",
        "-3.00",
        False,
        False,
    ),
    ("006000000000006AAA", "EXT-5", "Gone", "Prospecting", "2024-06-10", "1.00", False, True),
    ("006000000000007AAA", "EXT-6", "Ünïcødé ☃", "Prospecting", "2024-07-10", "7.00", False, False),
]


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(schema.create_table_sql())
    con.executemany(
        'INSERT INTO "Opportunity" ("Id", "External_Id__c", "Name", "StageName", "CloseDate",'
        ' "Amount", "IsPrivate", "IsDeleted") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ROWS,
    )
    con.execute("""UPDATE "Opportunity" SET "CreatedDate" = TIMESTAMPTZ '2024-01-01 12:00:00+00'""")
    yield con
    con.close()


def ids(
    db: duckdb.DuckDBPyConnection, soql: str, *, deleted: bool = False, cs: bool = False
) -> list[str]:
    compiled = compile_soql(soql, include_deleted=deleted, external_id_case_sensitive=cs)
    sql, params = compiled.select_sql(['"Id"'])
    return [row[0][-4:-3] for row in db.execute(sql, params).fetchall()]


def error_of(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        compile_soql(soql)
    return caught.value


def test_select_fields_resolves_case_insensitively(db: duckdb.DuckDBPyConnection) -> None:
    compiled = compile_soql("select id, NAME, external_id__c from opportunity")
    assert [f.name for f in compiled.fields] == ["Id", "Name", "External_Id__c"]
    assert compiled.features == frozenset()
    assert ids(db, "SELECT Id FROM Opportunity ORDER BY Id") == list("123457")


def test_query_all_includes_deleted_rows(db: duckdb.DuckDBPyConnection) -> None:
    assert ids(db, "SELECT Id FROM Opportunity ORDER BY Id", deleted=True) == list("1234567")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME'", "1"),
        ("Name != 'acme'", "23457"),  # != keeps nulls, as in SOQL
        ("Name <> 'acme'", "23457"),
        ("Name = null", "4"),
        ("Name != null", "12357"),
        ("Name LIKE 'acme%'", "12"),
        ("Name LIKE '50\\% off\\_%'", "5"),
        ("Name LIKE '%\\\\%'", "3"),
        ("Name IN ('ACME', 'gone')", "1"),
        ("Name NOT IN ('ACME')", "23457"),
        ("Name IN ('acme', null)", "14"),
        ("Name < 'b'", "125"),
        ("Amount > 5", "127"),
        ("Amount >= 5", "1247"),
        ("Amount < 0", "5"),
        ("Amount = -3.00", "5"),
        ("CloseDate <= 2024-02-10", "12"),
        ("CreatedDate = 2024-01-01T12:00:00Z", "123457"),
        ("CreatedDate > 2024-01-01T13:00:00+02:00", "123457"),
        ("IsPrivate = true", "3"),
        ("NOT Name = 'acme'", "23457"),
        ("StageName = 'prospecting' AND (Amount > 6 OR Amount = null)", "17"),
        ("(Name = 'acme' OR Name = 'gone') AND IsPrivate = false", "1"),
        ("Name = 'O\\'Brien \\\\ Sons'", "3"),
        ("Name = 'ünïcødé \\u2603'", "7"),
        ("Name = 'a -- b'", ""),
        ("Name = '/* nothing */'", ""),
        ("Id = '006000000000002AAA'", "2"),
    ],
)
def test_where_semantics(db: duckdb.DuckDBPyConnection, where: str, expected: str) -> None:
    assert ids(db, f"SELECT Id FROM Opportunity WHERE {where} ORDER BY Id") == list(expected)


def test_external_id_case_sensitivity_follows_the_org_setting(
    db: duckdb.DuckDBPyConnection,
) -> None:
    soql = "SELECT Id FROM Opportunity WHERE External_Id__c = 'EXT-1' ORDER BY Id"
    assert ids(db, soql) == ["1", "2"]
    assert ids(db, soql, cs=True) == ["1"]


def test_order_by_nulls_and_direction(db: duckdb.DuckDBPyConnection) -> None:
    assert ids(db, "SELECT Id FROM Opportunity ORDER BY Amount") == list("354712")
    assert ids(db, "SELECT Id FROM Opportunity ORDER BY Amount DESC") == list("217453")
    assert ids(db, "SELECT Id FROM Opportunity ORDER BY Amount DESC NULLS FIRST") == list("321745")
    assert ids(
        db, "SELECT Id FROM Opportunity ORDER BY Amount ASC NULLS LAST LIMIT 2 OFFSET 1"
    ) == [
        "4",
        "7",
    ]


def test_count_and_features(db: duckdb.DuckDBPyConnection) -> None:
    compiled = compile_soql("SELECT COUNT() FROM Opportunity WHERE StageName = 'Prospecting'")
    assert compiled.is_count
    sql, params = compiled.count_sql()
    assert db.execute(sql, params).fetchone() == (4,)
    assert compile_soql("SELECT Id FROM Opportunity ORDER BY Id LIMIT 5 OFFSET 1").features == {
        Feature.ORDER_BY,
        Feature.LIMIT,
        Feature.OFFSET,
    }
    grouped = compile_soql("SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName")
    assert {Feature.AGGREGATE, Feature.GROUP_BY} <= grouped.features


def test_literals_are_bound_never_spliced() -> None:
    hostile = 'x\'); DROP TABLE "Opportunity"; --'
    escaped = hostile.replace("'", "\\'")
    compiled = compile_soql(f"SELECT Id FROM Opportunity WHERE Name = '{escaped}'")
    sql, params = compiled.select_sql()
    assert "DROP" not in sql
    assert hostile in params


@pytest.mark.parametrize(
    ("soql", "code", "message"),
    [
        ("", "MALFORMED_QUERY", "SOQL statements cannot be empty or null"),
        (
            "SELECT Bogus FROM Opportunity",
            "INVALID_FIELD",
            "\nSELECT Bogus FROM Opportunity\n       ^\nERROR at Row:1:Column:8\n"
            "No such column 'Bogus' on entity 'Opportunity'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        ),
        (
            "SELECT Id FROM Contact",
            "INVALID_TYPE",
            "\nSELECT Id FROM Contact\n               ^\nERROR at Row:1:Column:16\n"
            "sObject type 'Contact' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
        ),
        (
            "SELECT Id FROM Opportunity WHERE",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Opportunity WHERE\n"
            "                                ^\nERROR at Row:1:Column:33\nunexpected token: <EOF>",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Name = 'a' AND Amount > 1 OR Amount < 0",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Opportunity WHERE Name = 'a' AND Amount > 1 OR Amount < 0\n"
            + " " * 59
            + "^\nERROR at Row:1:Column:60\nunexpected token: OR",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Name = 'a' -- comment",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Opportunity WHERE Name = 'a' -- comment\n"
            + " " * 44
            + "^\nERROR at Row:1:Column:45\nunexpected token: '-'",
        ),
        (
            "SELECT Id FROM Opportunity /* x */",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Opportunity /* x */\n"
            + " " * 27
            + "^\nERROR at Row:1:Column:28\nunexpected token: '/'",
        ),
        (
            "SELECT Id,\nBogus__c FROM Opportunity",
            "INVALID_FIELD",
            "\nBogus__c FROM Opportunity\n^\nERROR at Row:2:Column:1\n"
            "No such column 'Bogus__c' on entity 'Opportunity'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Amount = '5'",
            "INVALID_FIELD",
            "\nSELECT Id FROM Opportunity WHERE Amount = '5'\n"
            + " " * 33
            + "^\nERROR at Row:1:Column:34\nvalue of filter criterion for field 'Amount' must "
            "be of type currency and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Name = 5",
            "INVALID_FIELD",
            "\nSELECT Id FROM Opportunity WHERE Name = 5\n"
            + " " * 33
            + "^\nERROR at Row:1:Column:34\nvalue of filter criterion for field 'Name' must be "
            "of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'",
            "INVALID_FIELD",
            "\nSELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'\n"
            + " " * 33
            + "^\nERROR at Row:1:Column:34\nvalue of filter criterion for field 'CloseDate' "
            "must be of type date and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "\nSELECT Id FROM Opportunity WHERE Id = 'abc'\n"
            + " " * 38
            + "^\nERROR at Row:1:Column:39\ninvalid ID field: abc",
        ),
        (
            "SELECT Name, name FROM Opportunity",
            "MALFORMED_QUERY",
            "\nSELECT Name, name FROM Opportunity\n"
            + " " * 13
            + "^\nERROR at Row:1:Column:14\nduplicate field selected: Name",
        ),
        (
            "SELECT Id FROM Opportunity OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
    ],
)
def test_errors_in_salesforce_style(soql: str, code: str, message: str) -> None:
    error = error_of(soql)
    assert (error.error_code, error.message) == (code, message)


@pytest.mark.parametrize(
    ("literal", "column"),
    [
        ("'unterminated", 41),
        ("'bad \\x escape'", 41),
        ("'short \\u12'", 41),
        ("'x'' OR ''1''=''1'", 44),  # '' is no escape in SOQL: the rest is a stray string
    ],
)
def test_bad_string_literals_are_malformed(literal: str, column: int) -> None:
    error = error_of(f"SELECT Id FROM Opportunity WHERE Name = {literal}")
    assert error.error_code == "MALFORMED_QUERY"
    assert f"ERROR at Row:1:Column:{column}\n" in error.message


def test_escapes_decode_to_the_characters_they_name() -> None:
    query = parse("SELECT Id FROM Opportunity WHERE Name = '\\'\\\"\\\\\\n\\t\\r\\b\\f\\u00e9'")
    assert query.where is not None
    comparison = query.where
    assert comparison.values[0].value == "'\"\\\n\t\r\b\fé"  # type: ignore[union-attr]


def test_date_and_number_literals_are_typed() -> None:
    compiled = compile_soql(
        "SELECT Id FROM Opportunity WHERE CloseDate = 2024-02-29 AND Amount = 1.5"
    )
    assert compiled.where_params == (dt.date(2024, 2, 29), Decimal("1.5"))
