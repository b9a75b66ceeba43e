"""Field mapping: Data Cloud Opportunity columns -> Salesforce fields, vectorised; unmappable rows split off."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from assets.mapping import (
    MESSAGE_COLUMN,
    OPPORTUNITY_MAPPING,
    REASON_COLUMN,
    ValueProblem,
    map_batch,
)

pytestmark = pytest.mark.unit

DEC = pa.decimal128(38, 18)
UTC_TS = pa.timestamp("us", tz="UTC")


def source_batch(rows: int = 3, **overrides: pa.Array) -> pa.RecordBatch:
    """A Data Cloud page as the resources return it (numbers DECIMAL(38,18), timestamps UTC)."""
    base = {
        "ExternalId__c": pa.array([f"OPP-{i}" for i in range(rows)]),
        "ssot__Name__c": pa.array([f"Deal {i}" for i in range(rows)]),
        "ssot__OpportunityStageId__c": pa.array(["Prospecting"] * rows),
        "ssot__CloseDate__c": pa.array(
            [dt.datetime(2025, 3, 31, 23, 30, tzinfo=dt.UTC)] * rows, UTC_TS
        ),
        "ssot__TotalAmount__c": pa.array([Decimal("1234.565")] * rows, DEC),
        "ssot__Probability__c": pa.array([Decimal("10")] * rows, DEC),
        "ssot__TotalProductQuantity__c": pa.array([Decimal("2.5")] * rows, DEC),
        "ssot__OpportunityTypeId__c": pa.array(["New Customer"] * rows),
        "ssot__LeadSourceId__c": pa.array(["Web"] * rows),
        "ssot__OpportunityForecastCategoryId__c": pa.array(["Pipeline"] * rows),
        "ssot__NextStep__c": pa.array([None] * rows, pa.string()),
        "ssot__Description__c": pa.array(['said "hi",\nthen left'] * rows),
        "ssot__IsPrivate__c": pa.array(["false"] * rows),
    }
    base.update(overrides)
    return pa.RecordBatch.from_pydict(base)


def test_mapping_as_data() -> None:
    m = OPPORTUNITY_MAPPING
    assert (m.source_object, m.key_column) == ("ssot__Opportunity__dlm", "ExternalId__c")
    assert (m.target_object, m.external_id_field, m.operation) == (
        "Opportunity",
        "External_Id__c",
        "upsert",
    )
    assert m.source_columns[0] == m.key_column
    assert len(m.source_columns) == len(set(m.source_columns)) == 13
    assert m.target_fields[0] == m.external_id_field


def test_clean_rows_map_to_salesforce_names_and_types() -> None:
    mapped, unmappable = map_batch(source_batch())
    assert unmappable.num_rows == 0
    assert mapped.schema.names == OPPORTUNITY_MAPPING.target_fields
    row = mapped.to_pylist()[0]
    assert row == {
        "External_Id__c": "OPP-0",
        "Name": "Deal 0",
        "StageName": "Prospecting",
        "CloseDate": dt.date(2025, 3, 31),
        "Amount": Decimal("1234.57"),  # half away from zero
        "Probability": Decimal("10"),
        "TotalOpportunityQuantity": Decimal("2.50"),
        "Type": "New Customer",
        "LeadSource": "Web",
        "ForecastCategoryName": "Pipeline",
        "NextStep": None,
        "Description": 'said "hi",\nthen left',
        "IsPrivate": False,
    }
    assert mapped.schema.field("Amount").type == pa.decimal128(18, 2)
    assert mapped.schema.field("CloseDate").type == pa.date32()
    assert mapped.schema.field("IsPrivate").type == pa.bool_()


def test_close_date_is_the_utc_calendar_date() -> None:
    ny = pa.timestamp("ms", tz="America/New_York")
    instant = dt.datetime(2025, 3, 31, 23, 30, tzinfo=dt.UTC)  # 19:30 in New York
    late = dt.datetime(2025, 4, 1, 2, 0, tzinfo=dt.UTC)  # still March 31 in New York
    batch = source_batch(2, ssot__CloseDate__c=pa.array([instant, late], ny))
    mapped, _ = map_batch(batch)
    assert mapped.column("CloseDate").to_pylist() == [dt.date(2025, 3, 31), dt.date(2025, 4, 1)]


def test_is_private_text() -> None:
    batch = source_batch(5, ssot__IsPrivate__c=pa.array(["true", " FALSE ", None, "maybe", ""]))
    mapped, unmappable = map_batch(batch)
    assert mapped.column("IsPrivate").to_pylist() == [True, False, None]
    assert unmappable.column("ExternalId__c").to_pylist() == ["OPP-3", "OPP-4"]
    assert set(unmappable.column(REASON_COLUMN).to_pylist()) == {ValueProblem.NOT_A_BOOLEAN}
    assert unmappable.column(MESSAGE_COLUMN)[0].as_py() == (
        "ssot__IsPrivate__c value 'maybe' is not true or false"
    )


def test_amount_that_does_not_fit_currency_16_2_is_quarantined() -> None:
    amounts = [
        Decimal("9999999999999999.99"),  # the largest that fits
        Decimal("9999999999999999.995"),  # rounds to 10^16
        Decimal("-10000000000000000"),
        None,
    ]
    mapped, unmappable = map_batch(source_batch(4, ssot__TotalAmount__c=pa.array(amounts, DEC)))
    assert mapped.column("Amount").to_pylist() == [Decimal("9999999999999999.99"), None]
    assert unmappable.column(REASON_COLUMN).to_pylist() == [ValueProblem.NUMBER_TOO_LARGE] * 2
    assert "16 digits" in unmappable.column(MESSAGE_COLUMN)[0].as_py()


def test_floats_and_text_numbers() -> None:
    floats = pa.array([12.5, float("nan"), float("inf"), 1e300, None])
    mapped, unmappable = map_batch(source_batch(5, ssot__Probability__c=floats))
    assert mapped.column("Probability").to_pylist() == [Decimal("13"), None]
    assert unmappable.column(REASON_COLUMN).to_pylist() == [
        ValueProblem.NOT_A_NUMBER,
        ValueProblem.NOT_A_NUMBER,
        ValueProblem.NUMBER_TOO_LARGE,
    ]
    text = pa.array([" 7.125 ", "1e3", "abc", "-.5"])
    mapped, unmappable = map_batch(source_batch(4, ssot__TotalAmount__c=text))
    assert mapped.column("Amount").to_pylist() == [Decimal("7.13"), Decimal("-0.50")]
    assert unmappable.column("ExternalId__c").to_pylist() == ["OPP-1", "OPP-2"]


def test_values_salesforce_would_reject_are_sent_not_quarantined() -> None:
    batch = source_batch(
        3,
        ssot__Name__c=pa.array([None, "x" * 500, "ok"]),
        ssot__OpportunityStageId__c=pa.array(["Nonsense", None, "Closed Won"]),
        ssot__CloseDate__c=pa.array([None, None, None], UTC_TS),
        ssot__Probability__c=pa.array([Decimal("150"), None, Decimal("-5")], DEC),
    )
    mapped, unmappable = map_batch(batch)
    assert mapped.num_rows == 3
    assert unmappable.num_rows == 0


def test_first_problem_in_mapping_order_is_reported_and_source_row_kept() -> None:
    batch = source_batch(
        2,
        ssot__TotalAmount__c=pa.array([Decimal("1e17"), Decimal(1)], DEC),
        ssot__IsPrivate__c=pa.array(["nope", "nope"]),
    )
    mapped, unmappable = map_batch(batch)
    assert mapped.num_rows == 0
    assert unmappable.column(REASON_COLUMN).to_pylist() == [
        ValueProblem.NUMBER_TOO_LARGE,
        ValueProblem.NOT_A_BOOLEAN,
    ]
    assert unmappable.schema.names == [*batch.schema.names, REASON_COLUMN, MESSAGE_COLUMN]


def test_missing_column_makes_every_row_unmappable() -> None:
    batch = source_batch(2).drop_columns(["ssot__Name__c"])
    mapped, unmappable = map_batch(batch)
    assert mapped.num_rows == 0
    assert unmappable.column(REASON_COLUMN).to_pylist() == [ValueProblem.MISSING_COLUMN] * 2


def test_date_text_and_dates() -> None:
    text = pa.array(["2025-01-02", "2025-02-30", "tomorrow", None])
    mapped, unmappable = map_batch(source_batch(4, ssot__CloseDate__c=text))
    assert mapped.column("CloseDate").to_pylist() == [dt.date(2025, 1, 2), None]
    assert unmappable.column(REASON_COLUMN).to_pylist() == [ValueProblem.NOT_A_DATE] * 2
    dates = pa.array([dt.date(2024, 2, 29)], pa.date32())
    mapped, _ = map_batch(source_batch(1, ssot__CloseDate__c=dates))
    assert mapped.column("CloseDate").to_pylist() == [dt.date(2024, 2, 29)]


def test_empty_batch() -> None:
    mapped, unmappable = map_batch(source_batch(0))
    assert (mapped.num_rows, unmappable.num_rows) == (0, 0)
    assert mapped.schema == OPPORTUNITY_MAPPING.target_schema
