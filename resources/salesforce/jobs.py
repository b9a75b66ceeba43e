"""Shared by Bulk ingest and query: polling with capped backoff and a deadline; CSV results to Arrow."""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pyarrow as pa
import pyarrow.csv as pacsv
import requests

from resources.salesforce.errors import (
    JobAbortedError,
    JobFailedError,
    PollDeadlineExceededError,
)
from resources.salesforce.models import JobInfo
from resources.salesforce.protocol import JobState

if TYPE_CHECKING:
    from resources.salesforce.client import SalesforceClient

READ_BLOCK_BYTES: Final = 1024 * 1024
Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class PollSettings:
    initial_s: float = 1.0
    factor: float = 1.6
    max_s: float = 20.0
    deadline_s: float = 4 * 3600.0  # per job; the job itself continues when we give up

    def delays(self) -> list[float]:
        """The first few delays, for documentation and tests."""
        out, delay = [], self.initial_s
        for _ in range(8):
            out.append(delay)
            delay = min(self.max_s, delay * self.factor)
        return out


def wait_for_job(
    client: SalesforceClient,
    job_id: str,
    kind: str,
    settings: PollSettings,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    first_delay_s: float | None = None,
    expected_records: int | None = None,
) -> JobInfo:
    """Poll until the job is terminal; JobComplete and Failed/Aborted are returned (not raised):
    the caller decides, since Failed ingest jobs still have results to collect.

    With ``first_delay_s`` (a job just closed) the first poll waits that long; without it (a
    resumed job) the first poll is at once. Later polls wait for what the job's own progress
    predicts when ``expected_records`` is known and some are processed, else back off from a
    fraction of the first estimate, so a job that outlives it is not left unpolled for long.
    """
    started = clock()
    deadline = started + settings.deadline_s
    if first_delay_s is not None:
        sleep(min(first_delay_s, settings.deadline_s))
    backoff = _backoff_after(first_delay_s, settings)
    while True:
        info = client.get_job(job_id, kind)
        if info.state.is_terminal:
            return info
        predicted = _remaining_s(info, expected_records, clock() - started)
        delay = (
            backoff
            if predicted is None
            else min(settings.max_s, max(settings.initial_s, predicted))
        )
        if clock() + delay > deadline:
            raise PollDeadlineExceededError(
                f"job {job_id} still {info.state} after {settings.deadline_s:.0f}s; "
                "it continues at Salesforce, resume by job id",
                job_id=job_id,
                state=info.state.value,
            )
        sleep(delay)
        backoff = min(settings.max_s, backoff * settings.factor)


def _backoff_after(first_delay_s: float | None, settings: PollSettings) -> float:
    """The first delay of the backoff after the first poll: the usual growth after a short first
    wait, a quarter of a long first estimate (the job is probably nearly done)."""
    if first_delay_s is None:
        return settings.initial_s
    grown = first_delay_s * settings.factor
    return min(settings.max_s, grown, max(settings.initial_s, first_delay_s * 0.25))


def _remaining_s(info: JobInfo, expected_records: int | None, elapsed_s: float) -> float | None:
    """Seconds the job needs for its remaining records at the rate it has shown so far."""
    processed = info.number_records_processed
    if not expected_records or processed <= 0 or processed >= expected_records or elapsed_s <= 0:
        return None
    return (expected_records - processed) * elapsed_s / processed


def raise_for_failed_query(info: JobInfo) -> None:
    if info.state is JobState.FAILED:
        raise JobFailedError(
            f"query job {info.id} failed: {info.error_message or 'no message'}",
            job_id=info.id,
            state=info.state.value,
            error_message=info.error_message,
        )
    if info.state is JobState.ABORTED:
        raise JobAbortedError(f"query job {info.id} was aborted", job_id=info.id, state="Aborted")


def read_csv_response(response: requests.Response, columns: list[str] | None = None) -> pa.Table:
    """A results CSV streamed to a temporary file, then read into Arrow with every column a string
    (no type guessing: ids like ``00123`` stay text). ``columns`` keeps only those. Arrow reads the
    file by path with its own I/O, so no block of it becomes a Python ``bytes``."""
    with tempfile.TemporaryDirectory(prefix="sfload-results-") as folder:
        path = f"{folder}/results.csv"
        with open(path, "wb") as out:
            for block in response.iter_content(READ_BLOCK_BYTES):
                out.write(block)
        response.close()
        return read_csv_file(path, columns)


def read_csv_file(path: str, columns: list[str] | None = None) -> pa.Table:
    with open(path, "rb") as stream:
        header_line = stream.readline()
    if not header_line.strip():
        return pa.table({name: pa.array([], pa.string()) for name in columns or []})
    header = next(csv.reader([header_line.decode("utf-8-sig")]))
    wanted = [c for c in (columns or header) if c in header]
    return pacsv.read_csv(
        path,
        # One reader thread and small blocks: threaded reading is no faster on results files,
        # and every reader thread leaves its own allocator arena full of freed blocks.
        read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
