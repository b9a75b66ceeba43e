"""Opt-in keyset restart of an ordered range read whose V2 cursor was lost.

A lost cursor (:class:`QueryRestartRequiredError`) is resumed by re-running the range from the
last key received, INCLUSIVE, and skipping as many rows with that key as were already delivered.
Rows are ordered by key, so equal keys are contiguous: the restart neither skips nor repeats a
row even when keys are duplicated (which pre-flight must see, to quarantine them all). Rows with
a NULL key sort first; while only those were delivered the restart re-reads from the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from resources.data_cloud.errors import QueryRestartRequiredError

# Opens the range again: from the start (None) or from this key inclusive.
Reopen = Callable[[str | None], pa.RecordBatchReader]


@dataclass
class KeysetPosition:
    """How far an ordered read got: the last key and how many delivered rows carry it."""

    delivered: int = 0
    last_key: str | None = None
    rows_with_last_key: int = 0

    def advance(self, keys: pa.Array) -> None:
        if len(keys) == 0:
            return
        last = keys[-1].as_py()
        if last is None:
            same = keys.null_count
        else:
            same = int(pc.sum(pc.equal(keys, pa.scalar(last, keys.type))).as_py() or 0)
        whole_batch = same == len(keys)
        if whole_batch and last == self.last_key and self.delivered > 0:
            self.rows_with_last_key += same
        else:
            self.rows_with_last_key = same
        self.last_key = last
        self.delivered += len(keys)

    def restart_from(self) -> tuple[str | None, int]:
        """(key to re-read from inclusive, or None = from the start; rows to skip)."""
        if self.last_key is None:
            return None, self.delivered
        return self.last_key, self.rows_with_last_key


def resuming_batches(
    first: pa.RecordBatchReader, key_column: str, reopen: Reopen, max_restarts: int
) -> Iterator[pa.RecordBatch]:
    position = KeysetPosition()
    reader, skip, restarts = first, 0, 0
    while True:
        try:
            for batch in reader:
                if skip:
                    batch, skip = (
                        batch.slice(min(skip, batch.num_rows)),
                        max(0, skip - batch.num_rows),
                    )
                    if batch.num_rows == 0:
                        continue
                position.advance(batch.column(key_column))
                yield batch
            return
        except QueryRestartRequiredError:
            if restarts >= max_restarts:
                raise
            restarts += 1
            from_key, skip = position.restart_from()
            reader = reopen(from_key)
