"""Data Cloud errors, part of the one hierarchy (``SalesforceError``); status mapping in one place."""

from __future__ import annotations

import json
from typing import Any

import requests

from resources.salesforce.errors import SalesforceError


class DataCloudError(SalesforceError):
    """Any failure talking to Data Cloud; status, error code and a redacted body, like the base."""


class DataCloudAuthError(DataCloudError):
    """The token exchange failed, or the tenant rejected a freshly exchanged token."""


class DataCloudQueryError(DataCloudError):
    """The tenant refused the SQL (HTTP 400): a bug in the query, never retried."""


class DataCloudThrottledError(DataCloudError):
    """HTTP 429 (or 503) persisted past the configured retries."""


class DataCloudServerError(DataCloudError):
    """HTTP 5xx or an unusable response on a call that is safe to report but not to repeat."""


class QueryRestartRequiredError(DataCloudError):
    """A forward-only V2 cursor was lost mid-result: the query must be re-run from the start.

    Batch ids are single-use, so a page GET that failed after the server may have consumed the id
    is never repeated (that could skip or repeat rows). Resumable callers re-issue their range
    query with keyset ``key > last_key`` (``last_key`` is the last key they received).
    """

    def __init__(
        self,
        message: str,
        *,
        query_id: str = "",
        rows_delivered: int = 0,
        status: int | None = None,
        error_code: str = "",
        body: str = "",
    ) -> None:
        super().__init__(
            f"{message}; the query must be restarted (query {query_id or '?'}, "
            f"{rows_delivered} rows delivered before the failure)",
            status=status,
            error_code=error_code,
            body=body,
        )
        self.query_id = query_id
        self.rows_delivered = rows_delivered


def error_details(response: requests.Response) -> tuple[str, str]:
    """(error code, message) from a Data Cloud or OAuth error body, tolerating HTML and empties."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", response.text.strip()[:200] or response.reason or ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return "", json.dumps(body)[:200]
    code = str(body.get("error") or body.get("errorCode") or "")
    message = str(body.get("message") or body.get("error_description") or "")
    return code, message


def error_from_response(response: requests.Response, action: str) -> DataCloudError:
    """The one status-to-class mapping for tenant and exchange responses."""
    code, message = error_details(response)
    status = response.status_code
    text = f"{action} failed: {message}" if message else f"{action} failed"
    kind: type[DataCloudError]
    if status in (401, 403):
        kind = DataCloudAuthError
    elif status == 400:
        kind = DataCloudQueryError
    elif status in (429, 503):
        kind = DataCloudThrottledError
    elif status >= 500:
        kind = DataCloudServerError
    else:
        kind = DataCloudError
    return kind(text, status=status, error_code=code, body=response.text)
