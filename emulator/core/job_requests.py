"""Request parsing, error bodies and the job listing page shared by the Bulk API 2.0 job routes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from werkzeug.wrappers import Response

from emulator.errors import EmulatorHttpError, json_response, not_found, rest_error
from emulator.routing import Call
from resources.salesforce.protocol import (
    MAX_JOBS_PER_LISTING_PAGE,
    ColumnDelimiter,
    LineEnding,
    Operation,
)

INVALIDJOB: Final = "INVALIDJOB"

E = TypeVar("E", LineEnding, ColumnDelimiter)
J = TypeVar("J")


def bad_request(code: str, message: str) -> EmulatorHttpError:
    return EmulatorHttpError(rest_error(400, code, message))


def not_found_error() -> EmulatorHttpError:
    return EmulatorHttpError(not_found())


def missing_property(key: str) -> EmulatorHttpError:
    return bad_request(INVALIDJOB, f"InvalidJob : The request must set the property '{key}'")


def json_body(call: Call, *, explain_parse_error: bool) -> dict[str, Any]:
    """The request's JSON object; ``explain_parse_error`` appends the parser's reason."""
    try:
        body = json.loads(call.request.get_data(as_text=True) or "null")
    except ValueError as exc:
        reason = f": {exc}" if explain_parse_error else ""
        raise bad_request(
            "JSON_PARSER_ERROR", f"The request body is not valid JSON{reason}"
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def operation_property(body: dict[str, Any], allowed: Iterable[Operation]) -> Operation:
    value = body.get("operation")
    valid = {op.value: op for op in allowed}
    if not isinstance(value, str) or value not in valid:
        names = ", ".join(valid)
        raise bad_request(
            INVALIDJOB,
            f"InvalidJob : Invalid value for property 'operation': {value!r}; use one of {names}",
        )
    return valid[value]


def enum_property(body: dict[str, Any], key: str, kind: type[E], default: E) -> E:
    value = body.get(key)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(member.value for member in kind)
        raise bad_request(
            INVALIDJOB,
            f"InvalidJob : Invalid value for property '{key}': {value!r}; use one of {names}",
        ) from None


def require_csv_content_type(body: dict[str, Any]) -> None:
    value = body.get("contentType")
    if value is not None and value != "CSV":
        raise bad_request(
            INVALIDJOB, f"InvalidJob : Invalid value for property 'contentType': {value!r}"
        )


def sf_datetime(epoch_s: float) -> str:
    """Salesforce's JSON date-time: ``2022-01-02T21:33:43.000+0000``."""
    millis = int(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{millis:03d}+0000"


def listing_page(
    jobs: Sequence[J],
    start: int,
    job_info: Callable[[J], dict[str, Any]],
    next_url: Callable[[int], str],
) -> Response:
    """One page of a job listing from ``start``; ``next_url`` gets the next page's offset."""
    page = jobs[start : start + MAX_JOBS_PER_LISTING_PAGE]
    end = start + len(page)
    done = end >= len(jobs)
    return json_response(
        {
            "done": done,
            "records": [job_info(job) for job in page],
            "nextRecordsUrl": None if done else next_url(end),
        }
    )
