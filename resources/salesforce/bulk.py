"""Bulk API 2.0 ingest that does not lose records.

Flow: Arrow batches -> CSV chunks (<= ``max_job_bytes`` raw and <= ``max_job_rows``; one chunk in
memory) -> per chunk ONE job: create, ONE PUT, PATCH UploadComplete (uploads run one at a time in
the calling thread) -> ``jobs_in_flight`` worker threads poll each job with capped backoff and a
deadline, read its results as Arrow, and classify failed rows:

* transient (``UNABLE_TO_LOCK_ROW``, timeouts, unprocessed rows of a Failed job) are re-submitted
  from the echoed result rows in follow-up jobs, with backoff, at most ``max_resubmits`` times;
* permanent ones are returned with Salesforce's code and message and the external id;
* a job of this load that went Failed with ``ExceededQuota`` (the daily Bulk batch allowance is
  spent) stops the load with ``RequestLimitExceededError``: re-sending cannot succeed today. Its
  rows are neither re-sent nor rejected; resuming the load re-follows the job and re-sends them
  (if the allowance is still spent, that job fails the same way and the load stops again).

Every row sent is accounted for exactly once: ``rows_sent == created + updated + rejected``. Rows
that vanish from all three result files (seen for blank external ids) are rejected as
``NOT_IN_RESULTS``, so nothing disappears silently.

Memory is bounded by one chunk plus one job's results, whatever the row count and the number of
jobs in flight: the next chunk is encoded only once a job slot is free, the external ids of jobs
in flight wait on disk, and results are read one job at a time, single-threaded from a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resources.salesforce import protocol
from resources.salesforce.client import SalesforceClient
from resources.salesforce.csv_encoding import (
    CsvEncodingError,
    CsvOptions,
    encode_echoed,
    encode_header,
    encode_lines,
    line_offsets,
)
from resources.salesforce.errors import (
    ConnectionFailedError,
    RequestLimitExceededError,
    RetryableServerError,
    SalesforceError,
)
from resources.salesforce.jobs import PollSettings, Sleep, wait_for_job
from resources.salesforce.models import JobInfo
from resources.salesforce.protocol import JobState, Operation

DEFAULT_MAX_JOB_BYTES: Final = 100_000_000  # "100 MB raw", kept below 100 MiB on purpose
TRANSIENT_ROW_CODES: Final = frozenset(
    {protocol.UNABLE_TO_LOCK_ROW, "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT", "TIMEOUT"}
)
# errorMessage prefixes of a Failed job whose unprocessed rows would fail again if re-sent.
PERMANENT_JOB_ERRORS: Final = (
    "ClientInputError",
    "InvalidBatch",
    "InvalidJob",
    "InvalidOperation",
    "FeatureNotEnabled",
    "InvalidUser",
    "InvalidUrl",
    "MethodNotAllowed",
    "InvalidXML",
)
# errorMessage prefix of a job failed for the spent DailyBulkApiBatches allowance.
EXCEEDED_QUOTA: Final = "ExceededQuota"
# Smaller jobs are dominated by the org's fixed cost per job and would understate its pace.
PACE_SAMPLE_ROWS: Final = 10_000
NOT_IN_RESULTS: Final = "NOT_IN_RESULTS"
JOB_ABORTED: Final = "JOB_ABORTED"
UNPROCESSED: Final = "UNPROCESSED"
REJECTED_SCHEMA: Final = pa.schema(
    [
        ("external_id", pa.string()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("job_id", pa.string()),
    ]
)
_ERROR_PATTERN: Final = r"(?s)^(?P<code>[A-Za-z_]+)(?::(?P<message>.*?))?(?::[^:]*--)?$"


@dataclass(frozen=True)
class ObjectSpec:
    object_name: str
    external_id_field: str
    operation: Operation = Operation.UPSERT


@dataclass(frozen=True)
class IngestSettings:
    max_job_bytes: int = DEFAULT_MAX_JOB_BYTES
    max_job_rows: int = 1_000_000
    jobs_in_flight: int = 4
    poll: PollSettings = field(default_factory=PollSettings)
    # The first poll of a job waits rows / this pace (fewer API calls); once jobs of the load have
    # finished, the pace they showed replaces it (``IngestReport.org_rows_per_s``).
    expected_rows_per_s: float = 20_000.0
    max_resubmits: int = 3
    resubmit_backoff_s: float = 2.0
    max_upload_attempts: int = 3
    csv: CsvOptions = field(default_factory=CsvOptions)


@dataclass
class CsvChunk:
    data: bytearray  # header + rows
    rows: int
    keys: pa.Array  # external ids as they appear in the CSV, in row order

    @property
    def last_key(self) -> str | None:
        return self.keys[-1].as_py() if len(self.keys) else None


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    state: str
    attempt: int  # 0 = first upload of the rows, n = n-th re-submission
    rows: int
    created: int
    updated: int
    rejected: int
    resubmitted: int
    error_message: str = ""


@dataclass
class IngestReport:
    rows_sent: int = 0
    created: int = 0
    updated: int = 0
    rejected: pa.Table = field(default_factory=REJECTED_SCHEMA.empty_table)
    jobs: list[JobOutcome] = field(default_factory=list)
    resubmitted_rows: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    processed_rows: int = 0  # of finished jobs of at least PACE_SAMPLE_ROWS rows
    processing_s: float = 0.0  # their ``totalProcessingTime``

    @property
    def rejected_count(self) -> int:
        return int(self.rejected.num_rows)

    @property
    def balanced(self) -> bool:
        return self.rows_sent == self.created + self.updated + self.rejected_count

    @property
    def rows_per_s(self) -> float:
        return self.rows_sent / self.seconds if self.seconds else 0.0

    @property
    def org_rows_per_s(self) -> float | None:
        """The pace the org processed this load's jobs at (their ``totalProcessingTime``), or
        None when no job big enough to say finished: a good ``expected_rows_per_s``."""
        return self.processed_rows / self.processing_s if self.processing_s else None

    def rejected_by_code(self) -> dict[str, int]:
        if not self.rejected.num_rows:
            return {}
        counts = pc.value_counts(self.rejected["error_code"]).to_pylist()
        return {c["values"]: c["counts"] for c in counts}


class IngestInterruptedError(SalesforceError):
    """The load stopped early; ``report`` holds what finished, ``cause`` why it stopped."""

    def __init__(self, report: IngestReport, cause: BaseException) -> None:
        self.report = report
        self.cause = cause
        super().__init__(f"bulk ingest interrupted: {cause}")


JobSubmitted = Callable[[str, str | None], None]
JobFinished = Callable[[JobOutcome], None]


def cut_chunks(
    batches: Iterable[pa.RecordBatch],
    spec: ObjectSpec,
    settings: IngestSettings = IngestSettings(),
) -> Iterator[CsvChunk]:
    """CSV chunks of at most ``max_job_bytes`` (header included) and ``max_job_rows`` rows, cut at
    row boundaries; only the chunk being filled is held (a yielded chunk is the caller's alone)."""
    builder: _ChunkBuilder | None = None
    # Encoding stays on this thread: an encoding thread saved 0.5 s per 1M rows on idle cores but
    # kept 30-40 MB more in its allocator arenas.
    for encoded in (_encode(batch, spec, settings) for batch in batches if batch.num_rows):
        if builder is None:
            builder = _ChunkBuilder(encoded.header)
        elif encoded.header != builder.header:
            raise CsvEncodingError("all record batches of one load must have the same columns")
        offsets, buffer, batch_keys = encoded.offsets, encoded.buffer, encoded.keys
        start, batch_rows = 0, len(batch_keys)
        while start < batch_rows:
            room = settings.max_job_bytes - builder.size
            fits = int(np.searchsorted(offsets[start + 1 :] - offsets[start], room, side="right"))
            take = min(fits, settings.max_job_rows - builder.rows, batch_rows - start)
            if take == 0:
                if builder.rows == 0:
                    raise CsvEncodingError(
                        f"one row is larger than max_job_bytes={settings.max_job_bytes}"
                    )
                yield builder.take()
                continue
            # A zero-copy slice of the encoded buffer: appended once, no intermediate bytes.
            builder.add(
                buffer[int(offsets[start]) : int(offsets[start + take])],
                batch_keys.slice(start, take),
            )
            start += take
            if builder.rows >= settings.max_job_rows:
                yield builder.take()
    if builder is not None and builder.rows:
        yield builder.take()


@dataclass(frozen=True)
class _EncodedBatch:
    header: bytes
    offsets: np.ndarray  # len + 1 byte offsets of the rows into ``buffer``
    buffer: pa.Buffer  # the rows' CSV lines back to back
    keys: pa.Array  # external ids, in row order


def _encode(batch: pa.RecordBatch, spec: ObjectSpec, settings: IngestSettings) -> _EncodedBatch:
    lines = encode_lines(batch, settings.csv)
    return _EncodedBatch(
        header=encode_header(batch.schema.names, settings.csv),
        offsets=line_offsets(lines).astype(np.int64),
        buffer=lines.buffers()[2],
        keys=_key_strings(batch, spec.external_id_field),
    )


class _ChunkBuilder:
    """The chunk being filled. ``take`` hands it over and starts an empty one, so the generator
    that yields it keeps no reference while the caller waits, uploads or frees it."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self._reset()

    def _reset(self) -> None:
        self._data = bytearray(self.header)
        self._keys: list[pa.Array] = []
        self.rows = 0

    @property
    def size(self) -> int:
        return len(self._data)

    def add(self, lines: pa.Buffer, keys: pa.Array) -> None:
        self._data += lines
        self._keys.append(keys)
        self.rows += len(keys)

    def take(self) -> CsvChunk:
        chunk = CsvChunk(self._data, self.rows, pa.concat_arrays(self._keys))
        self._reset()
        return chunk


def _key_strings(batch: pa.RecordBatch, external_id_field: str) -> pa.Array:
    index = batch.schema.get_field_index(external_id_field)
    if index < 0:
        raise CsvEncodingError(f"the batch has no external id column {external_id_field!r}")
    column = batch.column(index)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return pc.fill_null(pc.cast(column, pa.string()), "")


def parse_row_errors(errors: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(code, message) arrays from ``sf__Error`` values ``CODE:message:fields --``."""
    parts = pc.extract_regex(errors, _ERROR_PATTERN)
    codes = pc.fill_null(pc.struct_field(parts, "code"), "UNKNOWN")
    messages = pc.coalesce(pc.struct_field(parts, "message"), errors)
    return codes, messages


@dataclass
class _Submitted:
    job_id: str
    rows: int | None  # None for a resumed job (counted from its results)
    keys_path: str | None  # where _SentKeys keeps the external ids sent; None for a resumed job
    attempt: int = 0


class _SentKeys:
    """The external ids of jobs in flight, kept on disk until their results are read: a load holds
    one chunk and one job's results in memory, however many jobs are in flight."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def put(self, job_id: str, keys: pa.Array) -> str:
        path = os.path.join(self._folder, f"{job_id}.arrow")
        batch = pa.record_batch([keys], names=["key"])
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return path

    def pop(self, path: str) -> pa.Array:
        with pa.OSFile(path) as source:
            keys = pa.ipc.open_file(source).read_all().column(0).combine_chunks()
        os.remove(path)
        return keys


@dataclass
class _Results:
    success: pa.Table
    failed: pa.Table
    unprocessed: pa.Table

    @property
    def rows(self) -> int:
        return int(self.success.num_rows + self.failed.num_rows + self.unprocessed.num_rows)


class BulkIngest:
    """One load: ``run(batches)`` or ``run(None, resume_job_ids=[...])``. Not reusable."""

    def __init__(
        self,
        client: SalesforceClient,
        spec: ObjectSpec,
        settings: IngestSettings = IngestSettings(),
        *,
        on_job_submitted: JobSubmitted | None = None,
        on_job_finished: JobFinished | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.client = client
        self.spec = spec
        self.settings = settings
        self._on_submitted = on_job_submitted or (lambda job_id, last: None)
        self._on_finished = on_job_finished or (lambda outcome: None)
        self._sleep = sleep
        self._lock = threading.Lock()
        # Results of one job at a time: what the load holds stays one chunk being encoded plus one
        # job's results, however many jobs are in flight and whenever they finish.
        self._results_turn = threading.Lock()
        self._report = IngestReport()
        self._rejected: list[pa.Table] = []
        self._errors: list[BaseException] = []
        self._slots = threading.BoundedSemaphore(settings.jobs_in_flight)
        self._sent_keys: _SentKeys | None = None

    def run(
        self, batches: Iterable[pa.RecordBatch] | None, resume_job_ids: Iterable[str] = ()
    ) -> IngestReport:
        started = time.monotonic()
        calls_before = self.client.api_calls
        futures: list[Future[None]] = []
        source_error: BaseException | None = None
        with (
            tempfile.TemporaryDirectory(prefix="sfload-bulk-") as folder,
            ThreadPoolExecutor(self.settings.jobs_in_flight, "sf-bulk") as pool,
        ):
            self._sent_keys = _SentKeys(folder)
            try:
                for job_id in resume_job_ids:
                    self._slots.acquire()
                    futures.append(pool.submit(self._follow, _Submitted(job_id, None, None)))
                chunks = cut_chunks(batches or (), self.spec, self.settings)
                while (chunk := self._next_chunk_when_slot_free(chunks)) is not None:
                    try:
                        job_id = self._upload(chunk.data)
                    except BaseException:
                        self._slots.release()
                        raise
                    with self._lock:
                        self._report.rows_sent += chunk.rows
                    self._on_submitted(job_id, chunk.last_key)
                    submitted = self._submitted(job_id, chunk.rows, chunk.keys)
                    del chunk
                    futures.append(pool.submit(self._follow, submitted))
            except BaseException as exc:
                source_error = exc
            for future in futures:
                future.result()
        report = self._finish(started, calls_before)
        cause = source_error or (self._errors[0] if self._errors else None)
        if cause is not None:
            raise IngestInterruptedError(report, cause) from cause
        return report

    def _next_chunk_when_slot_free(self, chunks: Iterator[CsvChunk]) -> CsvChunk | None:
        """Take a job slot, then encode the next chunk (None when done or a job failed): a chunk
        is never held in memory while it waits for a slot. The caller owns the slot it got."""
        self._slots.acquire()
        try:
            chunk = None if self._errors else next(chunks, None)
        except BaseException:
            self._slots.release()
            raise
        if chunk is None:
            self._slots.release()
        return chunk

    # -- upload --------------------------------------------------------------------------------

    def _upload(self, data: bytes | bytearray) -> str:
        """create + ONE PUT + UploadComplete; a failed upload aborts its job and starts over
        with a new one (an Open job is never processed, and upsert is idempotent)."""
        last_error: SalesforceError | None = None
        for attempt in range(self.settings.max_upload_attempts):
            if attempt:
                self._sleep(self.settings.resubmit_backoff_s * 2 ** (attempt - 1))
            job_id = self._create_job()
            try:
                self.client.call(
                    "PUT",
                    f"jobs/ingest/{job_id}/batches",
                    data=data,
                    headers={"Content-Type": "text/csv"},
                    idempotent=False,  # a second PUT to the same job is refused
                    expected=(201,),
                    label="ingest_upload",
                )
                self._close_job(job_id)
                return job_id
            except (RetryableServerError, ConnectionFailedError) as exc:
                last_error = exc
                self._abort_quietly(job_id)
        assert last_error is not None
        raise last_error

    def _create_job(self) -> str:
        body: dict[str, str] = {
            "object": self.spec.object_name,
            "operation": self.spec.operation.value,
            "contentType": "CSV",
            "columnDelimiter": self.settings.csv.delimiter.value,
            "lineEnding": protocol.LineEnding.LF.value,
        }
        if self.spec.operation is Operation.UPSERT:
            body["externalIdFieldName"] = self.spec.external_id_field
        response = self.client.call("POST", "jobs/ingest", json=body, label="ingest_create")
        return str(response.json()["id"])

    def _close_job(self, job_id: str) -> None:
        try:
            self.client.call(
                "PATCH",
                f"jobs/ingest/{job_id}",
                json={"state": JobState.UPLOAD_COMPLETE.value},
                idempotent=True,
                label="ingest_close",
            )
        except SalesforceError as exc:
            # A retried close whose first attempt went through answers INVALIDJOBSTATE.
            if exc.error_code != protocol.INVALIDJOBSTATE:
                raise
            if self.client.get_job(job_id).state is JobState.OPEN:
                raise

    def _abort_quietly(self, job_id: str) -> None:
        # Best effort: an Open job that is never closed is never processed anyway.
        with contextlib.suppress(SalesforceError):
            self.client.abort_job(job_id)

    # -- follow a job to its end ---------------------------------------------------------------

    def _follow(self, submitted: _Submitted) -> None:
        try:
            current: _Submitted | None = submitted
            while current is not None:
                current = self._settle(current)
        except BaseException as exc:
            with self._lock:
                self._errors.append(exc)
        finally:
            self._slots.release()

    def _settle(self, sub: _Submitted) -> _Submitted | None:
        """Wait for one job, account for its rows, and return the follow-up job if any."""
        if sub.rows is None and self.client.get_job(sub.job_id).state is JobState.OPEN:
            # Resumed job whose upload never completed: nothing of it was processed.
            self._abort_quietly(sub.job_id)
            self._on_finished(JobOutcome(sub.job_id, JobState.ABORTED.value, 0, 0, 0, 0, 0, 0))
            return None
        first_delay = None
        if sub.rows:
            first_delay = min(
                self.settings.poll.max_s,
                max(self.settings.poll.initial_s, sub.rows / self._expected_rows_per_s()),
            )
        info = wait_for_job(
            self.client,
            sub.job_id,
            "ingest",
            self.settings.poll,
            sleep=self._sleep,
            first_delay_s=first_delay,
            expected_records=sub.rows,
        )
        with self._results_turn:
            results = self._collect(info)
            created = _count_true(results.success[protocol.RESULT_CREATED])
            updated = results.success.num_rows - created
            retry_rows, rejected = self._classify(info, sub, results)
            returned_rows = results.rows
            del results
        # A resumed job is re-sent instead: by now the allowance may be back.
        allowance_spent = sub.rows is not None and _batch_allowance_spent(info)
        held_rows = retry_rows.num_rows if allowance_spent else 0
        if allowance_spent:
            retry_rows = retry_rows.slice(0, 0)
        can_retry = sub.attempt < self.settings.max_resubmits
        if retry_rows.num_rows and not can_retry:
            rejected = pa.concat_tables([rejected, self._exhausted(retry_rows, info)])
            retry_rows = retry_rows.slice(0, 0)
        with self._lock:
            if sub.rows is None:
                self._report.rows_sent += returned_rows
            self._report.created += created
            self._report.updated += updated
            self._add_pace_sample(info)
            self._report.resubmitted_rows += retry_rows.num_rows
            self._rejected.append(rejected)
        outcome = JobOutcome(
            job_id=info.id,
            state=info.state.value,
            attempt=sub.attempt,
            rows=sub.rows if sub.rows is not None else -1,
            created=created,
            updated=updated,
            rejected=rejected.num_rows,
            resubmitted=retry_rows.num_rows,
            error_message=info.error_message,
        )
        with self._lock:
            self._report.jobs.append(outcome)
        self._on_finished(outcome)
        if allowance_spent:
            raise _batch_allowance_error(info, held_rows)
        if not retry_rows.num_rows:
            return None
        self._sleep(self.settings.resubmit_backoff_s * 2**sub.attempt)
        job_id = self._upload(encode_echoed(retry_rows, self.settings.csv))
        self._on_submitted(job_id, None)
        keys = retry_rows[self.spec.external_id_field].combine_chunks()
        return self._submitted(job_id, retry_rows.num_rows, keys, sub.attempt + 1)

    def _submitted(self, job_id: str, rows: int, keys: pa.Array, attempt: int = 0) -> _Submitted:
        assert self._sent_keys is not None, "only while run() is loading"
        return _Submitted(job_id, rows, self._sent_keys.put(job_id, keys), attempt)

    def _expected_rows_per_s(self) -> float:
        with self._lock:
            observed = self._report.org_rows_per_s
        return observed or self.settings.expected_rows_per_s

    def _add_pace_sample(self, info: JobInfo) -> None:
        """Under ``self._lock``."""
        if info.number_records_processed >= PACE_SAMPLE_ROWS and info.total_processing_time_ms:
            self._report.processed_rows += info.number_records_processed
            self._report.processing_s += info.total_processing_time_ms / 1000

    def _collect(self, info: JobInfo) -> _Results:
        def fetch(resource: str, needed: bool, columns: list[str] | None = None) -> pa.Table:
            if not needed:
                return pa.table({})
            _, table = self.client.get_csv(
                f"jobs/ingest/{info.id}/{resource}", label=f"ingest_{resource}", columns=columns
            )
            return table

        ext = self.spec.external_id_field
        # Successful rows echo every uploaded column; only these two are ever used.
        success = fetch("successfulResults", True, [protocol.RESULT_CREATED, ext])
        success_columns = [c for c in (protocol.RESULT_CREATED, ext) if c in success.column_names]
        success = (
            success.select(success_columns)
            if success.num_columns
            else _empty([protocol.RESULT_CREATED, ext])
        )
        failed = fetch(
            "failedResults",
            info.number_records_failed > 0 or info.state is not JobState.JOB_COMPLETE,
        )
        unprocessed = fetch("unprocessedrecords", info.state is not JobState.JOB_COMPLETE)
        return _Results(success, failed, unprocessed)

    def _classify(
        self, info: JobInfo, sub: _Submitted, results: _Results
    ) -> tuple[pa.Table, pa.Table]:
        """(rows to re-submit with their original columns, rejected rows)."""
        ext = self.spec.external_id_field
        retry_parts: list[pa.Table] = []
        rejected_parts: list[pa.Table] = []
        failed = results.failed
        if failed.num_rows:
            codes, messages = parse_row_errors(failed[protocol.RESULT_ERROR].combine_chunks())
            transient = pc.or_(
                pc.is_in(codes, pa.array(sorted(TRANSIENT_ROW_CODES))),
                pc.match_substring(messages, "timeout", ignore_case=True),
            )
            original = failed.drop_columns([protocol.RESULT_ID, protocol.RESULT_ERROR])
            retry_parts.append(original.filter(transient))
            keep = pc.invert(transient)
            rejected_parts.append(
                _rejected(
                    failed[ext].filter(keep), codes.filter(keep), messages.filter(keep), info.id
                )
            )
        unprocessed = results.unprocessed
        if unprocessed.num_rows:
            if info.state is JobState.FAILED and not info.error_message.startswith(
                PERMANENT_JOB_ERRORS
            ):
                retry_parts.append(unprocessed)
            else:
                code = JOB_ABORTED if info.state is JobState.ABORTED else UNPROCESSED
                rejected_parts.append(
                    _rejected_constant(unprocessed[ext], code, info.error_message, info.id)
                )
        if sub.keys_path is not None:
            assert self._sent_keys is not None, "only while run() is loading"
            sent = self._sent_keys.pop(sub.keys_path)
            seen = pa.chunked_array(
                [
                    *results.success[ext].chunks,
                    *(failed[ext].chunks if failed.num_rows else []),
                    *(unprocessed[ext].chunks if unprocessed.num_rows else []),
                ],
                type=pa.string(),
            ).combine_chunks()
            missing = sent.filter(pc.invert(pc.is_in(sent, seen)))
            if len(missing):
                message = (
                    info.error_message
                    or "row absent from successful, failed and unprocessed results"
                )
                rejected_parts.append(_rejected_constant(missing, NOT_IN_RESULTS, message, info.id))
        retry = (
            pa.concat_tables(retry_parts, promote_options="default")
            if retry_parts
            else pa.table({})
        )
        rejected = (
            pa.concat_tables(rejected_parts) if rejected_parts else REJECTED_SCHEMA.empty_table()
        )
        return retry, rejected

    def _exhausted(self, retry_rows: pa.Table, info: JobInfo) -> pa.Table:
        message = f"still failing after {self.settings.max_resubmits} re-submissions" + (
            f": {info.error_message}" if info.error_message else ""
        )
        return _rejected_constant(
            retry_rows[self.spec.external_id_field], "RETRIES_EXHAUSTED", message, info.id
        )

    def _finish(self, started: float, calls_before: int) -> IngestReport:
        report = self._report
        if self._rejected:
            report.rejected = pa.concat_tables(self._rejected)
        report.api_calls = self.client.api_calls - calls_before
        report.seconds = time.monotonic() - started
        return report


def abort_open_jobs(client: SalesforceClient, object_name: str | None = None) -> list[str]:
    """Abort every unfinished ingest job (optionally of one object); returns their ids."""
    aborted = []
    for job in client.list_open_jobs(object_name):
        client.abort_job(job.id)
        aborted.append(job.id)
    return aborted


def _batch_allowance_spent(info: JobInfo) -> bool:
    return info.state is JobState.FAILED and info.error_message.startswith(EXCEEDED_QUOTA)


def _batch_allowance_error(info: JobInfo, held_rows: int) -> RequestLimitExceededError:
    return RequestLimitExceededError(
        f"{protocol.DAILY_BULK_API_BATCHES} Limit exceeded: Bulk job {info.id} failed "
        f"({info.error_message}); its {held_rows} row(s) not loaded are re-sent when the load "
        "is resumed",
        error_code=EXCEEDED_QUOTA,
    )


def _count_true(column: pa.ChunkedArray | pa.Array) -> int:
    if len(column) == 0:
        return 0
    return int(pc.sum(pc.equal(pc.utf8_lower(column), "true")).as_py() or 0)


def _empty(names: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in names})


def _rejected(
    keys: pa.Array | pa.ChunkedArray, codes: pa.Array, messages: pa.Array, job_id: str
) -> pa.Table:
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    return pa.table(
        [
            pc.cast(keys, pa.string()),
            codes,
            messages,
            pa.array([job_id] * len(codes), pa.string()),
        ],
        schema=REJECTED_SCHEMA,
    )


def _rejected_constant(
    keys: pa.Array | pa.ChunkedArray, code: str, message: str, job_id: str
) -> pa.Table:
    n = len(keys)
    return _rejected(
        keys if isinstance(keys, pa.Array) else keys.combine_chunks(),
        pa.array([code] * n, pa.string()),
        pa.array([message] * n, pa.string()),
        job_id,
    )
