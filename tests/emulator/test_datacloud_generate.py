"""The Data Cloud generator: deterministic, valid for every mapped column, lumpy ExternalIds."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from emulator.core.schema import STAGES
from emulator.datacloud.generate import (
    FIRST_CLOSE_DAY,
    LAST_CLOSE_DAY,
    PROFILES,
    STAGE_FORECAST,
    column_types,
    generate_table,
)
from emulator.datacloud.schema import COLUMN_NAMES

pytestmark = pytest.mark.unit

N = 20_000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return generate_table(N, seed=11)


def column(table: pa.Table, name: str) -> list:  # type: ignore[type-arg]
    return table.column(name).to_pylist()


def test_same_seed_same_table_other_seed_other_table(table: pa.Table) -> None:
    assert generate_table(N, seed=11).equals(table)
    assert not generate_table(N, seed=12).equals(table)


def test_columns_and_types_follow_the_dmo_schema(table: pa.Table) -> None:
    assert tuple(table.column_names) == COLUMN_NAMES
    types = {
        f.name: f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        for f in table.schema
    }
    assert types == column_types()
    assert table.num_rows == N


def test_keys_are_unique_and_never_blank(table: pa.Table) -> None:
    for name in ("ExternalId__c", "ssot__Id__c"):
        values = column(table, name)
        assert len(set(values)) == N
        assert all(v and v.strip() == v for v in values)


def test_external_ids_are_lumpy_not_uniform(table: pa.Table) -> None:
    ids = column(table, "ExternalId__c")
    prefixes = Counter(re.match(r"[A-Za-z.]+[-_]", i).group(0) for i in ids)  # type: ignore[union-attr]
    assert set(prefixes) == {"SAP-", "CRM-", "HUB_", "ws-", "ACQ.EU-"}
    assert prefixes["SAP-"] > 5 * prefixes["ACQ.EU-"]
    assert len({len(i) for i in ids if i.startswith("CRM-")}) >= 4  # unpadded numbers
    crm = sorted(int(i[4:]) for i in ids if i.startswith("CRM-"))
    gaps = [b - a for a, b in itertools.pairwise(crm)]
    assert min(gaps) >= 1 and sorted(gaps)[len(gaps) // 2] <= 3  # dense runs
    assert max(gaps) >= 1_000  # and long jumps
    assert sorted(ids) != ids  # physical order is shuffled


def test_mapped_values_are_valid(table: pa.Table) -> None:
    stages = column(table, "ssot__OpportunityStageId__c")
    assert set(stages) <= set(STAGES) and len(set(stages)) == len(STAGES)
    forecast = column(table, "ssot__OpportunityForecastCategoryId__c")
    assert all(STAGE_FORECAST[s] == f for s, f in zip(stages, forecast, strict=True))
    probability = pc.min_max(table.column("ssot__Probability__c")).as_py()
    assert probability["min"] >= 0 and probability["max"] <= 100
    amounts = column(table, "ssot__TotalAmount__c")
    assert all(a > 0 and a == round(a, 2) for a in amounts)
    assert set(column(table, "ssot__IsPrivate__c")) == {"true", "false"}
    assert all(1 <= q <= 500 for q in column(table, "ssot__TotalProductQuantity__c"))
    assert all(0 < len(n) <= 120 for n in column(table, "ssot__Name__c"))
    day = 86_400_000_000
    close = pc.cast(table.column("ssot__CloseDate__c"), pa.timestamp("us")).cast(pa.int64())
    assert all(c % day == 0 for c in close.to_pylist())  # a date, at midnight UTC
    assert FIRST_CLOSE_DAY * day <= pc.min(close).as_py() <= pc.max(close).as_py()
    assert pc.max(close).as_py() <= LAST_CLOSE_DAY * day
    created = table.column("ssot__CreatedDate__c")
    modified = table.column("ssot__LastModifiedDate__c")
    assert pc.all(pc.less_equal(created, modified)).as_py()


def test_optional_columns_have_some_nulls_and_some_values(table: pa.Table) -> None:
    for name in ("ssot__Description__c", "ssot__NextStep__c", "ssot__LeadSourceId__c"):
        nulls = table.column(name).null_count
        assert 0 < nulls < N


def test_profiles_are_a_registry_a_later_profile_can_join() -> None:
    assert "clean" in PROFILES
    with pytest.raises(KeyError):
        generate_table(10, seed=1, profile="no-such-profile")
