"""Bulk API 2.0 / REST vocabulary, typed once and shared by the client and the emulator."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DEFAULT_API_VERSION: Final = "66.0"
OLDEST_API_VERSION: Final = 31.0


class JobState(StrEnum):
    OPEN = "Open"
    UPLOAD_COMPLETE = "UploadComplete"
    IN_PROGRESS = "InProgress"
    JOB_COMPLETE = "JobComplete"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED)


class Operation(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    UPSERT = "upsert"
    DELETE = "delete"
    HARD_DELETE = "hardDelete"
    QUERY = "query"
    QUERY_ALL = "queryAll"


class ColumnDelimiter(StrEnum):
    BACKQUOTE = "BACKQUOTE"
    CARET = "CARET"
    COMMA = "COMMA"
    PIPE = "PIPE"
    SEMICOLON = "SEMICOLON"
    TAB = "TAB"

    @property
    def char(self) -> str:
        return _DELIMITER_CHARS[self]


_DELIMITER_CHARS: Final = {
    ColumnDelimiter.BACKQUOTE: "`",
    ColumnDelimiter.CARET: "^",
    ColumnDelimiter.COMMA: ",",
    ColumnDelimiter.PIPE: "|",
    ColumnDelimiter.SEMICOLON: ";",
    ColumnDelimiter.TAB: "\t",
}


class LineEnding(StrEnum):
    LF = "LF"
    CRLF = "CRLF"

    @property
    def chars(self) -> str:
        return "\n" if self is LineEnding.LF else "\r\n"


class JobType(StrEnum):
    V2_INGEST = "V2Ingest"
    V2_QUERY = "V2Query"
    CLASSIC = "Classic"
    BIG_OBJECT_INGEST = "BigObjectIngest"


# Sizes and counts Salesforce enforces.
MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024  # raw CSV per ingest job (150 MB after base64)
INTERNAL_BATCH_ROWS: Final = 10_000  # one DailyBulkApiBatches unit each
MAX_JOBS_PER_LISTING_PAGE: Final = 1000
REST_QUERY_PAGE_MAX: Final = 2000

# CSV dialect.
NULL_VALUE: Final = "#N/A"

# Header names.
HEADER_LIMIT_INFO: Final = "Sforce-Limit-Info"
HEADER_LOCATOR: Final = "Sforce-Locator"
HEADER_NUMBER_OF_RECORDS: Final = "Sforce-NumberOfRecords"
HEADER_CALL_OPTIONS: Final = "Sforce-Call-Options"
HEADER_QUERY_OPTIONS: Final = "Sforce-Query-Options"
LAST_LOCATOR: Final = "null"

# Result CSV columns.
RESULT_ID: Final = "sf__Id"
RESULT_CREATED: Final = "sf__Created"
RESULT_ERROR: Final = "sf__Error"

# Error codes.
INVALID_SESSION_ID: Final = "INVALID_SESSION_ID"
REQUEST_LIMIT_EXCEEDED: Final = "REQUEST_LIMIT_EXCEEDED"
INVALIDJOBSTATE: Final = "INVALIDJOBSTATE"
NOT_FOUND: Final = "NOT_FOUND"
MALFORMED_QUERY: Final = "MALFORMED_QUERY"
INVALID_FIELD: Final = "INVALID_FIELD"
INVALID_TYPE: Final = "INVALID_TYPE"
UNABLE_TO_LOCK_ROW: Final = "UNABLE_TO_LOCK_ROW"
REQUIRED_FIELD_MISSING: Final = "REQUIRED_FIELD_MISSING"
DUPLICATE_VALUE: Final = "DUPLICATE_VALUE"
DUPLICATE_EXTERNAL_ID: Final = "DUPLICATE_EXTERNAL_ID"
INVALID_TYPE_ON_FIELD_IN_RECORD: Final = "INVALID_TYPE_ON_FIELD_IN_RECORD"
STRING_TOO_LONG: Final = "STRING_TOO_LONG"

# Limit names in GET /limits.
DAILY_API_REQUESTS: Final = "DailyApiRequests"
DAILY_BULK_API_BATCHES: Final = "DailyBulkApiBatches"
DAILY_BULK_V2_QUERY_JOBS: Final = "DailyBulkV2QueryJobs"
DAILY_BULK_V2_QUERY_FILE_STORAGE_MB: Final = "DailyBulkV2QueryFileStorageMB"
