"""Bulk API 2.0 ingest over HTTP (reference §3.1-§3.5): routes and handlers.

Job logic lives in ``ingest_jobs`` (backend) and ``opportunity`` (per-row rules); this module
only turns requests into backend calls and backend state into Salesforce-shaped bodies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator.core import schema
from emulator.core.ingest_jobs import (
    SERVICE_NAME,
    USER_ID,
    IngestBackend,
    IngestError,
    IngestJob,
)
from emulator.core.job_requests import (
    INVALIDJOB,
    bad_request,
    enum_property,
    json_body,
    listing_page,
    missing_property,
    not_found_error,
    operation_property,
    require_csv_content_type,
    sf_datetime,
)
from emulator.core.opportunity import OpportunityTable
from emulator.core.versions import require_version
from emulator.errors import EmulatorHttpError, json_response, rest_error
from emulator.routing import Call, route
from resources.salesforce.protocol import (
    ColumnDelimiter,
    JobState,
    JobType,
    LineEnding,
    Operation,
)

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

CSV_CONTENT_TYPE: Final = "text/csv; charset=UTF-8"
LISTING_LOCATOR_PREFIX: Final = "01gEM0000000001YAA-"
_INGEST_OPERATIONS: Final = (
    Operation.INSERT,
    Operation.UPDATE,
    Operation.UPSERT,
    Operation.DELETE,
    Operation.HARD_DELETE,
)
_RESULT_KINDS: Final = ("successfulresults", "failedresults", "unprocessedrecords")
_BASE: Final = "/services/data/v<version>/jobs/ingest"

T = TypeVar("T")


def backend(call: Call) -> IngestBackend:
    service: IngestBackend = call.emulator.services[SERVICE_NAME]
    return service


# -- handlers ----------------------------------------------------------------------------------


def create_job(call: Call, version: str) -> Response:
    api_version = float(require_version(version))
    body = json_body(call, explain_parse_error=True)
    job = backend(call).create(
        object_name=_object_name(body),
        operation=operation_property(body, _INGEST_OPERATIONS),
        external_id_field=_external_id_field(body),
        line_ending=enum_property(body, "lineEnding", LineEnding, LineEnding.LF),
        delimiter=enum_property(body, "columnDelimiter", ColumnDelimiter, ColumnDelimiter.COMMA),
        api_version=api_version,
    )
    require_csv_content_type(body)
    return json_response(job_info_created(job, version))


def upload_data(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    request = call.request
    _run(
        lambda: backend(call).upload(
            job_id, request.content_length, lambda limit: _read_limited(request.stream, limit)
        )
    )
    return Response(status=201)


def patch_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    body = json_body(call, explain_parse_error=True)
    requested = body.get("state")
    if not isinstance(requested, str):
        raise missing_property("state")
    info = _run(lambda: backend(call).change_state(job_id, requested, job_info_short))
    return json_response(info)


def get_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    job = _run(lambda: backend(call).poll(job_id))
    return json_response(job_info_full(job, version))


def delete_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    _run(lambda: backend(call).delete(job_id))
    return Response(status=204)


def job_results(call: Call, version: str, job_id: str, kind: str) -> Response:
    require_version(version)
    ingest = backend(call)
    readers = {
        "successfulresults": ingest.successful_results,
        "failedresults": ingest.failed_results,
        "unprocessedrecords": ingest.unprocessed_records,
    }
    reader = readers.get(kind.lower())
    if reader is None:
        raise not_found_error()
    body = _run(lambda: reader(job_id))
    return Response(body, status=200, content_type=CSV_CONTENT_TYPE)


def list_jobs(call: Call, version: str) -> Response:
    version = require_version(version)
    offset = _listing_offset(call.request.args.get("queryLocator"))
    jobs = backend(call).list_jobs(call.request.args.get("jobType"))
    return listing_page(
        jobs,
        offset,
        job_info_listed,
        lambda next_offset: (
            f"/services/data/v{version}/jobs/ingest?queryLocator="
            f"{LISTING_LOCATOR_PREFIX}{next_offset}"
        ),
    )


# -- JobInfo shapes (§3.3) ---------------------------------------------------------------------


def job_info_short(job: IngestJob) -> dict[str, Any]:
    """The PATCH response: identity, state and format, no counters."""
    info: dict[str, Any] = {
        "id": job.id,
        "operation": job.operation.value,
        "object": job.object,
        "createdById": USER_ID,
        "createdDate": sf_datetime(job.created_at),
        "systemModstamp": sf_datetime(job.modstamp),
        "state": job.state.value,
    }
    if job.external_id_field is not None:
        info["externalIdFieldName"] = job.external_id_field
    info.update(
        {"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": job.api_version}
    )
    return info


def job_info_created(job: IngestJob, version: str) -> dict[str, Any]:
    return {
        **job_info_short(job),
        "contentUrl": content_url(job, version),
        "lineEnding": job.line_ending.value,
        "columnDelimiter": job.delimiter.value,
    }


def job_info_listed(job: IngestJob) -> dict[str, Any]:
    return {
        **job_info_short(job),
        "jobType": JobType.V2_INGEST.value,
        "lineEnding": job.line_ending.value,
        "columnDelimiter": job.delimiter.value,
    }


def job_info_full(job: IngestJob, version: str) -> dict[str, Any]:
    with job.lock:
        info = job_info_short(job)
        info["jobType"] = JobType.V2_INGEST.value
        if job.state is JobState.OPEN:
            info["contentUrl"] = content_url(job, version)
        info.update(
            {
                "lineEnding": job.line_ending.value,
                "columnDelimiter": job.delimiter.value,
                "numberRecordsProcessed": job.processed,
                "numberRecordsFailed": job.failed,
                "retries": job.retries,
                "totalProcessingTime": _elapsed_ms(job.closed_at, job.finished_at),
                "apiActiveProcessingTime": _elapsed_ms(job.started_at, job.finished_at),
                "apexProcessingTime": 0,
            }
        )
        if job.state is JobState.FAILED and job.error_message:
            info["errorMessage"] = job.error_message
    return info


def content_url(job: IngestJob, version: str) -> str:
    return f"services/data/v{version}/jobs/ingest/{job.id}/batches"


def _elapsed_ms(start: float | None, end: float | None) -> int:
    if start is None:
        return 0
    return max(0, int(((end or time.time()) - start) * 1000))


# -- request parsing ---------------------------------------------------------------------------


def _object_name(body: dict[str, Any]) -> str:
    name = body.get("object")
    if not isinstance(name, str) or not name:
        raise missing_property("object")
    if name.lower() != schema.OBJECT_NAME.lower():
        raise bad_request(INVALIDJOB, f"InvalidJob : sObject type '{name}' is not supported.")
    return schema.OBJECT_NAME


def _external_id_field(body: dict[str, Any]) -> str | None:
    if body.get("operation") != Operation.UPSERT.value:
        return None
    name = body.get("externalIdFieldName")
    if not isinstance(name, str) or not name:
        raise bad_request(
            INVALIDJOB, "InvalidJob : External ID field name is required for upsert operation"
        )
    field = schema.FIELDS_BY_LOWER_NAME.get(name.lower())
    if field is None or not field.external_id:
        raise bad_request(
            INVALIDJOB,
            f"InvalidJob : The field '{name}' is not an External ID field of {schema.OBJECT_NAME}",
        )
    return field.name


def _listing_offset(locator: str | None) -> int:
    if not locator:
        return 0
    prefix, _, offset = locator.rpartition("-")
    if prefix + "-" != LISTING_LOCATOR_PREFIX or not offset.isdigit():
        raise bad_request("INVALID_QUERY_LOCATOR", f"invalid query locator: {locator}")
    return int(offset)


def _read_limited(stream: IO[bytes], limit: int) -> bytes:
    """Read at most ``limit`` bytes (the caller passes max+1 to detect an oversized body)."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _run(action: Callable[[], T]) -> T:
    try:
        result: T = action()
    except IngestError as exc:
        raise EmulatorHttpError(rest_error(exc.status, exc.error_code, exc.message)) from exc
    return result


# -- wiring ------------------------------------------------------------------------------------

RULES: list[Rule] = [
    route(_BASE, ["POST"], "bulk.ingest.create", create_job),
    route(_BASE, ["GET"], "bulk.ingest.list", list_jobs),
    route(f"{_BASE}/<job_id>", ["GET"], "bulk.ingest.get", get_job),
    route(f"{_BASE}/<job_id>", ["PATCH"], "bulk.ingest.patch", patch_job),
    route(f"{_BASE}/<job_id>", ["DELETE"], "bulk.ingest.delete", delete_job),
    route(f"{_BASE}/<job_id>/batches", ["PUT"], "bulk.ingest.upload", upload_data),
    route(f"{_BASE}/<job_id>/<kind>", ["GET"], "bulk.ingest.results", job_results),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    table = OpportunityTable(emulator.store, emulator.config.external_id_case_sensitive)
    table.ensure_schema()
    ingest = IngestBackend(emulator, table)
    emulator.services[SERVICE_NAME] = ingest
    emulator.on_reset(lambda _emulator: ingest.reset())
