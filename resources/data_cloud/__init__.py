"""Salesforce Data Cloud: token exchange, Query API V2 streamed as Arrow, key-range operations."""

from resources.data_cloud.auth import CoreAuth, CoreLogin, DataCloudAuth, SalesforceCoreAuth
from resources.data_cloud.client import DataCloudClient, KeyStats
from resources.data_cloud.errors import (
    DataCloudAuthError,
    DataCloudError,
    DataCloudQueryError,
    DataCloudServerError,
    DataCloudThrottledError,
    QueryRestartRequiredError,
)
from resources.data_cloud.queries import KeyedObject
from resources.data_cloud.resource import DataCloudResource
from resources.data_cloud.sql import quote_identifier, quote_literal

__all__ = [
    "CoreAuth",
    "CoreLogin",
    "DataCloudAuth",
    "DataCloudAuthError",
    "DataCloudClient",
    "DataCloudError",
    "DataCloudQueryError",
    "DataCloudResource",
    "DataCloudServerError",
    "DataCloudThrottledError",
    "KeyStats",
    "KeyedObject",
    "QueryRestartRequiredError",
    "SalesforceCoreAuth",
    "quote_identifier",
    "quote_literal",
]
