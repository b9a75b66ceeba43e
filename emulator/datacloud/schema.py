"""The tenant's one data model object, ``ssot__Opportunity__dlm``: its columns, typed once.

The standard Opportunity DMO fields (reference: data-cloud-api.md section 9) plus the custom
``ExternalId__c`` the loader keys on. DMO "text" is VARCHAR, "number" is DECIMAL(38,18),
"dateTime" is TIMESTAMPTZ. Picklist-like fields hold the CRM picklist label (for example
``ssot__OpportunityStageId__c`` = ``"Closed Won"``), which is what the loader maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class DmoType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE_TIME = "dateTime"

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self]

    @property
    def metadata_type(self) -> str:
        """The ``type`` that ``GET /api/v1/metadata`` reports for a field."""
        return _METADATA_TYPES[self]


_DUCKDB_TYPES: Final = {
    DmoType.TEXT: "VARCHAR",
    DmoType.NUMBER: "DECIMAL(38,18)",
    DmoType.DATE_TIME: "TIMESTAMPTZ",
}
_METADATA_TYPES: Final = {
    DmoType.TEXT: "STRING",
    DmoType.NUMBER: "NUMBER",
    DmoType.DATE_TIME: "DATE_TIME",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: DmoType
    display_name: str


TABLE_NAME: Final = "ssot__Opportunity__dlm"
TABLE_DISPLAY_NAME: Final = "Opportunity"
TABLE_CATEGORY: Final = "Other"
TABLE_ENTITY_TYPE: Final = "DataModelObject"
PRIMARY_KEY: Final = "ssot__Id__c"
EXTERNAL_ID: Final = "ExternalId__c"

_T, _N, _D = DmoType.TEXT, DmoType.NUMBER, DmoType.DATE_TIME

COLUMNS: Final[tuple[Column, ...]] = (
    Column(PRIMARY_KEY, _T, "Opportunity Id"),
    Column("ssot__Name__c", _T, "Name"),
    Column("ssot__OpportunityName__c", _T, "Opportunity Name"),
    Column("ssot__TotalAmount__c", _N, "Total Amount"),
    Column("ssot__ExpectedRevenueAmount__c", _N, "Expected Revenue Amount"),
    Column("ssot__Probability__c", _N, "Probability"),
    Column("ssot__TotalProductQuantity__c", _N, "Total Product Quantity"),
    Column("ssot__CloseDate__c", _D, "Close Date"),
    Column("ssot__CreatedDate__c", _D, "Created Date"),
    Column("ssot__LastModifiedDate__c", _D, "Last Modified Date"),
    Column("ssot__OpportunityStageId__c", _T, "Opportunity Stage"),
    Column("ssot__OpportunityTypeId__c", _T, "Opportunity Type"),
    Column("ssot__OpportunityForecastCategoryId__c", _T, "Opportunity Forecast Category"),
    Column("ssot__CustomerAccountId__c", _T, "Customer Account"),
    Column("ssot__PartnerAccountId__c", _T, "Partner Account"),
    Column("ssot__LeadId__c", _T, "Lead"),
    Column("ssot__LeadSourceId__c", _T, "Lead Source"),
    Column("ssot__ContractId__c", _T, "Contract"),
    Column("ssot__PriceBookId__c", _T, "Price Book"),
    Column("ssot__CurrencyId__c", _T, "Currency"),
    Column("ssot__EngagementChannelId__c", _T, "Engagement Channel"),
    Column("ssot__EngagementChannelTypeId__c", _T, "Engagement Channel Type"),
    Column("ssot__InternalOrganizationId__c", _T, "Internal Organization"),
    Column("ssot__IsPrivate__c", _T, "Is Private"),
    Column("ssot__Description__c", _T, "Description"),
    Column("ssot__NextStep__c", _T, "Next Step"),
    Column("ssot__ExternalRecordId__c", _T, "External Record Id"),
    Column("ssot__ExternalSourceId__c", _T, "External Source Id"),
    Column("ssot__DataSourceId__c", _T, "Data Source"),
    Column("ssot__DataSourceObjectId__c", _T, "Data Source Object"),
    Column(EXTERNAL_ID, _T, "External Id"),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql() -> str:
    columns = ", ".join(f"{quote_identifier(c.name)} {c.type.duckdb_type}" for c in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {quote_identifier(TABLE_NAME)} ({columns})"


def entity_metadata() -> dict[str, Any]:
    """The object as ``GET /api/v1/metadata`` describes it."""
    return {
        "name": TABLE_NAME,
        "displayName": TABLE_DISPLAY_NAME,
        "category": TABLE_CATEGORY,
        "entityType": TABLE_ENTITY_TYPE,
        "fields": [
            {"name": c.name, "displayName": c.display_name, "type": c.type.metadata_type}
            for c in COLUMNS
        ],
        "primaryKeys": [{"name": PRIMARY_KEY, "displayName": "Opportunity Id", "indexOrder": "1"}],
        "relationships": [
            {
                "fromEntity": TABLE_NAME,
                "toEntity": "ssot__Account__dlm",
                "fromEntityAttribute": "ssot__CustomerAccountId__c",
                "toEntityAttribute": "ssot__Id__c",
                "cardinality": "NTOONE",
            }
        ],
        "indexes": [],
        "partitionBy": None,
    }
