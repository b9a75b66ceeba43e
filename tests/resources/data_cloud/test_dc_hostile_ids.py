"""Hostile ExternalIds through the real quoting and the emulator: a range query returns EXACTLY the
rows whose id is in the range by code-point order (Python ``str`` order = DuckDB byte-wise UTF-8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dc_helpers import connect, replace_ids, sf_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudClient
from resources.salesforce import SalesforceClient

pytestmark = pytest.mark.emulator

HOSTILE = [
    "",
    " ",
    "'",
    "''",
    "O'Brien",
    "\\",
    "\\'",
    "a\\",
    "' OR 1=1 --",
    "x'; DROP TABLE t; --",
    "/*",
    "*/",
    "--",
    ";",
    '"',
    "%",
    "_",
    "\n",
    "\t",
    "é",
    "E\u0301",
    "😀",
    "𝔘",
    "\U0010ffff",
    "\u202e",
    "E'\\x41'",
    "OPP-1",
    "OPP-10",
    "OPP-2",
    "opp-1",
]
ids_strategy = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=12,
    ),
)


@pytest.fixture(scope="module")
def hostile_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        data_dir=Path(tmp_path_factory.mktemp("dc-hostile")), datacloud_page_rows=7
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def hostile_dc(hostile_emulator: EmulatorServer) -> Iterator[DataCloudClient]:
    with (
        SalesforceClient(sf_config(hostile_emulator)) as sf,
        connect(hostile_emulator, sf) as client,
    ):
        yield client


def in_range(i: str | None, lo: str | None, hi: str | None, after: str | None) -> bool:
    if i is None:  # NULL keys sort first and belong to the range unbounded below
        return lo is None and after is None
    return (lo is None or lo <= i) and (hi is None or i < hi) and (after is None or i > after)


def ordered(ids: list[str | None]) -> list[str | None]:
    return sorted(ids, key=lambda i: (i is not None, i or ""))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(ids_strategy, max_size=20),
    bounds=st.lists(st.one_of(st.none(), ids_strategy), min_size=3, max_size=3),
    arrow=st.booleans(),
)
def test_range_query_returns_exactly_the_ids_in_range(
    hostile_emulator: EmulatorServer,
    hostile_dc: DataCloudClient,
    ids: list[str],
    bounds: list[str | None],
    arrow: bool,
) -> None:
    lo, hi, after = bounds
    if lo is not None and hi is not None and not lo < hi:
        lo, hi = (hi, lo) if hi < lo else (lo, None)
    table_ids: list[str | None] = [*HOSTILE, *ids, None]
    replace_ids(hostile_emulator, table_ids)
    got = hostile_dc.ids(lo, hi, after=after, arrow=arrow).read_all().column(0).to_pylist()
    assert got == ordered([i for i in table_ids if in_range(i, lo, hi, after)])


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(boundaries=st.lists(ids_strategy, max_size=5, unique=True))
def test_count_ranges_agree_with_code_point_order(
    hostile_emulator: EmulatorServer, hostile_dc: DataCloudClient, boundaries: list[str]
) -> None:
    boundaries = sorted(boundaries)
    table_ids: list[str | None] = [*HOSTILE, None]
    replace_ids(hostile_emulator, table_ids)
    edges: list[str | None] = [None, *boundaries, None]
    expected = [
        sum(1 for i in table_ids if in_range(i, edges[b], edges[b + 1], None))
        for b in range(len(boundaries) + 1)
    ]
    assert hostile_dc.count_ranges(boundaries) == expected
