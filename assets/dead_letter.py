"""Dead-letter store: rows Salesforce rejected for good, and rows we quarantined, as Parquet.

Layout under the Dagster instance's storage directory::

    sfload_dead_letter/<partition>/pending/<part>.parquet   written as results arrive (crash-safe)
    sfload_dead_letter/<partition>/<run_id>.parquet          one file per partition and run

``seal`` merges the pending parts into the run's file at the end of a run, so parts written by an
attempt that crashed are kept and end up in the run that finished the range.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DIRECTORY_NAME = "sfload_dead_letter"
KIND_REJECTED = "rejected"
KIND_QUARANTINED = "quarantined"

SCHEMA = pa.schema(
    [
        ("external_id", pa.string()),
        ("kind", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
        ("job_id", pa.string()),
    ]
)


def partition_directory(storage_dir: str | Path, partition: str) -> Path:
    """A file-system-safe, reversible-enough folder name for a partition key."""
    safe = quote(partition, safe="")
    if len(safe) > 120:
        safe = safe[:80] + "-" + hashlib.sha256(partition.encode()).hexdigest()[:16]
    return Path(storage_dir) / DIRECTORY_NAME / safe


def dead_letter_table(
    external_ids: pa.Array | list[str | None],
    kind: str,
    codes: pa.Array | list[str | None],
    messages: pa.Array | list[str | None],
    job_id: str | None = None,
) -> pa.Table:
    ids = pa.array(external_ids, pa.string()) if isinstance(external_ids, list) else external_ids
    n = len(ids)
    return pa.table(
        [
            ids.cast(pa.string()),
            pa.array([kind] * n, pa.string()),
            _strings(codes),
            _strings(messages),
            pa.array([job_id] * n, pa.string()),
        ],
        schema=SCHEMA,
    )


def _strings(values: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    if isinstance(values, list):
        return pa.array(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.string())


class DeadLetterStore:
    def __init__(self, storage_dir: str | Path, partition: str) -> None:
        self.directory = partition_directory(storage_dir, partition)
        self.pending = self.directory / "pending"

    def write_part(self, name: str, table: pa.Table) -> None:
        """Write (or overwrite: collecting a job's results twice stays idempotent) a named part."""
        if table.num_rows == 0:
            return
        self.pending.mkdir(parents=True, exist_ok=True)
        part = self.pending / f"{quote(name, safe='')}.parquet"
        tmp = part.with_suffix(".tmp")
        pq.write_table(table.cast(SCHEMA), tmp)
        tmp.replace(part)  # a crash never leaves half a part behind

    def pending_table(self) -> pa.Table:
        parts = sorted(self.pending.glob("*.parquet")) if self.pending.exists() else []
        if not parts:
            return SCHEMA.empty_table()
        return pa.concat_tables(pq.read_table(p).cast(SCHEMA) for p in parts)

    def seal(self, run_id: str) -> tuple[Path | None, pa.Table]:
        """Merge pending parts into ``<run_id>.parquet``; returns (path or None, the table)."""
        table = self.pending_table()
        if table.num_rows == 0:
            return None, table
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{run_id}.parquet"
        tmp = target.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.replace(target)
        for part in self.pending.glob("*.parquet"):
            part.unlink()
        return target, table

    def discard_pending(self) -> None:
        """Forget parts left by an attempt that is not resumed (its rows are read again)."""
        if self.pending.exists():
            for part in self.pending.glob("*"):
                part.unlink()


def read_dead_letter(path: str | Path | None) -> pa.Table:
    if path is None or not Path(path).exists():
        return SCHEMA.empty_table()
    return pq.read_table(path).cast(SCHEMA)


def counts_by_code(table: pa.Table, kind: str) -> dict[str, int]:
    selected = table.filter(pc.equal(table["kind"], kind))
    codes = pc.fill_null(selected["code"], "UNKNOWN").to_pylist()
    return dict(sorted(Counter(codes).items()))
