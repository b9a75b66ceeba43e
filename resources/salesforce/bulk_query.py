"""Bulk API 2.0 query to Arrow record batches, page by page with the locator (never one big body)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from resources.salesforce import protocol
from resources.salesforce.errors import SalesforceError
from resources.salesforce.jobs import (
    PollSettings,
    Sleep,
    raise_for_failed_query,
    wait_for_job,
)

DEFAULT_POLL = PollSettings(initial_s=0.5, max_s=10.0)

if TYPE_CHECKING:
    from resources.salesforce.client import SalesforceClient


def run_bulk_query(
    client: SalesforceClient,
    soql: str,
    *,
    max_records: int = 50_000,
    include_deleted: bool = False,
    poll: PollSettings = DEFAULT_POLL,
    sleep: Sleep = time.sleep,
) -> Iterator[pa.RecordBatch]:
    """Create the job, wait for it, then yield one record batch per results page (all strings).

    Each page's row count is checked against ``Sforce-NumberOfRecords``; a missing locator header
    or a locator that repeats raises instead of ending early or looping forever."""
    operation = protocol.Operation.QUERY_ALL if include_deleted else protocol.Operation.QUERY
    created = client.call(
        "POST",
        "jobs/query",
        json={
            "operation": operation.value,
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": protocol.ColumnDelimiter.COMMA.value,
            "lineEnding": protocol.LineEnding.LF.value,
        },
        label="query_create",
    ).json()
    job_id = str(created["id"])
    info = wait_for_job(client, job_id, "query", poll, sleep=sleep, first_delay_s=0.2)
    raise_for_failed_query(info)
    yield from _pages(client, job_id, max_records)


def _pages(client: SalesforceClient, job_id: str, max_records: int) -> Iterator[pa.RecordBatch]:
    locator: str | None = None
    seen: set[str] = set()
    while True:
        params: dict[str, str | int] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        headers, table = client.get_csv(
            f"jobs/query/{job_id}/results", params=params, label="query_results"
        )
        next_locator = headers.get(protocol.HEADER_LOCATOR)
        announced = headers.get(protocol.HEADER_NUMBER_OF_RECORDS)
        if announced is not None and int(announced) != table.num_rows:
            raise SalesforceError(
                f"query {job_id}: page announced {announced} records but held {table.num_rows}"
            )
        for batch in table.to_batches():
            if batch.num_rows:
                yield batch
        if next_locator is None:
            raise SalesforceError(f"query {job_id}: results page without {protocol.HEADER_LOCATOR}")
        if next_locator in ("", protocol.LAST_LOCATOR):
            return
        if next_locator in seen:
            raise SalesforceError(f"query {job_id}: locator {next_locator!r} repeated")
        seen.add(next_locator)
        locator = next_locator
