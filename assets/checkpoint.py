"""Per-partition checkpoint, stored as ``AssetObservation`` events so it survives crashes and retries.

A checkpoint says which Bulk jobs hold rows of this range already (they are polled on resume, never
re-uploaded), the last ExternalId sent in any of them (the keyset ``id > last`` to continue from), the
last ExternalId whose job finished, and how many source rows up to the last sent id were read and
quarantined (so a resumed run still reports the whole range and the sum still checks).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from assets.dead_letter import SCHEMA as DEAD_LETTER_SCHEMA

CHECKPOINT_TAG = "sfload/checkpoint"
_KEY = "checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    submitted_jobs: tuple[str, ...] = ()
    finished_jobs: tuple[str, ...] = ()
    last_submitted_id: str | None = None
    last_finished_id: str | None = None
    rows_read: int = 0  # source rows with id <= last_submitted_id
    rows_quarantined: int = 0  # of those, quarantined
    complete: bool = False  # the range was loaded to the end; the next run starts afresh

    @property
    def open_jobs(self) -> tuple[str, ...]:
        finished = set(self.finished_jobs)
        return tuple(j for j in self.submitted_jobs if j not in finished)

    @property
    def is_resumable(self) -> bool:
        return not self.complete and bool(self.submitted_jobs)

    def with_submitted(
        self, job_id: str, last_id: str | None, rows_read: int, rows_quarantined: int
    ) -> Checkpoint:
        return replace(
            self,
            submitted_jobs=(*self.submitted_jobs, job_id),
            last_submitted_id=_max_id(self.last_submitted_id, last_id),
            rows_read=self.rows_read + rows_read,
            rows_quarantined=self.rows_quarantined + rows_quarantined,
        )

    def with_finished(self, job_id: str, last_id: str | None) -> Checkpoint:
        if job_id in self.finished_jobs:
            return self
        return replace(
            self,
            finished_jobs=(*self.finished_jobs, job_id),
            last_finished_id=_max_id(self.last_finished_id, last_id),
        )

    def to_metadata(self) -> dict[str, Any]:
        return {
            _KEY: dg.MetadataValue.json(
                {
                    "submitted_jobs": list(self.submitted_jobs),
                    "finished_jobs": list(self.finished_jobs),
                    "last_submitted_id": self.last_submitted_id,
                    "last_finished_id": self.last_finished_id,
                    "rows_read": self.rows_read,
                    "rows_quarantined": self.rows_quarantined,
                    "complete": self.complete,
                }
            ),
            "jobs_submitted": len(self.submitted_jobs),
            "jobs_open": len(self.open_jobs),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Checkpoint:
        raw = metadata.get(_KEY)
        if raw is None:
            return cls()
        data = raw.value if hasattr(raw, "value") else raw
        if isinstance(data, str):
            data = json.loads(data)
        return cls(
            submitted_jobs=tuple(data.get("submitted_jobs", ())),
            finished_jobs=tuple(data.get("finished_jobs", ())),
            last_submitted_id=data.get("last_submitted_id"),
            last_finished_id=data.get("last_finished_id"),
            rows_read=int(data.get("rows_read", 0)),
            rows_quarantined=int(data.get("rows_quarantined", 0)),
            complete=bool(data.get("complete", False)),
        )


def _max_id(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)  # code-point order, the one comparator


def read_checkpoint(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> Checkpoint:
    """The last checkpoint observation of this partition (an empty checkpoint if none)."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=20
    ).records
    for record in records:
        observation = record.asset_observation
        if observation is not None and _KEY in observation.metadata:
            return Checkpoint.from_metadata(observation.metadata)
    return Checkpoint()


def checkpoint_observation(
    asset_key: dg.AssetKey, partition: str, checkpoint: Checkpoint
) -> dg.AssetObservation:
    return dg.AssetObservation(
        asset_key=asset_key,
        partition=partition,
        metadata=checkpoint.to_metadata(),
        tags={CHECKPOINT_TAG: "true"},
    )


@dataclass(frozen=True)
class Consumed:
    rows: int
    quarantined: pa.Table  # dead-letter rows of the quarantined ones

    @property
    def rows_quarantined(self) -> int:
        return int(self.quarantined.num_rows)


@dataclass
class StreamLedger:
    """Source rows in id order, so that when a job ending at id X is submitted we know exactly how
    many source rows up to X are accounted for (and which were quarantined), read-ahead aside."""

    _pending: deque[tuple[pa.Array, pa.Table]] = field(default_factory=deque)

    def record(self, ids: pa.Array, quarantined: pa.Table) -> None:
        """One source batch in stream order: all its ids, and its quarantined rows (dead-letter
        schema, ``external_id`` in the same order)."""
        if len(ids):
            self._pending.append((ids, quarantined))

    def consume_through(self, last_id: str | None) -> Consumed:
        """Rows with id <= ``last_id`` recorded since the last call."""
        rows = 0
        parts: list[pa.Table] = []
        while self._pending and last_id is not None:
            ids, quarantined = self._pending[0]
            taken = _at_or_before(ids, last_id)
            rows += pc.sum(taken).as_py() or 0
            q_taken = _at_or_before(quarantined["external_id"], last_id)
            parts.append(quarantined.filter(q_taken))
            if not pc.all(taken).as_py():
                self._pending[0] = (
                    ids.filter(pc.invert(taken)),
                    quarantined.filter(pc.invert(q_taken)),
                )
                break
            self._pending.popleft()
        return Consumed(rows, _concat(parts, self._schema()))

    def consume_all(self) -> Consumed:
        rows = sum(len(ids) for ids, _ in self._pending)
        parts = [q for _, q in self._pending]
        self._pending.clear()
        return Consumed(rows, _concat(parts, self._schema()))

    def _schema(self) -> pa.Schema | None:
        return self._pending[0][1].schema if self._pending else None


def _at_or_before(ids: pa.Array | pa.ChunkedArray, last_id: str) -> pa.Array:
    # Null ids sort first in our stream (they are quarantined as blank), so they count as before.
    return pc.fill_null(pc.less_equal(ids, pa.scalar(last_id, pa.string())), True)


def _concat(parts: list[pa.Table], schema: pa.Schema | None) -> pa.Table:
    parts = [p for p in parts if p.num_rows]
    if parts:
        return pa.concat_tables(parts)
    return (schema or DEAD_LETTER_SCHEMA).empty_table()
