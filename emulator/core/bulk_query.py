"""Bulk API 2.0 query jobs: ``/services/data/vXX.X/jobs/query``.

The result is snapshotted into a DuckDB table at job creation (a consistent read), already
rendered as CSV lines in the job's delimiter; result pages are ``rowid`` ranges of that table.
The job reports ``UploadComplete`` when created, then ``InProgress`` for a configurable number of
polls (``EmulatorConfig.extra["bulk_query_in_progress_polls"]``, default 0), then ``JobComplete``.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator import oauth
from emulator.core import limits, rest, schema, snapshots
from emulator.core.job_requests import (
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
from emulator.core.schema import Field, FieldType
from emulator.core.soql import CompiledQuery, Feature
from emulator.core.versions import require_version
from emulator.errors import EmulatorHttpError, json_response, rest_error
from emulator.routing import Call, route
from resources.salesforce.protocol import (
    DAILY_BULK_V2_QUERY_FILE_STORAGE_MB,
    DAILY_BULK_V2_QUERY_JOBS,
    HEADER_LOCATOR,
    HEADER_NUMBER_OF_RECORDS,
    INVALIDJOBSTATE,
    LAST_LOCATOR,
    ColumnDelimiter,
    JobState,
    JobType,
    LineEnding,
    Operation,
)

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

SERVICE: Final = "bulk_query"
API_ERROR: Final = "API_ERROR"
DEFAULT_PAGE_ROWS: Final = 100_000  # when the client sends no maxRecords
_LINE: Final = "line"
_QUERY_OPERATIONS: Final = (Operation.QUERY, Operation.QUERY_ALL)
_ID_ALPHABET: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits
_UNSUPPORTED: Final = {
    Feature.COUNT: "Aggregate queries are not supported in Bulk V2 Query",
    Feature.AGGREGATE: "Aggregate queries are not supported in Bulk V2 Query",
    Feature.GROUP_BY: "GROUP BY is not supported in Bulk V2 Query",
    Feature.OFFSET: "OFFSET is not supported in Bulk V2 Query",
}


@dataclass
class QueryJob:
    id: str
    operation: Operation
    query: str
    api_version: str
    column_delimiter: ColumnDelimiter
    line_ending: LineEnding
    header: str
    created_at: float
    records: int
    polls_in_progress: int
    state: JobState = JobState.UPLOAD_COMPLETE
    modified_at: float = 0.0
    finished_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def table(self) -> str:
        return f"job_{self.id}"


class QueryJobs:
    """The org's query jobs, held in memory; results live in snapshot tables."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._lock = threading.Lock()
        self._jobs: dict[str, QueryJob] = {}

    def create(
        self,
        operation: Operation,
        compiled: CompiledQuery,
        version: str,
        delimiter: ColumnDelimiter,
        line_ending: LineEnding,
    ) -> QueryJob:
        job_id = "750" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(15))
        store = self._emulator.store
        table = f"job_{job_id}"
        records = snapshots.create(
            store, table, compiled, [_csv_line_sql(compiled.fields, delimiter.char)]
        )
        megabytes = snapshots.total_bytes(store, table, _LINE, len(line_ending.chars))
        limits.limits_of(self._emulator).consume(
            DAILY_BULK_V2_QUERY_FILE_STORAGE_MB, math.ceil(megabytes / 1_000_000)
        )
        now = time.time()
        job = QueryJob(
            id=job_id,
            operation=operation,
            query=compiled.soql,
            api_version=version,
            column_delimiter=delimiter,
            line_ending=line_ending,
            header=delimiter.char.join(_quoted(f.name) for f in compiled.fields),
            created_at=now,
            modified_at=now,
            records=records,
            polls_in_progress=_in_progress_polls(self._emulator),
        )
        with self._lock:
            self._jobs[job_id] = job
        return job

    def get(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found_error()
        return job

    def observe(self, job: QueryJob) -> JobState:
        """One status poll: advances the job through InProgress to JobComplete."""
        with job.lock:
            if job.state in (JobState.UPLOAD_COMPLETE, JobState.IN_PROGRESS):
                if job.polls_in_progress > 0:
                    job.polls_in_progress -= 1
                    self._move(job, JobState.IN_PROGRESS)
                else:
                    self._move(job, JobState.JOB_COMPLETE)
            return job.state

    def ready(self, job: QueryJob) -> JobState:
        """The state for a result download: complete if no InProgress polls are pending."""
        with job.lock:
            pending = job.state in (JobState.UPLOAD_COMPLETE, JobState.IN_PROGRESS)
            if pending and job.polls_in_progress == 0:
                self._move(job, JobState.JOB_COMPLETE)
            return job.state

    def abort(self, job: QueryJob) -> None:
        with job.lock:
            if job.state.is_terminal:
                raise EmulatorHttpError(
                    rest_error(
                        400,
                        INVALIDJOBSTATE,
                        f"Aborting already {_state_word(job.state)} Job not allowed",
                    )
                )
            self._move(job, JobState.ABORTED)
        snapshots.drop(self._emulator.store, job.table)

    def delete(self, job: QueryJob) -> None:
        with job.lock:
            if not job.state.is_terminal:
                raise EmulatorHttpError(
                    rest_error(
                        400,
                        API_ERROR,
                        "Error encountered when deleting the job because the job is not terminated",
                    )
                )
        with self._lock:
            self._jobs.pop(job.id, None)
        snapshots.drop(self._emulator.store, job.table)

    def listing(self) -> list[QueryJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: (j.created_at, j.id))

    def reset(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            snapshots.drop(self._emulator.store, job.table)

    @staticmethod
    def _move(job: QueryJob, state: JobState) -> None:
        job.state = state
        job.modified_at = time.time()
        if state.is_terminal:
            job.finished_at = job.modified_at


def _in_progress_polls(emulator: Emulator) -> int:
    value: Any = emulator.config.extra.get("bulk_query_in_progress_polls", 0)
    return int(value)


def _state_word(state: JobState) -> str:
    return "Completed" if state is JobState.JOB_COMPLETE else state.value


# ---------------------------------------------------------------------------------------------
# CSV rendering, in SQL so a 2M-row snapshot never passes through Python row by row


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _value_sql(f: Field) -> str:
    column = f'"{f.name}"'
    if f.type is FieldType.DATE:
        return f"strftime({column}, '%Y-%m-%d')"
    if f.type is FieldType.DATETIME:
        return f"strftime(timezone('UTC', {column}), '%Y-%m-%dT%H:%M:%S.%g') || 'Z'"
    if f.type in (FieldType.BOOLEAN, FieldType.CURRENCY, FieldType.PERCENT, FieldType.DOUBLE):
        return f"CAST({column} AS VARCHAR)"
    return column


def _csv_line_sql(fields: tuple[Field, ...], delimiter: str) -> str:
    """One SQL expression rendering a row as a CSV line: every value quoted, nulls as ``""``."""
    quoted = [
        f"""'"' || replace(coalesce({_value_sql(f)}, ''), '"', '""') || '"'""" for f in fields
    ]
    separator = " || '" + delimiter.replace("'", "''") + "' || "
    return f"{separator.join(quoted)} AS {_LINE}"


# ---------------------------------------------------------------------------------------------
# Handlers


def create_job(call: Call, version: str) -> Response:
    version = require_version(version)
    body = json_body(call, explain_parse_error=False)
    operation = operation_property(body, _QUERY_OPERATIONS)
    require_csv_content_type(body)
    delimiter = enum_property(body, "columnDelimiter", ColumnDelimiter, ColumnDelimiter.COMMA)
    line_ending = enum_property(body, "lineEnding", LineEnding, LineEnding.LF)
    soql = body.get("query")
    if not isinstance(soql, str) or not soql.strip():
        raise missing_property("query")
    compiled = rest.compile_for(
        call.emulator, soql, include_deleted=operation is Operation.QUERY_ALL
    )
    for feature, message in _UNSUPPORTED.items():
        if feature in compiled.features:
            raise bad_request(API_ERROR, message)
    if not limits.limits_of(call.emulator).consume(DAILY_BULK_V2_QUERY_JOBS):
        raise bad_request(
            "LIMIT_EXCEEDED", "Your org has reached its daily limit of Bulk API 2.0 query jobs"
        )
    job = _jobs(call.emulator).create(operation, compiled, version, delimiter, line_ending)
    return json_response(job_info(job))


def get_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    jobs = _jobs(call.emulator)
    job = jobs.get(job_id)
    jobs.observe(job)
    return json_response(job_info_full(job))


def patch_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    jobs = _jobs(call.emulator)
    job = jobs.get(job_id)
    state = json_body(call, explain_parse_error=False).get("state")
    if state != JobState.ABORTED.value:
        raise bad_request(INVALIDJOBSTATE, f"Invalid state transition for a query job: {state!r}")
    jobs.abort(job)
    return json_response(job_info(job))


def delete_job(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    jobs = _jobs(call.emulator)
    jobs.delete(jobs.get(job_id))
    return Response(b"", status=204)


def job_results(call: Call, version: str, job_id: str) -> Response:
    require_version(version)
    jobs = _jobs(call.emulator)
    job = jobs.get(job_id)
    state = jobs.ready(job)
    if state is not JobState.JOB_COMPLETE:
        raise EmulatorHttpError(
            rest_error(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with "
                f"status: JOB_COMPLETE. Current status: {_upper_snake(state)}",
            )
        )
    start = _decode_locator(call.request.args.get("locator", ""))
    size = _max_records(call.request.args.get("maxRecords"))
    rows = snapshots.page(call.emulator.store, job.table, start, size)
    end = start + len(rows)
    eol = job.line_ending.chars
    text = job.header + eol + "".join(row[0] + eol for row in rows)
    locator = _encode_locator(end) if end < job.records else LAST_LOCATOR
    return Response(
        text.encode("utf-8"),
        status=200,
        content_type="text/csv; charset=UTF-8",
        headers={HEADER_NUMBER_OF_RECORDS: str(len(rows)), HEADER_LOCATOR: locator},
    )


def list_jobs(call: Call, version: str) -> Response:
    version = require_version(version)
    args = call.request.args
    jobs = _jobs(call.emulator).listing()
    if args.get("jobType") not in (None, JobType.V2_QUERY.value):
        jobs = []
    if args.get("concurrencyMode") not in (None, "Parallel"):
        jobs = []
    start = _decode_locator(args.get("queryLocator", ""))
    return listing_page(
        jobs,
        start,
        job_info_listed,
        lambda end: f"/services/data/v{version}/jobs/query?queryLocator={_encode_locator(end)}",
    )


# ---------------------------------------------------------------------------------------------
# JobInfo shapes


def job_info(job: QueryJob) -> dict[str, Any]:
    """Create and PATCH responses."""
    return {
        "id": job.id,
        "operation": job.operation.value,
        "object": schema.OBJECT_NAME,
        "createdById": oauth.USER_ID,
        "createdDate": sf_datetime(job.created_at),
        "systemModstamp": sf_datetime(job.modified_at),
        "state": job.state.value,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(job.api_version),
        "lineEnding": job.line_ending.value,
        "columnDelimiter": job.column_delimiter.value,
    }


def job_info_listed(job: QueryJob) -> dict[str, Any]:
    info = job_info(job)
    info["jobType"] = JobType.V2_QUERY.value
    return info


def job_info_full(job: QueryJob) -> dict[str, Any]:
    info = job_info_listed(job)
    complete = job.state is JobState.JOB_COMPLETE
    info["numberRecordsProcessed"] = job.records if complete else 0
    info["retries"] = 0
    info["totalProcessingTime"] = _elapsed_ms(job) if complete else 0
    info["isPkChunkingSupported"] = True
    return info


def _elapsed_ms(job: QueryJob) -> int:
    end = job.finished_at or time.time()
    return max(0, int((end - job.created_at) * 1000))


def _upper_snake(state: JobState) -> str:
    return "".join(f"_{c}" if c.isupper() else c for c in state.value).lstrip("_").upper()


# ---------------------------------------------------------------------------------------------
# Request parsing


def _max_records(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_ROWS
    if not value.isdigit() or int(value) < 1:
        raise bad_request(
            "INVALIDREQUEST", f"Invalid value for query parameter 'maxRecords': {value}"
        )
    return int(value)


def _encode_locator(offset: int) -> str:
    """Opaque to clients; like Salesforce's (``MTAwMDA`` is ``10000``), base64 of the offset."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    if not locator or locator == LAST_LOCATOR:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise bad_request("INVALID_QUERY_LOCATOR", f"Invalid locator: {locator}")
    return int(text)


def _jobs(emulator: Emulator) -> QueryJobs:
    service: QueryJobs = emulator.services[SERVICE]
    return service


_BASE: Final = "/services/data/v<version>/jobs/query"

RULES: list[Rule] = [
    route(_BASE, ["POST"], "bulk.query.create", create_job),
    route(_BASE, ["GET"], "bulk.query.list", list_jobs),
    route(f"{_BASE}/<job_id>", ["GET"], "bulk.query.get", get_job),
    route(f"{_BASE}/<job_id>", ["PATCH"], "bulk.query.patch", patch_job),
    route(f"{_BASE}/<job_id>", ["DELETE"], "bulk.query.delete", delete_job),
    route(f"{_BASE}/<job_id>/results", ["GET"], "bulk.query.results", job_results),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    jobs = QueryJobs(emulator)
    emulator.services[SERVICE] = jobs
    emulator.on_reset(lambda _emulator: jobs.reset())
