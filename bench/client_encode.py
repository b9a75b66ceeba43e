"""Client CPU per row to map Data Cloud columns to Opportunity fields and encode Bulk CSV.

Command: ``uv run python -m bench client_encode`` (``BENCH_ENCODE_ROWS`` overrides 1M rows).
Pure CPU, no I/O; prints figures, asserts nothing. Target: <= 3 us per row.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resources.salesforce.bulk import IngestSettings, ObjectSpec, cut_chunks

SPEC = ObjectSpec("Opportunity", "External_Id__c")
MAPPING = {  # Data Cloud column -> Opportunity field (a stand-in for assets' mapping)
    "opportunity_id__c": "External_Id__c",
    "name__c": "Name",
    "stage__c": "StageName",
    "close_date__c": "CloseDate",
    "amount__c": "Amount",
    "description__c": "Description",
    "is_private__c": "IsPrivate",
}


def source_batch(rows: int, offset: int) -> pa.RecordBatch:
    rng = np.random.default_rng(offset)
    ids = pc.binary_join_element_wise(
        "OPP-", pc.cast(pa.array(np.arange(offset, offset + rows)), pa.string()), ""
    )
    return pa.RecordBatch.from_pydict(
        {
            "opportunity_id__c": ids,
            "name__c": pc.binary_join_element_wise('Deal "', ids, '", big', ""),
            "stage__c": pa.array(np.array(["Prospecting", "Closed Won"])[rng.integers(0, 2, rows)]),
            "close_date__c": pa.array(
                np.datetime64("2024-01-01") + rng.integers(0, 365, rows).astype("timedelta64[D]")
            ).cast(pa.date32()),
            "amount__c": pa.array(rng.integers(0, 10**9, rows), pa.int64()).cast(
                pa.decimal128(21, 2)
            ),
            "description__c": pa.array(["line one\nline two, with comma"] * rows),
            "is_private__c": pa.array(rng.integers(0, 2, rows).astype(bool)),
        }
    )


def mapped(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.select(list(MAPPING)).rename_columns(list(MAPPING.values()))


def main() -> None:
    total = int(os.environ.get("BENCH_ENCODE_ROWS", "1000000"))
    batch_rows = 50_000
    sources = [source_batch(batch_rows, i) for i in range(0, total, batch_rows)]
    started_cpu, started = time.process_time(), time.perf_counter()
    chunks = rows = size = 0
    for chunk in cut_chunks((mapped(b) for b in sources), SPEC, IngestSettings()):
        chunks += 1
        rows += chunk.rows
        size += len(chunk.data)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started
    print(f"rows: {rows:,}  jobs: {chunks}  CSV bytes: {size:,} ({size / rows:.0f} B/row)")
    print(f"map+encode CPU: {cpu:.2f} s = {cpu / rows * 1e6:.2f} us/row (target <= 3 us/row)")
    print(f"wall: {wall:.2f} s = {rows / wall:,.0f} rows/s")
    print("command: uv run python -m bench client_encode")


if __name__ == "__main__":
    main()
