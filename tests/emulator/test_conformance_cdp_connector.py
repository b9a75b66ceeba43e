# ruff: noqa: S608 - these tests send hand-written SQL to the emulator on purpose
"""salesforce-cdp-connector 1.0.20, unchanged, against the emulator (password login, V2, Arrow)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.config import EmulatorConfig
from emulator.datacloud.generate import generate_table
from emulator.server import EmulatorServer

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # The connector itself sends its query calls with verify=False; our product code never does.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

RECORDS = 130
SEED = 5
PAGE_ROWS = 40
TABLE = '"ssot__Opportunity__dlm"'
COLUMNS = '"ExternalId__c", "ssot__TotalAmount__c", "ssot__CloseDate__c", "ssot__NextStep__c"'


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        data_dir=tmp_path_factory.mktemp("cdp"),
        records=RECORDS,
        seed=SEED,
        datacloud_page_rows=PAGE_ROWS,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def expected() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = generate_table(RECORDS, SEED).to_pylist()
    return sorted(rows, key=lambda r: str(r["ExternalId__c"]))


@pytest.fixture
def connection(tenant: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The connector's auth calls verify TLS with requests' defaults: trust the emulator's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tenant.ca_bundle))
    from salesforcecdpconnector.connection import SalesforceCDPConnection

    config = tenant.config
    conn = SalesforceCDPConnection(
        tenant.url,
        username=config.username,
        password=config.password,
        client_id=config.client_id,
        client_secret=config.client_secret,
    )
    yield conn
    conn.close()


def test_cursor_fetchall_reads_every_batch(
    connection: Any, expected: list[dict[str, Any]], tenant: EmulatorServer
) -> None:
    cursor = connection.cursor()
    cursor.execute(f'SELECT {COLUMNS} FROM {TABLE} ORDER BY "ExternalId__c"')
    rows = cursor.fetchall()

    assert [d[0] for d in cursor.description] == [
        "ExternalId__c",
        "ssot__TotalAmount__c",
        "ssot__CloseDate__c",
        "ssot__NextStep__c",
    ]
    assert [d[1] for d in cursor.description] == [
        "VARCHAR",
        "DECIMAL",
        "TIMESTAMP WITH TIME ZONE",
        "VARCHAR",
    ]
    assert len(rows) == RECORDS
    assert [r[0] for r in rows] == [e["ExternalId__c"] for e in expected]
    assert [r[1] for r in rows] == [float(e["ssot__TotalAmount__c"]) for e in expected]
    assert [r[2] for r in rows] == [e["ssot__CloseDate__c"] for e in expected]
    assert all(isinstance(r[2], dt.datetime) and r[2].utcoffset() == dt.timedelta(0) for r in rows)
    assert [r[3] for r in rows] == [e["ssot__NextStep__c"] for e in expected]
    pages = tenant.emulator.stats.snapshot()["requests"]["datacloud.query.next"]["200"]
    assert pages >= RECORDS // PAGE_ROWS


def test_fetchone_and_fetchmany_walk_the_same_rows(
    connection: Any, expected: list[dict[str, Any]]
) -> None:
    cursor = connection.cursor()
    cursor.execute(f'SELECT "ExternalId__c" FROM {TABLE} ORDER BY "ExternalId__c"')
    first = cursor.fetchone()
    batch = cursor.fetchmany(PAGE_ROWS + 5)  # crosses a batch boundary

    ids = [first[0]] + [r[0] for r in batch]
    assert ids == [e["ExternalId__c"] for e in expected][: PAGE_ROWS + 6]


def test_aggregates_come_back_as_numbers(connection: Any, expected: list[dict[str, Any]]) -> None:
    cursor = connection.cursor()
    cursor.execute(
        f'SELECT MIN("ExternalId__c") AS lo, MAX("ExternalId__c") AS hi, COUNT(*) AS n FROM {TABLE}'
    )

    assert cursor.fetchall() == [
        [expected[0]["ExternalId__c"], expected[-1]["ExternalId__c"], RECORDS]
    ]


def test_get_pandas_dataframe_uses_arrow_pages(
    connection: Any, expected: list[dict[str, Any]], tenant: EmulatorServer
) -> None:
    frame = connection.get_pandas_dataframe(
        f'SELECT {COLUMNS} FROM {TABLE} ORDER BY "ExternalId__c"'
    )

    assert list(frame.columns) == [
        "ExternalId__c",
        "ssot__TotalAmount__c",
        "ssot__CloseDate__c",
        "ssot__NextStep__c",
    ]
    assert frame["ExternalId__c"].tolist() == [e["ExternalId__c"] for e in expected]
    assert frame["ssot__TotalAmount__c"].tolist() == [
        float(e["ssot__TotalAmount__c"]) for e in expected
    ]
    closes = [ts.to_pydatetime() for ts in frame["ssot__CloseDate__c"]]
    assert closes == [e["ssot__CloseDate__c"] for e in expected]


def test_list_tables_reads_the_metadata_endpoint(connection: Any) -> None:
    (table,) = connection.list_tables(table_name="ssot__Opportunity__dlm")

    assert table.name == "ssot__Opportunity__dlm"
    names = [f.name for f in table.fields]
    assert "ExternalId__c" in names and "ssot__TotalAmount__c" in names
    assert [k.name for k in table.primary_keys] == ["ssot__Id__c"]
    assert connection.list_tables(table_name="ssot__Account__dlm") == []


def test_a_refused_query_surfaces_the_server_message(connection: Any) -> None:
    from salesforcecdpconnector.exceptions import Error

    cursor = connection.cursor()
    with pytest.raises(Error, match="status=400, message=Only SELECT queries are allowed"):
        cursor.execute(f"DELETE FROM {TABLE}")
