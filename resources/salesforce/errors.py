"""One error hierarchy for Salesforce calls; ``error_from_response`` is the only status mapping.

Messages and bodies are redacted: no access token, client secret, assertion or Authorization
value can end up in an exception, a log line or Dagster metadata through these classes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from resources.http import redact
from resources.salesforce import protocol

MAX_BODY_CHARS = 2000


class SalesforceError(Exception):
    """Base: an HTTP call to Salesforce answered with an error (or never answered)."""

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str = "", body: str = ""
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.body = redact(body[:MAX_BODY_CHARS])
        self.message = redact(message)
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code:
            parts.append(self.error_code)
        return " | ".join(parts)


class ExpiredSessionError(SalesforceError):
    """401 INVALID_SESSION_ID (after the one refresh the client is allowed)."""


class RequestLimitExceededError(SalesforceError):
    """403 REQUEST_LIMIT_EXCEEDED: an org allowance is used up; never retried."""

    @property
    def allowance(self) -> str:
        """Which allowance ran out, as Salesforce names it (e.g. ``TotalRequests``)."""
        named = re.search(r"(\w+) Limit exceeded", self.message)
        if named:
            return named.group(1)
        if "ConcurrentPerOrgLongTxn" in self.message:
            return "ConcurrentPerOrgLongTxn"
        return "unknown (see message)"

    def _render(self) -> str:
        return f"Salesforce request limit exceeded ({self.allowance}): {super()._render()}"


class NotFoundError(SalesforceError):
    """404 NOT_FOUND."""


class RetryableServerError(SalesforceError):
    """5xx / 420 / 429 or a dropped connection that survived the session's retries."""


class ConnectionFailedError(RetryableServerError):
    """The transport failed (connection refused/reset, timeout) after retries."""


class AuthError(SalesforceError):
    """The OAuth token endpoint refused us (``error`` / ``error_description``)."""

    def __init__(self, error: str, description: str, *, status: int | None, body: str = "") -> None:
        # Redacted like the message: a server may quote the request (form, assertion) back.
        self.error = redact(error)
        self.description = redact(description)
        super().__init__(
            # Not "OAuth <error>": redact() takes a word after "OAuth " for a credential.
            f"Login refused ({error}): {description}",
            status=status,
            error_code=error,
            body=body,
        )


class BadRequestError(SalesforceError):
    """400 and other client errors (MALFORMED_QUERY, INVALID_FIELD, INVALIDJOBSTATE, ...)."""


class BulkJobError(SalesforceError):
    """Base of the Bulk job family: the HTTP call worked, the job did not."""

    def __init__(
        self, message: str, *, job_id: str, state: str = "", error_message: str = ""
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.error_message = error_message
        super().__init__(message, error_code=state)


class JobFailedError(BulkJobError):
    """The job ended Failed; ``error_message`` is Salesforce's ``errorMessage``."""


class JobAbortedError(BulkJobError):
    """The job ended Aborted (by us, an admin or another client)."""


class PollDeadlineExceededError(BulkJobError):
    """We stopped waiting; the job itself goes on at Salesforce (resume by job id)."""


def error_from_response(response: requests.Response, context: str = "") -> SalesforceError:
    """Map an error response to the one class that describes it."""
    status = response.status_code
    body_text = _safe_text(response)
    error_code, message = _first_error(body_text)
    message = message or f"{context or response.request.method} failed".strip()
    if context:
        message = f"{context}: {message}"
    kwargs: dict[str, Any] = {"status": status, "error_code": error_code, "body": body_text}
    if status == 401 or error_code == protocol.INVALID_SESSION_ID:
        return ExpiredSessionError(message, **kwargs)
    if error_code == protocol.REQUEST_LIMIT_EXCEEDED:
        return RequestLimitExceededError(message, **kwargs)
    if status == 404 or error_code == protocol.NOT_FOUND:
        return NotFoundError(message, **kwargs)
    if status >= 500 or status in (420, 429):
        return RetryableServerError(message, **kwargs)
    if 400 <= status < 500:
        return BadRequestError(message, **kwargs)
    return SalesforceError(message, **kwargs)


def auth_error_from_response(response: requests.Response) -> SalesforceError:
    body_text = _safe_text(response)
    try:
        payload = json.loads(body_text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return AuthError(
            str(payload["error"]),
            str(payload.get("error_description", "")),
            status=response.status_code,
            body=body_text,
        )
    return error_from_response(response, "OAuth token request")


def _safe_text(response: requests.Response) -> str:
    try:
        return response.text[:MAX_BODY_CHARS]
    except Exception:  # a body we cannot decode still must not hide the status
        return ""


def _first_error(body_text: str) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's ``[{"errorCode", "message"}]`` envelope."""
    try:
        payload = json.loads(body_text)
    except ValueError:
        return "", body_text.strip()[:200]
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    if isinstance(payload, dict):
        code = payload.get("errorCode") or payload.get("error") or ""
        message = payload.get("message") or payload.get("error_description") or ""
        return str(code), str(message)
    return "", ""
