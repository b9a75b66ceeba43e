"""Bulk API 2.0 ingest jobs: registry, state machine and asynchronous processing (no HTTP here).

A job moves Open → UploadComplete → InProgress → JobComplete | Failed, or to Aborted. When the
work starts is decided by ``IngestSettings.clock``:

- ``background`` (default): a worker pool starts the job ``queue_delay_s`` after the close;
- ``immediate``: the job is processed inside the close request (the PATCH still answers
  ``UploadComplete``, the next GET sees the result);
- ``polls``: the job is processed inside its ``polls_to_complete``-th status GET after the close.

Rows are processed in internal batches of ``internal_batch_rows`` (10,000 like Salesforce), one
``DailyBulkApiBatches`` unit each. With ``rows_per_second`` unset all batches are written in one
set-based statement; with it set, ``parallel_batches`` batches run per wave, each wave taking as
long as its largest batch needs at that rate, so ``numberRecordsProcessed`` visibly advances.

Faults: ``lock_error_rate`` fails rows with ``UNABLE_TO_LOCK_ROW`` (seeded per job);
``fail_after_rows`` processes that many rows, then fails the job with ``fail_message`` and leaves
the rest in ``unprocessedrecords``; ``batch_retries`` adds that many retries per batch to
``retries``. Jobs live in memory (Opportunity rows persist in DuckDB); once a job finishes, its
parsed upload and outcomes move to a ``JobArchive`` on disk and each results call reads them back,
so results stay available without holding ~160 MB per 1M rows. Operations processed:
``upsert`` and ``insert``; other operations are accepted at create and fail at processing.
Stats: counters ``ingest.jobs_created``, ``ingest.rows_received``, ``ingest.rows_processed``,
``ingest.rows_failed``, ``ingest.batches``, ``ingest.jobs_<final state>``; max ``ingest.jobs_active``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from emulator.core import opportunity, schema
from emulator.core.csv_dialect import (
    ROW_NUMBER,
    CsvRejected,
    ParsedUpload,
    bool_array,
    parse_upload,
)
from emulator.core.opportunity import OpportunityTable
from resources.salesforce.protocol import (
    DAILY_BULK_API_BATCHES,
    INTERNAL_BATCH_ROWS,
    MAX_UPLOAD_BYTES,
    UNABLE_TO_LOCK_ROW,
    ColumnDelimiter,
    JobState,
    LineEnding,
    Operation,
)

if TYPE_CHECKING:
    from emulator.state import Emulator

ARCHIVE_FOLDER = "ingest-results"  # under the data directory

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_NAME = "ingest"
USER_ID = "005EM0000000001YAA"  # the integration user every job is created by
JOB_ID_PREFIX = "750EM"  # + 10 digits + "YAA" checksum, 18 chars like Salesforce job ids
ACTIVE_STATES = (JobState.UPLOAD_COMPLETE, JobState.IN_PROGRESS)
DELETABLE_STATES = (
    JobState.UPLOAD_COMPLETE,
    JobState.JOB_COMPLETE,
    JobState.ABORTED,
    JobState.FAILED,
)
DELETE_OPERATIONS = (Operation.DELETE, Operation.HARD_DELETE)  # no recycle bin: both delete
SUPPORTED_OPERATIONS = (Operation.INSERT, Operation.UPSERT, *DELETE_OPERATIONS)


class ClockMode(StrEnum):
    BACKGROUND = "background"
    IMMEDIATE = "immediate"
    POLLS = "polls"


@dataclass
class IngestSettings:
    """Runtime-mutable processing knobs (the fault-injection API writes these)."""

    clock: ClockMode = ClockMode.BACKGROUND
    polls_to_complete: int = 1
    queue_delay_s: float = 0.0
    rows_per_second: float | None = None  # per internal batch; None = as fast as possible
    parallel_batches: int = 8
    internal_batch_rows: int = INTERNAL_BATCH_ROWS
    lock_error_rate: float = 0.0
    lock_error_seed: int = 0
    fail_after_rows: int | None = None
    fail_message: str = (
        "InternalServerError : Batch failed after the maximum number of retries; "
        "remaining records were not processed"
    )
    batch_retries: int = 0  # re-attempts per internal batch, summed into ``retries``
    max_upload_bytes: int = MAX_UPLOAD_BYTES


class IngestError(Exception):
    """A request the job cannot take; handlers turn it into a Salesforce error body."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


@dataclass
class IngestJob:
    id: str
    sequence: int
    operation: Operation
    object: str
    external_id_field: str | None
    line_ending: LineEnding
    delimiter: ColumnDelimiter
    api_version: float
    created_at: float
    modstamp: float
    state: JobState = JobState.OPEN
    upload: bytes | None = None
    uploaded: bool = False
    error_message: str | None = None
    processed: int = 0
    failed: int = 0
    retries: int = 0
    attempted: int = 0  # rows [0, attempted) were attempted, in upload order
    polls: int = 0
    started: bool = False
    closed_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    header: list[str] | None = None
    rows: pa.Table | None = None
    row_count: int = 0
    outcomes: list[pa.Table] = field(default_factory=list)
    lock_errors: int = 0
    archived: bool = False  # rows and outcomes moved to the JobArchive
    abort: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)


class IngestBackend:
    def __init__(self, emulator: Emulator, table: OpportunityTable) -> None:
        self.emulator = emulator
        self.table = table
        self.settings = IngestSettings()
        self._jobs: dict[str, IngestJob] = {}
        self._archive = JobArchive(emulator.config.data_dir / ARCHIVE_FOLDER)
        self._lock = threading.Lock()
        self._sequence = 0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest")
        self._timers: set[threading.Timer] = set()

    # -- job lifecycle -------------------------------------------------------------------------

    def create(
        self,
        *,
        object_name: str,
        operation: Operation,
        external_id_field: str | None,
        line_ending: LineEnding,
        delimiter: ColumnDelimiter,
        api_version: float,
    ) -> IngestJob:
        now = time.time()
        with self._lock:
            self._sequence += 1
            job = IngestJob(
                id=self._new_job_id(),
                sequence=self._sequence,
                operation=operation,
                object=object_name,
                external_id_field=external_id_field,
                line_ending=line_ending,
                delimiter=delimiter,
                api_version=api_version,
                created_at=now,
                modstamp=now,
            )
            self._jobs[job.id] = job
        self.emulator.stats.incr("ingest.jobs_created")
        return job

    def get(self, job_id: str) -> IngestJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise IngestError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def poll(self, job_id: str) -> IngestJob:
        """A status GET: counts towards the ``polls`` clock."""
        job = self.get(job_id)
        run_now = False
        with job.lock:
            if job.state in ACTIVE_STATES:
                job.polls += 1
                run_now = (
                    self.settings.clock is ClockMode.POLLS
                    and job.polls >= self.settings.polls_to_complete
                    and not job.started
                )
        if run_now:
            self.process(job)
        return job

    def upload(self, job_id: str, data_length: int | None, read: Callable[[int], bytes]) -> None:
        """Take the job's single upload; ``read()`` returns the body (called only when allowed)."""
        job = self.get(job_id)
        limit = self.settings.max_upload_bytes
        if data_length is not None and data_length > limit:
            raise _too_large(limit)
        with job.lock:
            if job.state is not JobState.OPEN:
                raise IngestError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Unable to upload data: job {job.id} is in state {job.state.value}, not Open",
                )
            if job.uploaded:
                raise IngestError(400, "INVALIDJOBSTATE", _multiple_contents(job.id))
            data = read(limit + 1)
            if len(data) > limit:
                raise _too_large(limit)
            job.upload = data
            job.uploaded = True
            job.modstamp = time.time()

    def change_state(self, job_id: str, requested: str, render: Callable[[IngestJob], T]) -> T:
        """Close or abort; ``render`` sees the job right after the transition (the PATCH body
        reports the new state even if processing then finishes before the response is sent)."""
        job = self.get(job_id)
        if requested == JobState.UPLOAD_COMPLETE.value:
            with job.lock:
                self._close(job)
                rendered = render(job)
            self._start_after_close(job)
        elif requested == JobState.ABORTED.value:
            with job.lock:
                self._abort(job)
                rendered = render(job)
        else:
            raise IngestError(
                400, "INVALIDJOBSTATE", f"Invalid state transition requested: {requested}"
            )
        return rendered

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with job.lock:
            if job.state not in DELETABLE_STATES:
                raise IngestError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Deleting a job in state {job.state.value} is not allowed",
                )
            job.abort.set()
        with self._lock:
            self._jobs.pop(job.id, None)
        self._archive.discard(job.id)

    def list_jobs(self, job_type: str | None) -> list[IngestJob]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.sequence)
        if job_type not in (None, "", "V2Ingest"):
            return []
        return jobs

    def jobs_by_state(self) -> dict[str, int]:
        with self._lock:
            jobs = list(self._jobs.values())
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
        return counts

    def reset(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.abort.set()
        self._archive.clear()
        self.settings = IngestSettings()
        self.table.delete_all()

    def close(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        with self._lock:
            for job in self._jobs.values():
                job.abort.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._archive.remove()

    def _close(self, job: IngestJob) -> None:
        if job.state is not JobState.OPEN:
            raise IngestError(
                400,
                "INVALIDJOBSTATE",
                f"Closing an already {_past(job.state)} Job not allowed",
            )
        self._set_state(job, JobState.UPLOAD_COMPLETE)
        job.closed_at = time.time()

    def _start_after_close(self, job: IngestJob) -> None:
        settings = self.settings
        if settings.clock is ClockMode.IMMEDIATE:
            self.process(job)
        elif settings.clock is ClockMode.BACKGROUND:
            self._schedule(job, settings.queue_delay_s)

    def _abort(self, job: IngestJob) -> None:
        if job.state.is_terminal:
            raise IngestError(
                400,
                "INVALIDJOBSTATE",
                f"Aborting already {_past(job.state)} Job not allowed",
            )
        job.abort.set()
        self._set_state(job, JobState.ABORTED)
        job.finished_at = time.time()

    def _schedule(self, job: IngestJob, delay_s: float) -> None:
        if delay_s <= 0:
            self._pool.submit(self.process, job)
            return
        timer = threading.Timer(delay_s, self._submit_from_timer, args=(job,))
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _submit_from_timer(self, job: IngestJob) -> None:
        self._timers.difference_update({t for t in self._timers if not t.is_alive()})
        with contextlib.suppress(RuntimeError):  # pool shut down while the timer waited
            self._pool.submit(self.process, job)

    def _set_state(self, job: IngestJob, state: JobState) -> None:
        job.state = state
        job.modstamp = time.time()
        if state in ACTIVE_STATES:
            with self._lock:  # callers hold job.lock; job.lock -> self._lock is the only nesting
                active = sum(1 for j in self._jobs.values() if j.state in ACTIVE_STATES)
            self.emulator.stats.observe_max("ingest.jobs_active", active)
        if state.is_terminal:
            self.emulator.stats.incr(f"ingest.jobs_{state.value}")

    # -- processing ----------------------------------------------------------------------------

    def process(self, job: IngestJob) -> None:
        with job.lock:
            if job.started or job.state is not JobState.UPLOAD_COMPLETE or job.abort.is_set():
                return  # already running, aborted, or deleted while queued
            job.started = True
            job.started_at = time.time()
            self._set_state(job, JobState.IN_PROGRESS)
        settings = dataclasses.replace(self.settings)
        try:
            self._process(job, settings)
        except CsvRejected as exc:
            self._finish(job, JobState.FAILED, str(exc))
        except Exception:
            log.exception("ingest job %s failed unexpectedly", job.id)
            self._finish(job, JobState.FAILED, "Unknown : An unexpected error occurred")

    def _process(self, job: IngestJob, settings: IngestSettings) -> None:
        parsed = self._parse(job)
        if job.object != schema.OBJECT_NAME or job.operation not in SUPPORTED_OPERATIONS:
            raise CsvRejected(
                f"InvalidJob : Operation {job.operation.value} on {job.object} "
                "is not supported by this emulator"
            )
        external_id = job.external_id_field if job.operation is Operation.UPSERT else None
        if job.operation in DELETE_OPERATIONS:
            opportunity.check_delete_header(parsed.header)
            columns, prepared = [], parsed.rows
        else:
            columns = opportunity.map_header(parsed.header, external_id)
            prepared = self.table.validate(parsed.rows, columns, external_id)
        prepared = prepared.append_column(opportunity.LOCK, _lock_mask(job, prepared, settings))
        total = prepared.num_rows
        stop_at = (
            total if settings.fail_after_rows is None else min(total, settings.fail_after_rows)
        )
        write = functools.partial(self._write, job, columns=columns, external_id=external_id)
        failure = self._run_batches(job, prepared, write, stop_at, settings)
        if failure is None and stop_at < total:
            failure = settings.fail_message
        if failure is not None:
            self._finish(job, JobState.FAILED, failure)
        else:
            self._finish(job, JobState.JOB_COMPLETE, None)

    def _parse(self, job: IngestJob) -> ParsedUpload:
        parsed = parse_upload(job.upload or b"", job.delimiter, job.line_ending)
        with job.lock:
            job.header, job.rows = parsed.header, parsed.rows
            job.row_count = parsed.rows.num_rows
            job.upload = None  # kept only when unparseable: then it is the unprocessed data
        self.emulator.stats.incr("ingest.rows_received", parsed.rows.num_rows)
        return parsed

    def _run_batches(
        self,
        job: IngestJob,
        prepared: pa.Table,
        write: Callable[[pa.Table], None],
        stop_at: int,
        settings: IngestSettings,
    ) -> str | None:
        """Write rows [0, stop_at) wave by wave; returns a job failure message, if any."""
        batch_rows = max(1, settings.internal_batch_rows)
        paced = settings.rows_per_second is not None and settings.rows_per_second > 0
        wave_rows = batch_rows * max(1, settings.parallel_batches) if paced else max(stop_at, 1)
        for wave_start in range(0, stop_at, wave_rows):
            wave_end = min(wave_start + wave_rows, stop_at)
            allowed_end = self._start_batches(job, wave_start, wave_end, batch_rows, settings)
            if paced and settings.rows_per_second:
                slowest = min(batch_rows, allowed_end - wave_start)
                if job.abort.wait(slowest / settings.rows_per_second):
                    return None
            if job.abort.is_set():
                return None
            if allowed_end > wave_start:
                write(prepared.slice(wave_start, allowed_end - wave_start))
            if allowed_end < wave_end:
                return "ExceededQuota : The daily Bulk API batch allocation has been exceeded"
        return None

    def _start_batches(
        self, job: IngestJob, start: int, end: int, batch_rows: int, settings: IngestSettings
    ) -> int:
        """Consume one DailyBulkApiBatches unit per batch; returns where the allowed rows end."""
        limits = self.emulator.services.get("limits")
        for batch_start in range(start, end, batch_rows):
            if limits is not None and not limits.consume(DAILY_BULK_API_BATCHES, 1):
                return batch_start
            with job.lock:
                job.retries += settings.batch_retries
            self.emulator.stats.incr("ingest.batches")
        return end

    def _write(
        self,
        job: IngestJob,
        batch: pa.Table,
        columns: list[opportunity.Column],
        external_id: str | None,
    ) -> None:
        if job.operation in DELETE_OPERATIONS:
            outcome = self.table.delete(batch)
        else:
            outcome = self.table.write(batch, columns, external_id)
        errors = outcome[opportunity.RESULT_ERROR]
        failed = pc.count(errors).as_py()
        lock_errors = pc.sum(pc.starts_with(pc.fill_null(errors, ""), UNABLE_TO_LOCK_ROW)).as_py()
        with job.lock:
            job.outcomes.append(outcome)
            job.lock_errors += int(lock_errors or 0)
            job.processed += outcome.num_rows
            job.failed += failed
            job.attempted += outcome.num_rows
        self.emulator.stats.incr("ingest.rows_processed", outcome.num_rows)
        self.emulator.stats.incr("ingest.rows_failed", failed)

    def _finish(self, job: IngestJob, state: JobState, error_message: str | None) -> None:
        with job.lock:
            if job.state is not JobState.IN_PROGRESS:
                return  # aborted meanwhile: Aborted wins
            job.error_message = error_message
            job.finished_at = time.time()
            self._set_state(job, state)
        self._archive_job(job)

    def _archive_job(self, job: IngestJob) -> None:
        """Move a finished job's rows and outcomes to disk; they are read back per results call."""
        with job.lock:
            if job.rows is None or job.archived:
                return
            rows, outcome = job.rows, _outcomes(job)
        self._archive.store(job.id, rows, outcome)
        with job.lock:
            job.archived, job.rows, job.outcomes = True, None, []

    def _rows(self, job: IngestJob) -> pa.Table | None:
        with job.lock:
            if not job.archived:
                return job.rows
        return self._archive.load(job.id, "rows")

    def _outcome(self, job: IngestJob) -> pa.Table:
        with job.lock:
            if not job.archived:
                return _outcomes(job)
        return self._archive.load(job.id, "outcomes")

    def _new_job_id(self) -> str:
        while True:
            job_id = f"{JOB_ID_PREFIX}{secrets.randbelow(10**10):010d}YAA"
            if job_id not in self._jobs:
                return job_id

    # -- results -------------------------------------------------------------------------------

    def successful_results(self, job_id: str) -> bytes:
        return self._results(job_id, ["sf__Id", "sf__Created"], _successful)

    def failed_results(self, job_id: str) -> bytes:
        return self._results(job_id, ["sf__Id", "sf__Error"], _failed)

    def _results(
        self,
        job_id: str,
        result_names: list[str],
        select: Callable[[pa.Table], tuple[pa.Table, list[Any]]],
    ) -> bytes:
        job = self.get(job_id)
        with job.lock:
            header = job.header or []
        chosen, result_columns = select(self._outcome(job))
        return _render(job, result_names, header, result_columns, self._rows(job), chosen)

    def unprocessed_records(self, job_id: str) -> bytes:
        job = self.get(job_id)
        self._parse_for_unprocessed(job)
        with job.lock:
            header = job.header or []
            attempted = job.attempted
            show = job.state in (JobState.FAILED, JobState.ABORTED)
            parsed_rows = job.row_count
            unparseable = job.upload if job.rows is None and not job.archived else None
        if show and unparseable is not None:
            return unparseable
        eol = job.line_ending.chars
        text = job.delimiter.char.join(header) + eol
        rows = self._rows(job) if show and attempted < parsed_rows else None
        if rows is None:
            return text.encode("utf-8")
        remaining = rows.slice(attempted).drop_columns([ROW_NUMBER])
        return text.encode("utf-8") + _csv_body(remaining, job)

    def _parse_for_unprocessed(self, job: IngestJob) -> None:
        with job.lock:
            if job.rows is not None or job.upload is None or job.started:
                return
            try:
                parsed = parse_upload(job.upload, job.delimiter, job.line_ending)
            except CsvRejected:
                return
            job.header, job.rows = parsed.header, parsed.rows
            job.row_count = parsed.rows.num_rows


class JobArchive:
    """Rows and outcomes of finished jobs, on disk in the data directory: results stay readable
    (Salesforce keeps them for days) without holding ~160 MB per 1M rows in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.remove()  # left by a process that was killed; the DuckDB file lock keeps it ours
        self.folder.mkdir(parents=True)

    def store(self, job_id: str, rows: pa.Table, outcome: pa.Table) -> None:
        for part, table in (("rows", rows), ("outcomes", outcome)):
            path = str(self._path(job_id, part))
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)

    def load(self, job_id: str, part: str) -> pa.Table:
        with pa.OSFile(str(self._path(job_id, part))) as source:
            return pa.ipc.open_file(source).read_all()

    def discard(self, job_id: str) -> None:
        for part in ("rows", "outcomes"):
            self._path(job_id, part).unlink(missing_ok=True)

    def clear(self) -> None:
        for path in self.folder.glob("*.arrow"):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _path(self, job_id: str, part: str) -> Path:
        return self.folder / f"{job_id}.{part}.arrow"


def _outcomes(job: IngestJob) -> pa.Table:
    if job.outcomes:
        return pa.concat_tables(job.outcomes)
    return pa.table(
        {
            ROW_NUMBER: pa.array([], pa.int64()),
            opportunity.RESULT_ID: pa.array([], pa.string()),
            opportunity.RESULT_CREATED: pa.array([], pa.bool_()),
            opportunity.RESULT_ERROR: pa.array([], pa.string()),
        }
    )


def _successful(outcome: pa.Table) -> tuple[pa.Table, list[Any]]:
    ok = outcome.filter(pc.is_null(outcome[opportunity.RESULT_ERROR]))
    created = pc.if_else(ok[opportunity.RESULT_CREATED], "true", "false")
    return ok, [ok[opportunity.RESULT_ID], created]


def _failed(outcome: pa.Table) -> tuple[pa.Table, list[Any]]:
    bad = outcome.filter(pc.is_valid(outcome[opportunity.RESULT_ERROR]))
    ids = pc.fill_null(bad[opportunity.RESULT_ID], "")
    return bad, [ids, bad[opportunity.RESULT_ERROR]]


def _render(
    job: IngestJob,
    result_names: list[str],
    header: list[str],
    result_columns: list[Any],
    rows: pa.Table | None,
    outcome: pa.Table,
) -> bytes:
    delimiter, eol = job.delimiter.char, job.line_ending.chars
    line = delimiter.join([*(f'"{n}"' for n in result_names), *header]) + eol
    if outcome.num_rows == 0 or rows is None:
        return line.encode("utf-8")
    originals = rows.take(outcome[ROW_NUMBER]).drop_columns([ROW_NUMBER])
    names = [f"r{i}" for i in range(len(result_columns))] + originals.column_names
    table = pa.Table.from_arrays([*result_columns, *originals.columns], names=names)
    return line.encode("utf-8") + _csv_body(table, job)


def _csv_body(table: pa.Table, job: IngestJob) -> bytes:
    if table.num_rows == 0:
        return b""
    sink = io.BytesIO()
    pacsv.write_csv(
        table,
        sink,
        write_options=pacsv.WriteOptions(
            include_header=False,
            delimiter=job.delimiter.char,
            quoting_style="all_valid",
            eol=job.line_ending.chars,
        ),
    )
    return sink.getvalue()


def _lock_mask(job: IngestJob, prepared: pa.Table, settings: IngestSettings) -> pa.Array:
    if settings.lock_error_rate <= 0:
        return bool_array(np.zeros(prepared.num_rows, dtype=bool))
    rng = np.random.default_rng([settings.lock_error_seed, job.sequence])
    return bool_array(rng.random(prepared.num_rows) < settings.lock_error_rate)


def _too_large(limit: int) -> IngestError:
    return IngestError(
        413,
        "REQUEST_ENTITY_TOO_LARGE",
        f"The uploaded data exceeds the maximum of {limit} bytes of raw CSV per job",
    )


def _multiple_contents(job_id: str) -> str:
    return (
        f"Found multiple contents for job: <{job_id}>, please 'Close' / 'Abort' / 'Delete' the "
        "current Job then create a new Job and make sure the content is uploaded only once"
    )


def _past(state: JobState) -> str:
    return {
        JobState.JOB_COMPLETE: "Completed",
        JobState.FAILED: "Failed",
        JobState.ABORTED: "Aborted",
        JobState.UPLOAD_COMPLETE: "Closed",
        JobState.IN_PROGRESS: "InProgress",
    }.get(state, state.value)
