"""Salesforce core: auth, Bulk API 2.0 ingest and query, REST SOQL, limits, errors."""

from typing import TYPE_CHECKING

from resources.salesforce.auth import AccessToken, ClientAuthMethod
from resources.salesforce.bulk import (
    BulkIngest,
    IngestInterruptedError,
    IngestReport,
    IngestSettings,
    JobOutcome,
    ObjectSpec,
    abort_open_jobs,
    cut_chunks,
)
from resources.salesforce.client import SalesforceClient, SalesforceConfig
from resources.salesforce.csv_encoding import CsvOptions, NullPolicy, encode_batch
from resources.salesforce.errors import (
    AuthError,
    BadRequestError,
    BulkJobError,
    ConnectionFailedError,
    ExpiredSessionError,
    JobAbortedError,
    JobFailedError,
    NotFoundError,
    PollDeadlineExceededError,
    RequestLimitExceededError,
    RetryableServerError,
    SalesforceError,
)
from resources.salesforce.jobs import PollSettings
from resources.salesforce.models import JobInfo, Limit, Limits
from resources.salesforce.soql import quote_like, quote_string

if TYPE_CHECKING:  # imported lazily at run time, see __getattr__
    from resources.salesforce.resource import SalesforceResource


def __getattr__(name: str) -> object:
    # Lazy, so that the emulator (which shares protocol.py) does not pay for importing Dagster.
    if name == "SalesforceResource":
        from resources.salesforce.resource import SalesforceResource

        return SalesforceResource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccessToken",
    "AuthError",
    "BadRequestError",
    "BulkIngest",
    "BulkJobError",
    "ClientAuthMethod",
    "ConnectionFailedError",
    "CsvOptions",
    "ExpiredSessionError",
    "IngestInterruptedError",
    "IngestReport",
    "IngestSettings",
    "JobAbortedError",
    "JobFailedError",
    "JobInfo",
    "JobOutcome",
    "Limit",
    "Limits",
    "NotFoundError",
    "NullPolicy",
    "ObjectSpec",
    "PollDeadlineExceededError",
    "PollSettings",
    "RequestLimitExceededError",
    "RetryableServerError",
    "SalesforceClient",
    "SalesforceConfig",
    "SalesforceError",
    "SalesforceResource",
    "abort_open_jobs",
    "cut_chunks",
    "encode_batch",
    "quote_like",
    "quote_string",
]
