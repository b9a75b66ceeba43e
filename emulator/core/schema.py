"""The emulated org's Opportunity object: its fields as ``describe`` would tell them.

Both the Bulk ingest validation and SOQL read this table of fields; the DuckDB table
``Opportunity`` has exactly these columns (API names, same case).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class FieldType(StrEnum):
    ID = "id"
    STRING = "string"
    TEXTAREA = "textarea"
    PICKLIST = "picklist"
    DATE = "date"
    DATETIME = "datetime"
    CURRENCY = "currency"
    PERCENT = "percent"
    DOUBLE = "double"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    length: int = 0  # characters, for text types
    precision: int = 0  # total digits, for numbers
    scale: int = 0
    required_on_create: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    restricted_values: tuple[str, ...] = ()  # restricted picklist values, empty = unrestricted


STAGES: Final = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

OBJECT_NAME: Final = "Opportunity"
ID_PREFIX: Final = "006"
EXTERNAL_ID_FIELD: Final = "External_Id__c"

FIELDS: Final = (
    Field("Id", FieldType.ID, length=18, createable=False, updateable=False),
    Field(EXTERNAL_ID_FIELD, FieldType.STRING, length=255, external_id=True),
    Field("Name", FieldType.STRING, length=120, required_on_create=True),
    Field(
        "StageName",
        FieldType.PICKLIST,
        length=255,
        required_on_create=True,
        restricted_values=STAGES,
    ),
    Field("CloseDate", FieldType.DATE, required_on_create=True),
    Field("Amount", FieldType.CURRENCY, precision=18, scale=2),
    Field("Probability", FieldType.PERCENT, precision=3, scale=0),
    Field("TotalOpportunityQuantity", FieldType.DOUBLE, precision=18, scale=2),
    Field("Type", FieldType.PICKLIST, length=255),
    Field("LeadSource", FieldType.PICKLIST, length=255),
    Field("ForecastCategoryName", FieldType.PICKLIST, length=255),
    Field("NextStep", FieldType.STRING, length=255),
    Field("Description", FieldType.TEXTAREA, length=32000),
    Field("IsPrivate", FieldType.BOOLEAN),
    Field("CreatedDate", FieldType.DATETIME, createable=False, updateable=False),
    Field("LastModifiedDate", FieldType.DATETIME, createable=False, updateable=False),
    Field("SystemModstamp", FieldType.DATETIME, createable=False, updateable=False),
    Field("IsDeleted", FieldType.BOOLEAN, createable=False, updateable=False),
)

FIELDS_BY_LOWER_NAME: Final = {f.name.lower(): f for f in FIELDS}

DUCKDB_TYPES: Final = {
    FieldType.ID: "VARCHAR",
    FieldType.STRING: "VARCHAR",
    FieldType.TEXTAREA: "VARCHAR",
    FieldType.PICKLIST: "VARCHAR",
    FieldType.DATE: "DATE",
    FieldType.DATETIME: "TIMESTAMPTZ",
    FieldType.CURRENCY: "DECIMAL(18,2)",
    FieldType.PERCENT: "DECIMAL(18,2)",
    FieldType.DOUBLE: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
}


def create_table_sql() -> str:
    columns = ", ".join(f'"{f.name}" {DUCKDB_TYPES[f.type]}' for f in FIELDS)
    return f'CREATE TABLE IF NOT EXISTS "{OBJECT_NAME}" ({columns})'
