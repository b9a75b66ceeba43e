"""The object mapping (Data Cloud columns -> Salesforce fields) as data, and its vectorised use.

The shipped mapping upserts ``ssot__Opportunity__dlm`` rows into ``Opportunity`` on the External ID
field ``External_Id__c`` (source key column ``ExternalId__c``).

What is quarantined here, and what is not (the rule):

- A value is **quarantined** only when it cannot be represented in the target field's type at all:
  ``IsPrivate`` text other than true/false (any case, surrounding blanks ignored), a number that is
  NaN or infinite, unparseable number or date text, or a number whose rounded value needs more
  integer digits than the field has (Currency(16,2) ``Amount``: at most 16 digits before the point).
- A value that is representable but that Salesforce itself may refuse (null or over-long ``Name``,
  an unknown picklist value, a null required ``CloseDate``, Probability above 100) is **sent**, and
  Salesforce rejects the row with its own error code and message. We do not second-guess its
  validation rules; its verdict lands in the dead-letter store.

Numbers are rounded to the field's scale half away from zero (as Salesforce does). ``CloseDate`` is
the UTC calendar date of the Data Cloud timestamp (naive timestamps are taken as UTC; date values
and ``YYYY-MM-DD`` text are accepted as they are). Nulls stay null: whether a null is sent as
``#N/A`` (set null) or empty (leave unchanged) is the CSV encoder's choice.

No per-row Python: every conversion is a handful of ``pyarrow.compute`` kernels per column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from resources.salesforce.protocol import Operation

REASON_COLUMN: Final = "sfload_reason"
MESSAGE_COLUMN: Final = "sfload_message"


class Conversion(StrEnum):
    TEXT = "text"
    DECIMAL = "decimal"  # rounded to scale; integer digits bounded
    DATE_UTC = "date_utc"  # timestamp -> UTC calendar date
    BOOLEAN_TEXT = "boolean_text"  # "true"/"false" -> bool


class ValueProblem(StrEnum):
    """Reason codes for rows that cannot be mapped."""

    NOT_A_BOOLEAN = "NOT_A_BOOLEAN"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    NUMBER_TOO_LARGE = "NUMBER_TOO_LARGE"
    NOT_A_DATE = "NOT_A_DATE"
    MISSING_COLUMN = "MISSING_COLUMN"


@dataclass(frozen=True)
class FieldMapping:
    source: str
    target: str
    conversion: Conversion = Conversion.TEXT
    integer_digits: int = 0  # DECIMAL: digits before the point
    scale: int = 0  # DECIMAL: digits after the point

    @property
    def arrow_type(self) -> pa.DataType:
        if self.conversion is Conversion.DECIMAL:
            return pa.decimal128(self.integer_digits + self.scale, self.scale)
        if self.conversion is Conversion.DATE_UTC:
            return pa.date32()
        if self.conversion is Conversion.BOOLEAN_TEXT:
            return pa.bool_()
        return pa.string()


@dataclass(frozen=True)
class ObjectMapping:
    source_object: str
    key_column: str
    target_object: str
    external_id_field: str
    operation: Operation
    fields: tuple[FieldMapping, ...]

    @property
    def source_columns(self) -> list[str]:
        """The Data Cloud columns to select, key column first."""
        return [f.source for f in self.fields]

    @property
    def target_fields(self) -> list[str]:
        return [f.target for f in self.fields]

    @property
    def target_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.target, f.arrow_type) for f in self.fields])


OPPORTUNITY_MAPPING: Final = ObjectMapping(
    source_object="ssot__Opportunity__dlm",
    key_column="ExternalId__c",
    target_object="Opportunity",
    external_id_field="External_Id__c",
    operation=Operation.UPSERT,
    fields=(
        FieldMapping("ExternalId__c", "External_Id__c"),
        FieldMapping("ssot__Name__c", "Name"),
        FieldMapping("ssot__OpportunityStageId__c", "StageName"),
        FieldMapping("ssot__CloseDate__c", "CloseDate", Conversion.DATE_UTC),
        FieldMapping("ssot__TotalAmount__c", "Amount", Conversion.DECIMAL, 16, 2),
        FieldMapping("ssot__Probability__c", "Probability", Conversion.DECIMAL, 3, 0),
        FieldMapping(
            "ssot__TotalProductQuantity__c", "TotalOpportunityQuantity", Conversion.DECIMAL, 16, 2
        ),
        FieldMapping("ssot__OpportunityTypeId__c", "Type"),
        FieldMapping("ssot__LeadSourceId__c", "LeadSource"),
        FieldMapping("ssot__OpportunityForecastCategoryId__c", "ForecastCategoryName"),
        FieldMapping("ssot__NextStep__c", "NextStep"),
        FieldMapping("ssot__Description__c", "Description"),
        FieldMapping("ssot__IsPrivate__c", "IsPrivate", Conversion.BOOLEAN_TEXT),
    ),
)


class MappedBatch(NamedTuple):
    mapped: pa.RecordBatch  # Salesforce field names and types, in mapping order
    unmappable: pa.RecordBatch  # the source rows, plus REASON_COLUMN and MESSAGE_COLUMN


class _Converted(NamedTuple):
    values: pa.Array  # null where bad
    problems: tuple[tuple[ValueProblem, pa.Array], ...] = ()  # (reason, bool mask without nulls)


_NUMBER_TEXT: Final = r"^[+-]?(\d{1,20}(\.\d{0,18})?|\.\d{1,18})$"
_DATE_TEXT: Final = r"^\d{4}-\d{2}-\d{2}$"
_WORK_DECIMAL: Final = pa.decimal128(38, 18)


def map_batch(batch: pa.RecordBatch, mapping: ObjectMapping = OPPORTUNITY_MAPPING) -> MappedBatch:
    """Convert one Data Cloud batch to Salesforce fields; rows that cannot be mapped are split off.

    A row with several bad values is reported with the first one in mapping order.
    """
    converted = [_convert(batch, f) for f in mapping.fields]
    reason = pa.nulls(batch.num_rows, pa.string())
    message = pa.nulls(batch.num_rows, pa.string())
    for field, result in reversed(list(zip(mapping.fields, converted, strict=True))):
        for problem, mask in reversed(result.problems):
            if pc.any(mask).as_py():
                reason = pc.if_else(mask, pa.scalar(problem.value), reason)
                message = pc.if_else(mask, _problem_message(batch, field, problem), message)
    mapped = pa.RecordBatch.from_arrays([c.values for c in converted], schema=mapping.target_schema)
    bad_rows = pc.is_valid(reason)
    if not pc.any(bad_rows).as_py():
        return MappedBatch(mapped, _with_reasons(batch.slice(0, 0), reason[:0], message[:0]))
    return MappedBatch(
        mapped.filter(pc.invert(bad_rows)),
        _with_reasons(batch.filter(bad_rows), reason.filter(bad_rows), message.filter(bad_rows)),
    )


def _with_reasons(rows: pa.RecordBatch, reason: pa.Array, message: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [*rows.columns, reason, message],
        names=[*rows.schema.names, REASON_COLUMN, MESSAGE_COLUMN],
    )


def _problem_message(batch: pa.RecordBatch, field: FieldMapping, problem: ValueProblem) -> pa.Array:
    what = {
        ValueProblem.NOT_A_BOOLEAN: "is not true or false",
        ValueProblem.NOT_A_NUMBER: "is not a finite number",
        ValueProblem.NUMBER_TOO_LARGE: (
            f"does not fit {field.target} ({field.integer_digits} digits before the point)"
        ),
        ValueProblem.NOT_A_DATE: "is not a date or timestamp",
        ValueProblem.MISSING_COLUMN: "is missing from the source",
    }[problem]
    if problem is ValueProblem.MISSING_COLUMN:
        return pa.repeat(pa.scalar(f"{field.source} {what}"), batch.num_rows)
    shown = pc.fill_null(pc.cast(batch.column(field.source), pa.string()), "null")
    shown = pc.utf8_slice_codeunits(shown, 0, 80)
    return pc.binary_join_element_wise(f"{field.source} value '", shown, f"' {what}", "")


def _convert(batch: pa.RecordBatch, field: FieldMapping) -> _Converted:
    if field.source not in batch.schema.names:
        everywhere = pa.repeat(pa.scalar(True), batch.num_rows)
        return _Converted(
            pa.nulls(batch.num_rows, field.arrow_type),
            ((ValueProblem.MISSING_COLUMN, everywhere),),
        )
    column = batch.column(field.source)
    if field.conversion is Conversion.DECIMAL:
        return _to_decimal(column, field)
    if field.conversion is Conversion.DATE_UTC:
        return _to_utc_date(column)
    if field.conversion is Conversion.BOOLEAN_TEXT:
        return _to_boolean(column)
    return _Converted(pc.cast(column, pa.string()))


def _lost(converted: pa.Array, column: pa.Array) -> pa.Array:
    """Rows whose source value is present but converted to null."""
    return pc.and_(pc.is_valid(column), pc.is_null(converted))


def _to_decimal(column: pa.Array, field: FieldMapping) -> _Converted:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(column)
        parseable = pc.match_substring_regex(text, _NUMBER_TEXT)
        numbers = pc.cast(pc.if_else(parseable, text, pa.scalar(None, text.type)), _WORK_DECIMAL)
    elif pa.types.is_floating(kind):
        usable = pc.fill_null(pc.less(pc.abs(column), 1e19), False)  # False for NaN and inf
        numbers = pc.cast(
            pc.if_else(usable, column, pa.scalar(None, kind)), _WORK_DECIMAL, safe=False
        )
        # finite but beyond any field: report as too large, not as unparseable
        huge = pc.fill_null(pc.and_(pc.is_finite(column), pc.invert(usable)), False)
        numbers = pc.if_else(huge, pa.scalar(Decimal(10) ** 19, _WORK_DECIMAL), numbers)
    elif pa.types.is_decimal(kind) or pa.types.is_integer(kind):
        numbers = column if kind == _WORK_DECIMAL else pc.cast(column, _WORK_DECIMAL)
    else:
        numbers = pa.nulls(len(column), _WORK_DECIMAL)
    unparseable = _lost(numbers, column)
    # round(x) >= 10^digits exactly when |x| >= 10^digits - half a unit of the last place:
    # comparing before rounding is cheap; decimal rounding and narrowing are the costly kernels.
    limit = Decimal(10) ** field.integer_digits - Decimal(5) / Decimal(10) ** (field.scale + 1)
    too_large = pc.fill_null(
        pc.greater_equal(pc.abs(numbers), pa.scalar(limit, _WORK_DECIMAL)), False
    )
    rounded = pc.round(numbers, field.scale, round_mode="half_towards_infinity")
    bad = pc.or_(unparseable, too_large)
    if pc.any(bad).as_py():
        rounded = pc.if_else(bad, pa.scalar(None, _WORK_DECIMAL), rounded)
    return _Converted(
        pc.cast(rounded, field.arrow_type, safe=False),
        ((ValueProblem.NOT_A_NUMBER, unparseable), (ValueProblem.NUMBER_TOO_LARGE, too_large)),
    )


def _to_utc_date(column: pa.Array) -> _Converted:
    kind = column.type
    if pa.types.is_timestamp(kind):
        naive_utc = pc.cast(column, pa.timestamp(kind.unit)) if kind.tz else column
        return _Converted(pc.cast(naive_utc, pa.date32()))
    if pa.types.is_date(kind):
        return _Converted(pc.cast(column, pa.date32()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(column)
        shaped = pc.if_else(
            pc.match_substring_regex(text, _DATE_TEXT), text, pa.scalar(None, text.type)
        )
        parsed = pc.strptime(shaped, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2025-02-30 over to March: keep only dates that print back the same
        exact = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), shaped)
        dates = pc.cast(pc.if_else(exact, parsed, pa.scalar(None, parsed.type)), pa.date32())
    else:
        dates = pa.nulls(len(column), pa.date32())
    return _Converted(dates, ((ValueProblem.NOT_A_DATE, _lost(dates, column)),))


def _to_boolean(column: pa.Array) -> _Converted:
    if pa.types.is_boolean(column.type):
        return _Converted(column)
    text = pc.cast(column, pa.string())
    is_true = pc.equal(text, "true")
    known = pc.or_(is_true, pc.equal(text, "false"))
    if pc.any(pc.invert(pc.fill_null(known, True))).as_py():  # rare: other spellings
        text = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        is_true = pc.equal(text, "true")
        known = pc.or_(is_true, pc.equal(text, "false"))
    values = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
    return _Converted(values, ((ValueProblem.NOT_A_BOOLEAN, _lost(values, column)),))
