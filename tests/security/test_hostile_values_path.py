"""Hostile ExternalIds and field values through the real path: Data Cloud rows in the emulator ->
Data Cloud client (range query with hostile bounds) -> CSV encoding -> Bulk upsert -> read back by
Bulk query and by exact SOQL match. Nothing changes a query's meaning; every value lands verbatim
(Salesforce stores formula-looking text as text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pytest

from emulator.config import EmulatorConfig
from emulator.datacloud import schema
from emulator.datacloud.handlers import backend_of
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudClient, SalesforceCoreAuth
from resources.http import HttpSettings
from resources.salesforce import ObjectSpec, SalesforceResource, quote_string

pytestmark = pytest.mark.emulator

SPEC = ObjectSpec(object_name="Opportunity", external_id_field="External_Id__c")

# Unique even case-insensitively (the emulator's External ID matches case-insensitively).
HOSTILE_IDS = [
    "' OR '1'='1",
    "x'; DROP TABLE ssot__Opportunity__dlm; --",
    "a\\' OR Name != null --",
    "/* comment */ id",
    'double "quoted"',
    "back\\slash\\",
    '=HYPERLINK("http://x")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "rtl\u202eevil",
    "zero\u200bwidth",
    "bom\ufeffinside",
    "emoji😀id",
    "%_like_%",
    "semi;colon",
    "comma,id",
    "new\nline",
]
HOSTILE_VALUES = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-1",
    "@SUM(A1)",
    "'; DELETE FROM Opportunity; --",
    'quote " inside',
    "\\N",
    "#N/A",
    "\u202etxt.exe",
    "a\u200d\u200cb",
    "tab\tand\r\ncrlf",
    "  edge spaces  ",
    "$(rm -rf /)",
    "`uname`",
    "NULL",
    "null",
    "'",
    "\\",
]


@dataclass(frozen=True)
class Path_:
    server: EmulatorServer
    salesforce: SalesforceResource
    data_cloud: DataCloudClient


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path_]:
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("hostile"), datacloud_page_rows=5)
    with EmulatorServer(config) as server:
        insert_source_rows(server, HOSTILE_IDS, HOSTILE_VALUES)
        salesforce = SalesforceResource(
            login_url=server.url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            ca_bundle=str(server.ca_bundle),
            poll_initial_s=0.05,
            poll_max_s=0.2,
        )
        http = HttpSettings(ca_bundle=str(server.ca_bundle), read_timeout_s=30.0)
        with DataCloudClient.connect(SalesforceCoreAuth(salesforce.client.auth), http=http) as dc:
            yield Path_(server, salesforce, dc)
        salesforce.teardown_after_execution(None)  # type: ignore[arg-type]


def insert_source_rows(server: EmulatorServer, ids: list[str], names: list[str]) -> None:
    table = schema.quote_identifier(schema.TABLE_NAME)
    key = schema.quote_identifier(schema.EXTERNAL_ID)
    name = schema.quote_identifier("ssot__Name__c")
    with backend_of(server.emulator).writable() as db:
        db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed identifiers
        db.execute(
            f"INSERT INTO {table} ({key}, {name}) "
            "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [ids, names],
        )


def read_range(dc: DataCloudClient, lo: str | None, hi: str | None) -> pa.Table:
    columns = [schema.EXTERNAL_ID, "ssot__Name__c"]
    return dc.rows(lo, hi, columns=columns).read_all()


def in_range(value: str, lo: str | None, hi: str | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value < hi)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        (None, None),
        ("' OR '1'='1", None),
        (None, "x'; DROP TABLE ssot__Opportunity__dlm; --"),
        ("+", "="),
        ("\\", "\u202e"),
        ("' OR 1=1 --", "zero\u200bwidth"),
        ("a' OR 'a'='a", "b"),
    ],
)
def test_hostile_bounds_select_exactly_the_in_range_rows(
    path: Path_, lo: str | None, hi: str | None
) -> None:
    got = read_range(path.data_cloud, lo, hi)[schema.EXTERNAL_ID].to_pylist()
    expected = sorted(i for i in HOSTILE_IDS if in_range(i, lo, hi))
    assert got == expected


def test_hostile_rows_load_verbatim_and_read_back_exactly(path: Path_) -> None:
    source = read_range(path.data_cloud, None, None)
    assert source.num_rows == len(HOSTILE_IDS)
    mapped = pa.table(
        {
            "External_Id__c": source[schema.EXTERNAL_ID],
            "Name": source["ssot__Name__c"],
            "StageName": ["Prospecting"] * source.num_rows,
            "CloseDate": ["2025-01-31"] * source.num_rows,
        }
    )
    report = path.salesforce.upsert(mapped.to_batches(max_chunksize=7), SPEC)
    # Salesforce reads a "#N/A" field as null, quoted or not: on the required Name that is a
    # row error, exactly what the org would answer. Everything else lands verbatim.
    source_of = dict(zip(HOSTILE_IDS, HOSTILE_VALUES, strict=True))
    null_token_ids = {i for i, v in source_of.items() if v == "#N/A"}
    rejected = {r["external_id"]: r["error_code"] for r in report.rejected.to_pylist()}
    assert rejected == dict.fromkeys(null_token_ids, "REQUIRED_FIELD_MISSING")
    assert report.created == len(HOSTILE_IDS) - len(null_token_ids)
    assert report.balanced

    read_back: dict[str, str] = {}
    for batch in path.salesforce.bulk_query("SELECT External_Id__c, Name FROM Opportunity"):
        read_back.update(
            zip(batch["External_Id__c"].to_pylist(), batch["Name"].to_pylist(), strict=True)
        )
    assert read_back == {i: v for i, v in source_of.items() if i not in null_token_ids}

    again = path.salesforce.upsert(mapped.to_batches(), SPEC)  # idempotent: updates, no new rows
    assert again.updated == len(read_back) and again.created == 0


def test_exact_soql_match_finds_only_the_one_hostile_id(path: Path_) -> None:
    if path.salesforce.client.count("SELECT COUNT() FROM Opportunity") == 0:
        test_hostile_rows_load_verbatim_and_read_back_exactly(path)  # run alone (-k): load first
    client = path.salesforce.client
    total = client.count("SELECT COUNT() FROM Opportunity")
    loaded = [i for i, v in zip(HOSTILE_IDS, HOSTILE_VALUES, strict=True) if v != "#N/A"]
    assert total == len(loaded)
    for external_id in loaded:
        literal = quote_string(external_id)
        soql = f"SELECT External_Id__c FROM Opportunity WHERE External_Id__c = {literal}"  # noqa: S608
        records = list(client.query_all(soql))
        assert [r["External_Id__c"] for r in records] == [external_id], external_id


def test_nul_never_reaches_a_soql_literal() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_string("a\x00' OR '1'='1")
