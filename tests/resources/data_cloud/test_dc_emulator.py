"""Every client operation against the emulator over real HTTPS, checked against its DuckDB table."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa
import pytest
from dc_helpers import PAGE_ROWS, RECORDS, connect, tenant_db

from emulator.server import EmulatorServer
from emulator.tokens import TokenKind
from resources.data_cloud import DataCloudClient, DataCloudQueryError
from resources.salesforce import SalesforceClient

pytestmark = pytest.mark.emulator

TABLE = '"ssot__Opportunity__dlm"'
KEY = '"ExternalId__c"'


def truth(server: EmulatorServer, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with tenant_db(server) as cur:
        return cur.execute(sql, params or []).fetchall()


def all_ids(server: EmulatorServer) -> list[str]:
    rows = truth(server, f"SELECT {KEY} FROM {TABLE}")  # noqa: S608
    return sorted(r[0] for r in rows if r[0] is not None)


def endpoint_calls(server: EmulatorServer, method: str, prefix: str) -> int:
    log = server.emulator.stats.request_log()
    return sum(1 for r in log if r["method"] == method and r["path"].startswith(prefix))


def test_key_stats_match_the_table(paged_emulator: EmulatorServer, dc: DataCloudClient) -> None:
    stats = dc.key_stats()
    ((n, keys, lo, hi),) = truth(
        paged_emulator,
        f"SELECT COUNT(*), COUNT({KEY}), MIN({KEY}), MAX({KEY}) FROM {TABLE}",  # noqa: S608
    )
    assert (stats.row_count, stats.key_count, stats.min_key, stats.max_key) == (n, keys, lo, hi)
    assert stats.row_count == RECORDS


def test_quantiles_are_percentile_disc_of_the_key(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    fractions = [0.1, 0.25, 0.5, 0.9]
    got = dc.quantile_boundaries(fractions)
    ids = all_ids(paged_emulator)
    # percentile_disc(f): the first value whose cumulative share reaches f.
    expected = [ids[max(0, -(-int(f * len(ids) * 1000) // 1000) - 1)] for f in fractions]
    assert got == expected
    assert got == sorted(got)


def test_a_hundred_quantiles_equal_the_engines_percentile_disc(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    fractions = [j / 100 for j in range(1, 100)]
    got = dc.quantile_boundaries(fractions)
    selected = ", ".join(
        f"percentile_disc({f}) WITHIN GROUP (ORDER BY {KEY})" for f in (0.01, 0.37, 0.5, 0.99)
    )
    (expected,) = truth(paged_emulator, f"SELECT {selected} FROM {TABLE}")  # noqa: S608
    assert [got[0], got[36], got[49], got[98]] == list(expected)
    assert got == sorted(got)


def test_count_ranges_counts_every_row_once(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    boundaries = [b for b in dc.quantile_boundaries([0.2, 0.4, 0.6, 0.8]) if b is not None]
    counts = dc.count_ranges(boundaries)
    ids = all_ids(paged_emulator)
    edges: list[str | None] = [None, *boundaries, None]
    expected = [
        sum(1 for i in ids if (lo is None or lo <= i) and (hi is None or i < hi))
        for lo, hi in itertools.pairwise(edges)
    ]
    assert counts == expected
    assert sum(counts) == RECORDS


def test_rows_of_adjacent_ranges_tile_the_table_in_key_order(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    boundaries = dc.quantile_boundaries([0.3, 0.6])
    edges: list[str | None] = [None, *boundaries, None]
    seen: list[str] = []
    for lo, hi in itertools.pairwise(edges):
        part = dc.ids(lo, hi).read_all().column(0).to_pylist()
        assert part == sorted(part)
        assert all((lo is None or lo <= i) and (hi is None or i < hi) for i in part)
        seen += part
    assert seen == all_ids(paged_emulator)


def test_keyset_resumption_returns_exactly_the_rest(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    ids = all_ids(paged_emulator)
    after = ids[1234]
    rest = dc.ids(None, None, after=after).read_all().column(0).to_pylist()
    assert rest == ids[1235:]


def test_rows_are_paged_and_streamed_not_loaded_whole(
    paged_emulator: EmulatorServer, dc: DataCloudClient
) -> None:
    posts_before = endpoint_calls(paged_emulator, "POST", "/api/v2/query")
    gets_before = endpoint_calls(paged_emulator, "GET", "/api/v2/query/")
    reader = dc.rows(None, None)
    assert isinstance(reader, pa.RecordBatchReader)
    first = reader.read_next_batch()
    assert 0 < first.num_rows <= PAGE_ROWS
    # Only the first page has been fetched so far.
    assert endpoint_calls(paged_emulator, "POST", "/api/v2/query") == posts_before + 1
    assert endpoint_calls(paged_emulator, "GET", "/api/v2/query/") == gets_before
    rest = [b.num_rows for b in reader]
    assert first.num_rows + sum(rest) == RECORDS
    assert max(rest) <= PAGE_ROWS
    assert endpoint_calls(paged_emulator, "GET", "/api/v2/query/") - gets_before >= 3


def test_arrow_and_json_pages_give_identical_tables(dc: DataCloudClient) -> None:
    via_arrow = dc.rows(None, None, arrow=True).read_all()
    via_json = dc.rows(None, None, arrow=False).read_all()
    assert via_arrow.num_rows == RECORDS
    assert via_arrow.schema.equals(via_json.schema)
    assert via_arrow.equals(via_json)
    assert pa.types.is_decimal(via_arrow.schema.field("ssot__TotalAmount__c").type)
    assert via_arrow.schema.field("ssot__CloseDate__c").type == pa.timestamp("us", tz="UTC")


def test_selected_columns_come_back_in_the_order_asked(dc: DataCloudClient) -> None:
    columns = ["ssot__Name__c", "ExternalId__c", "ssot__TotalAmount__c"]
    table = dc.rows(None, None, columns=columns).read_all()
    assert table.column_names == columns


def test_token_expiry_mid_stream_is_renewed_and_no_row_is_lost(
    paged_emulator: EmulatorServer, sf_login: SalesforceClient
) -> None:
    with connect(paged_emulator, sf_login) as dc:
        reader = dc.ids(None, None)
        got = reader.read_next_batch().column(0).to_pylist()
        assert paged_emulator.emulator.tokens.expire_all(TokenKind.DATACLOUD) >= 1
        for batch in reader:
            got += batch.column(0).to_pylist()
        assert dc.auth.exchanges == 2
    assert got == all_ids(paged_emulator)


def test_expired_core_token_is_refreshed_for_the_exchange(
    paged_emulator: EmulatorServer, sf_login: SalesforceClient
) -> None:
    sf_login.access_token()
    paged_emulator.emulator.tokens.expire_all(TokenKind.CORE)
    with connect(paged_emulator, sf_login) as dc:
        assert dc.key_stats().row_count == RECORDS


def test_bad_sql_is_a_typed_error(dc: DataCloudClient) -> None:
    with pytest.raises(DataCloudQueryError):
        dc.query_arrow(f"SELECT no_such_column FROM {TABLE}")  # noqa: S608


def test_empty_result_keeps_its_schema(dc: DataCloudClient) -> None:
    table = dc.rows("\U0010ffff", None, columns=["ExternalId__c"]).read_all()
    assert table.num_rows == 0
    assert table.column_names == ["ExternalId__c"]
