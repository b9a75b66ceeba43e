# ruff: noqa: S608 - these tests send hand-written SQL to the emulator on purpose
"""The Data Cloud tenant over real HTTPS: token exchange, Query API V2 pages, metadata."""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import requests

from emulator.config import EmulatorConfig
from emulator.datacloud.generate import generate_table
from emulator.datacloud.handlers import backend_of
from emulator.server import EmulatorServer
from emulator.tokens import TokenKind

pytestmark = pytest.mark.emulator

RECORDS = 230
SEED = 7
PAGE_ROWS = 50
TABLE = '"ssot__Opportunity__dlm"'
EXCHANGE = "/services/a360/token"
EXCHANGE_PARAMS = {
    "grant_type": "urn:salesforce:grant-type:external:cdp",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
}
QUERY_ID = re.compile(r"^\d{8}_\d{6}_\d{5}_[a-z0-9]{5}$")
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        data_dir=tmp_path_factory.mktemp("datacloud"),
        records=RECORDS,
        seed=SEED,
        datacloud_page_rows=PAGE_ROWS,
        datacloud_token_lifetime_s=900.0,
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    """What the tenant holds, straight from the generator (independent of DuckDB)."""
    rows: list[dict[str, Any]] = generate_table(RECORDS, SEED).to_pylist()
    return rows


@pytest.fixture(scope="module")
def sorted_ids(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(r["ExternalId__c"] for r in rows)  # Python orders str by code point


@pytest.fixture(scope="module")
def web(tenant: EmulatorServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
        session.verify = str(tenant.ca_bundle)
        yield session


def core_token(server: EmulatorServer, lifetime: float = 600.0) -> str:
    config = server.config
    return server.emulator.tokens.issue(
        TokenKind.CORE, config.username, config.client_id, lifetime
    ).value


def exchange(server: EmulatorServer, web: requests.Session, **params: str) -> requests.Response:
    merged = {**EXCHANGE_PARAMS, "subject_token": core_token(server), **params}
    return web.post(server.url + EXCHANGE, params=merged, timeout=30)


class Tenant:
    """Raw Query API calls with a Data Cloud token from the exchange."""

    def __init__(self, server: EmulatorServer, web: requests.Session) -> None:
        response = exchange(server, web)
        assert response.status_code == 200, response.text
        body = response.json()
        self.base = "https://" + body["instance_url"]
        self.web = web
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    def post(self, sql: str, arrow: bool = False) -> requests.Response:
        return self.web.post(
            self.base + "/api/v2/query",
            json={"sql": sql},
            headers=self._headers(arrow),
            timeout=30,
        )

    def get(self, batch_id: str, arrow: bool = False) -> requests.Response:
        return self.web.get(
            f"{self.base}/api/v2/query/{batch_id}", headers=self._headers(arrow), timeout=30
        )

    def pages(self, sql: str, arrow: bool = False) -> list[dict[str, Any]]:
        response = self.post(sql, arrow)
        assert response.status_code == 200, response.text
        pages = [response.json()]
        while not pages[-1]["done"]:
            response = self.get(pages[-1]["nextBatchId"], arrow)
            assert response.status_code == 200, response.text
            pages.append(response.json())
        return pages

    def rows(self, sql: str) -> list[list[Any]]:
        return [row for page in self.pages(sql) for row in page["data"]]

    def _headers(self, arrow: bool) -> dict[str, str]:
        return {**self.headers, "enable-arrow-stream": "true"} if arrow else self.headers


@pytest.fixture
def dc(tenant: EmulatorServer, web: requests.Session) -> Tenant:
    return Tenant(tenant, web)


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


def timestamp_text(value: dt.datetime) -> str:
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


# ---------------------------------------------------------------------------------- exchange


def test_exchange_returns_the_tenant_as_a_bare_host_with_a_configured_lifetime(
    tenant: EmulatorServer, web: requests.Session
) -> None:
    response = exchange(tenant, web)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "token_type",
        "issued_token_type",
        "expires_in",
    }
    assert body["instance_url"] == tenant.url.removeprefix("https://")
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert body["expires_in"] == 900 and isinstance(body["expires_in"], int)
    live = tenant.emulator.tokens.lookup(body["access_token"], TokenKind.DATACLOUD)
    assert live is not None and live.username == tenant.config.username


def test_exchange_accepts_a_form_body_and_the_default_dataspace(
    tenant: EmulatorServer, web: requests.Session
) -> None:
    form = {**EXCHANGE_PARAMS, "subject_token": core_token(tenant), "dataspace": "default"}
    response = web.post(tenant.url + EXCHANGE, data=form, timeout=30)

    assert response.status_code == 200
    assert response.json()["access_token"].startswith("eyJ")


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "unsupported_grant_type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, 400, "invalid_request"),
        ({"subject_token": ""}, 400, "invalid_request"),
        ({"dataspace": "marketing"}, 400, "invalid_request"),
        ({"subject_token": "00DEM0000000001EAA!AQnot-a-live-token"}, 401, "invalid_grant"),
    ],
)
def test_exchange_errors_are_oauth_shaped(
    tenant: EmulatorServer,
    web: requests.Session,
    params: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = exchange(tenant, web, **params)

    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error


def test_exchange_refuses_an_expired_core_token_and_a_data_cloud_token(
    tenant: EmulatorServer, web: requests.Session
) -> None:
    expired = core_token(tenant, lifetime=-1.0)
    dc_token = exchange(tenant, web).json()["access_token"]

    for subject in (expired, dc_token):
        response = exchange(tenant, web, subject_token=subject)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_grant"


def test_query_endpoints_refuse_core_and_expired_tokens(
    tenant: EmulatorServer, web: requests.Session
) -> None:
    config = tenant.config
    expired = tenant.emulator.tokens.issue(
        TokenKind.DATACLOUD, config.username, config.client_id, -1.0
    ).value
    for token in (expired, core_token(tenant)):
        response = web.post(
            tenant.url + "/api/v2/query",
            json={"sql": f"SELECT 1 FROM {TABLE}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_token",
            "message": "Access token is missing, invalid or expired",
        }


# ---------------------------------------------------------------------------------- pages


def test_a_single_page_has_the_exact_v2_shape(
    dc: Tenant, rows: list[dict[str, Any]], sorted_ids: list[str]
) -> None:
    wanted = sorted_ids[:3]
    by_id = {r["ExternalId__c"]: r for r in rows}
    response = dc.post(
        'SELECT "ExternalId__c", "ssot__TotalAmount__c", "ssot__CloseDate__c", '
        f'"ssot__PartnerAccountId__c" FROM {TABLE} '
        f'WHERE "ExternalId__c" <= \'{wanted[-1]}\' ORDER BY "ExternalId__c"'
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == [
        "data",
        "startTime",
        "endTime",
        "rowCount",
        "queryId",
        "nextBatchId",
        "done",
        "metadata",
    ]
    assert body["data"] == [
        [
            i,
            decimal_text(by_id[i]["ssot__TotalAmount__c"]),
            timestamp_text(by_id[i]["ssot__CloseDate__c"]),
            by_id[i]["ssot__PartnerAccountId__c"],
        ]
        for i in wanted
    ]
    assert body["rowCount"] == 3
    assert body["done"] is True
    assert body["nextBatchId"] is None
    assert QUERY_ID.match(body["queryId"])
    assert UTC_STAMP.match(body["startTime"]) and UTC_STAMP.match(body["endTime"])
    assert body["startTime"] <= body["endTime"]
    assert body["metadata"] == {
        "ExternalId__c": {"type": "VARCHAR", "placeInOrder": 0, "typeCode": 12},
        "ssot__TotalAmount__c": {"type": "DECIMAL", "placeInOrder": 1, "typeCode": 3},
        "ssot__CloseDate__c": {
            "type": "TIMESTAMP WITH TIME ZONE",
            "placeInOrder": 2,
            "typeCode": 93,
        },
        "ssot__PartnerAccountId__c": {"type": "VARCHAR", "placeInOrder": 3, "typeCode": 12},
    }


def test_decimals_keep_18_digits_and_timestamps_render_with_milliseconds(dc: Tenant) -> None:
    row = dc.rows(
        'SELECT "ssot__Probability__c", "ssot__CreatedDate__c" '
        f"FROM {TABLE} WHERE \"ssot__OpportunityStageId__c\" = 'Closed Lost' LIMIT 1"
    )[0]

    assert row[0] == "0.000000000000000000"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", row[1])


def test_aggregates_are_json_numbers_and_plain_values_strings(
    dc: Tenant, rows: list[dict[str, Any]], sorted_ids: list[str]
) -> None:
    total = sum(r["ssot__TotalAmount__c"] for r in rows)
    body = dc.pages(
        'SELECT MIN("ExternalId__c") AS lo, MAX("ExternalId__c") AS hi, COUNT(*) AS n, '
        f'SUM("ssot__TotalAmount__c") AS total FROM {TABLE}'
    )[0]

    assert body["data"] == [[sorted_ids[0], sorted_ids[-1], RECORDS, float(total)]]
    assert Decimal(str(body["data"][0][3])) == total
    assert body["metadata"]["n"] == {"type": "BIGINT", "placeInOrder": 2, "typeCode": -5}
    assert body["metadata"]["total"]["type"] == "DECIMAL"


def test_percentile_disc_picks_actual_ids_in_code_point_order(
    dc: Tenant, sorted_ids: list[str]
) -> None:
    fractions = (0.1, 0.5, 0.9)
    columns = ", ".join(
        f'percentile_disc({f}) WITHIN GROUP (ORDER BY "ExternalId__c") AS p{i}'
        for i, f in enumerate(fractions)
    )
    data = dc.rows(f"SELECT {columns} FROM {TABLE}")

    expected = [sorted_ids[math.ceil(f * RECORDS) - 1] for f in fractions]
    assert data == [expected]


def test_ntile_boundaries_tile_the_sorted_ids(dc: Tenant, sorted_ids: list[str]) -> None:
    data = dc.rows(
        'SELECT b, MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM (SELECT "ExternalId__c" AS id, '
        f'NTILE(4) OVER (ORDER BY "ExternalId__c") AS b FROM {TABLE}) t GROUP BY b ORDER BY b'
    )

    sizes = [RECORDS // 4 + (1 if i < RECORDS % 4 else 0) for i in range(4)]
    starts = [sum(sizes[:i]) for i in range(4)]
    assert data == [
        [str(i + 1), sorted_ids[start], sorted_ids[start + size - 1], size]
        for i, (start, size) in enumerate(zip(starts, sizes, strict=True))
    ]


def test_range_predicates_and_order_match_python_code_point_order(
    dc: Tenant, sorted_ids: list[str]
) -> None:
    lo, hi = "CRM-2", "ws-"
    data = dc.rows(
        f'SELECT "ExternalId__c" FROM {TABLE} WHERE "ExternalId__c" >= \'{lo}\' '
        f'AND "ExternalId__c" < \'{hi}\' ORDER BY "ExternalId__c"'
    )

    expected = [i for i in sorted_ids if lo <= i < hi]
    assert [r[0] for r in data] == expected
    assert any(i.startswith("CRM-2") for i in expected) and any(
        i.startswith("SAP") for i in expected
    )


def test_paging_walks_several_batches_with_single_use_ids(
    dc: Tenant, sorted_ids: list[str]
) -> None:
    pages = dc.pages(f'SELECT "ExternalId__c" FROM {TABLE} ORDER BY "ExternalId__c"')

    assert [p["rowCount"] for p in pages] == [50, 50, 50, 50, 30]
    assert [len(p["data"]) for p in pages] == [50, 50, 50, 50, 30]
    assert [p["done"] for p in pages] == [False] * 4 + [True]
    assert [r[0] for p in pages for r in p["data"]] == sorted_ids
    batch_ids = [p["nextBatchId"] for p in pages[:-1]]
    assert len(set(batch_ids)) == 4 and all(len(b) > 40 for b in batch_ids)
    assert len({p["queryId"] for p in pages}) == 1

    reused = dc.get(batch_ids[0])
    assert reused.status_code == 404
    assert set(reused.json()) == {"error", "message"}


def test_unknown_batch_id_is_404_json(dc: Tenant) -> None:
    response = dc.get("20240508_133031_00088_p25a7_09151b49-54ed-4948-8139-1f4c7c3a9581_1")

    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_an_empty_result_is_one_done_page(dc: Tenant) -> None:
    body = dc.pages(f'SELECT "ExternalId__c" FROM {TABLE} WHERE "ExternalId__c" = \'nope\'')

    assert len(body) == 1
    assert body[0]["data"] == [] and body[0]["rowCount"] == 0 and body[0]["done"] is True
    assert body[0]["metadata"] == {
        "ExternalId__c": {"type": "VARCHAR", "placeInOrder": 0, "typeCode": 12}
    }


def test_arrow_pages_decode_to_the_same_rows_as_json_pages(dc: Tenant) -> None:
    sql = (
        'SELECT "ExternalId__c", "ssot__TotalAmount__c", "ssot__CloseDate__c", '
        f'"ssot__NextStep__c" FROM {TABLE} ORDER BY "ExternalId__c"'
    )
    json_pages = dc.pages(sql)
    arrow_pages = dc.pages(sql, arrow=True)

    assert len(arrow_pages) == len(json_pages) == 5
    assert all("data" not in p and isinstance(p["arrowStream"], str) for p in arrow_pages)
    assert [p["metadata"] for p in arrow_pages] == [p["metadata"] for p in json_pages]
    tables = [
        pa.ipc.open_stream(base64.b64decode(p["arrowStream"])).read_all() for p in arrow_pages
    ]
    assert [t.num_rows for t in tables] == [p["rowCount"] for p in arrow_pages]
    table = pa.concat_tables(tables)
    assert table.schema.field("ssot__TotalAmount__c").type == pa.decimal128(38, 18)
    assert str(table.schema.field("ssot__CloseDate__c").type) == "timestamp[us, tz=UTC]"
    from_arrow = [
        [r[0], decimal_text(r[1]), timestamp_text(r[2]), r[3]]
        for r in zip(*(c.to_pylist() for c in table.columns), strict=True)
    ]
    assert from_arrow == [row for p in json_pages for row in p["data"]]


def test_json_strings_are_escaped(dc: Tenant) -> None:
    data = dc.rows(
        f'SELECT "ExternalId__c" || \'"\\\n\u00e9\' AS odd FROM {TABLE} '
        'ORDER BY "ExternalId__c" LIMIT 1'
    )

    assert data[0][0].endswith('"\\\n\u00e9')


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "sql",
    [
        f"INSERT INTO {TABLE} (\"ExternalId__c\") VALUES ('x')",
        f"DELETE FROM {TABLE}",
        f"DROP TABLE {TABLE}",
        f"UPDATE {TABLE} SET \"ssot__Name__c\" = 'x'",
        f"COPY {TABLE} TO 'stolen.csv'",
        "PRAGMA database_list",
        "ATTACH 'other.duckdb' AS other",
        "SET memory_limit = '1TB'",
        "CALL checkpoint()",
        f"CREATE TABLE t AS SELECT * FROM {TABLE}",
        f"SELECT 1 FROM {TABLE}; DROP TABLE {TABLE}",
        f"SELECT 1 FROM {TABLE}; SELECT 2",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT FROM WHERE",
        'SELECT * FROM "Opportunity"',
        "",
    ],
)
def test_anything_but_one_read_only_select_is_refused(
    dc: Tenant, tenant: EmulatorServer, sql: str
) -> None:
    response = dc.post(sql)

    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert backend_of(tenant.emulator).row_count() == RECORDS


def test_a_body_without_sql_is_400(dc: Tenant) -> None:
    response = dc.web.post(
        dc.base + "/api/v2/query", data=b"not json", headers=dc.headers, timeout=30
    )

    assert response.status_code == 400
    assert "message" in response.json()


# ---------------------------------------------------------------------------------- metadata


def test_metadata_describes_the_opportunity_dmo(dc: Tenant) -> None:
    response = dc.web.get(dc.base + "/api/v1/metadata", headers=dc.headers, timeout=30)

    assert response.status_code == 200
    (entity,) = response.json()["metadata"]
    assert entity["name"] == "ssot__Opportunity__dlm"
    fields = {f["name"]: f for f in entity["fields"]}
    assert fields["ExternalId__c"] == {
        "name": "ExternalId__c",
        "displayName": "External Id",
        "type": "STRING",
    }
    assert fields["ssot__TotalAmount__c"]["type"] == "NUMBER"
    assert fields["ssot__CloseDate__c"]["type"] == "DATE_TIME"
    assert entity["primaryKeys"] == [
        {"name": "ssot__Id__c", "displayName": "Opportunity Id", "indexOrder": "1"}
    ]


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"entityName": "ssot__Opportunity__dlm"}, 1),
        ({"entityType": "DataModelObject", "entityCategory": "Other"}, 1),
        ({"entityName": "ssot__Account__dlm"}, 0),
        ({"entityType": "CalculatedInsight"}, 0),
        ({"entityCategory": "Profile"}, 0),
    ],
)
def test_metadata_filters(dc: Tenant, params: dict[str, str], found: int) -> None:
    response = dc.web.get(
        dc.base + "/api/v1/metadata", params=params, headers=dc.headers, timeout=30
    )

    assert response.status_code == 200
    assert len(response.json()["metadata"]) == found


def test_concurrent_readers_each_get_their_whole_result(
    tenant: EmulatorServer, sorted_ids: list[str]
) -> None:
    def read(order: str) -> list[str]:
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(tenant.ca_bundle)
            reader = Tenant(tenant, session)
            data = reader.rows(f'SELECT "ExternalId__c" FROM {TABLE} ORDER BY 1 {order}')
            return [r[0] for r in data]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read, ["ASC", "DESC", "ASC", "DESC"]))

    assert results == [sorted_ids, sorted_ids[::-1]] * 2
