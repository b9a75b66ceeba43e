"""Glue between the pure core (``assets/``), the resources and the Dagster shell.

The asset, checks, sensors and the ``sfload`` CLI call these small functions, so the shapes of the
pure core and of the resources' return values are known here only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import MetadataValue

from assets import keys, plan, preflight
from assets.dead_letter import KIND_QUARANTINED, dead_letter_table
from assets.dead_letter import SCHEMA as DEAD_LETTER_SCHEMA
from assets.mapping import MESSAGE_COLUMN, OPPORTUNITY_MAPPING, REASON_COLUMN
from assets.preflight import AmbiguousKeys
from assets.ranges import KeyRange, in_range_mask
from assets.reconcile import Reconciliation, explanations_table, reconcile
from resources.data_cloud import DataCloudClient
from resources.salesforce import soql
from resources.salesforce.bulk import IngestReport, IngestSettings, JobOutcome, ObjectSpec
from resources.salesforce.resource import SalesforceResource

Source = DataCloudClient
Target = SalesforceResource

__all__ = ["AmbiguousKeys", "JobOutcome", "KeyRange", "Source", "Target"]

MAPPING = OPPORTUNITY_MAPPING


def spec() -> ObjectSpec:
    return ObjectSpec(
        object_name=MAPPING.target_object,
        external_id_field=MAPPING.external_id_field,
        operation=MAPPING.operation,
    )


# -- ranges and keys ----------------------------------------------------------------------------


def range_of_key(key: str) -> KeyRange:
    return keys.key_to_range(key)


def key_of_range(key_range: KeyRange) -> str:
    return keys.range_to_key(key_range)


def ranges_of_keys(partition_keys: Sequence[str]) -> list[KeyRange]:
    """Ranges in key order (which is range order)."""
    return [range_of_key(k) for k in sorted(partition_keys)]


def plan_keys(
    source: Source,
    current_keys: Sequence[str],
    target_partitions: int = plan.DEFAULT_TARGET_PARTITIONS,
) -> list[str]:
    """Today's keys: yesterday's unless a range crossed a size bound (``assets.plan`` decides)."""
    fractions = plan.sketch_fractions(target_partitions)
    quantiles = tuple(q for q in source.quantile_boundaries(fractions) if q is not None)
    previous = ranges_of_keys(current_keys)
    if previous:
        previous_rows = count_source_ranges(source, current_keys)
        total = sum(previous_rows)
    else:
        previous_rows, total = None, source.key_stats().row_count
    sketch = plan.KeySketch(total_rows=total, quantiles=tuple(sorted(quantiles)))
    planned = plan.plan_ranges(
        sketch,
        target_partitions=target_partitions,
        previous=previous or None,
        previous_rows=previous_rows,
    )
    return planned.keys


# -- sessions -----------------------------------------------------------------------------------


def source_client(data_cloud: Any) -> Source:
    client: Source = data_cloud.client
    return client


def target_client(salesforce: Any) -> Target:
    """The resource itself: it exposes upsert, bulk_query, count and limits."""
    target: Target = salesforce
    return target


@contextmanager
def source_session(data_cloud: Any) -> Iterator[Source]:
    """Sensors call resources outside a run; close what a lazily opened client holds."""
    try:
        yield source_client(data_cloud)
    finally:
        _close_quietly(data_cloud)


@contextmanager
def target_session(salesforce: Any) -> Iterator[Target]:
    try:
        yield target_client(salesforce)
    finally:
        _close_quietly(salesforce)


def _close_quietly(resource: Any) -> None:
    teardown = getattr(resource, "teardown_after_execution", None)
    if teardown is not None:
        teardown(None)


def rows_per_job(salesforce: Any) -> int:
    return int(getattr(salesforce, "max_job_rows", IngestSettings().max_job_rows))


# -- counts -------------------------------------------------------------------------------------


def count_source_ranges(source: Source, partition_keys: Sequence[str]) -> list[int]:
    """Rows per range of a tiling, in key order, in ONE query (NULL keys count in the first)."""
    ranges = ranges_of_keys(partition_keys)
    if not ranges:
        return []
    boundaries = [r.lo for r in ranges[1:] if r.lo is not None]
    return source.count_ranges(boundaries)


def count_range(source: Source, key_range: KeyRange) -> int:
    boundaries = [b for b in (key_range.lo, key_range.hi) if b is not None]
    counts = source.count_ranges(boundaries)
    return counts[1] if key_range.lo is not None else counts[0]


def count_target_range(target: Target, key: str) -> int:
    """Approximate: SOQL compares strings case-insensitively, so this only triggers a load; the
    exact verdict is the check's read-back by key."""
    r = range_of_key(key)
    field = spec().external_id_field
    where = [f"{field} != null"]
    if r.lo is not None:
        where.append(f"{field} >= {soql.quote_string(r.lo)}")
    if r.hi is not None:
        where.append(f"{field} < {soql.quote_string(r.hi)}")
    text = f"SELECT COUNT() FROM {spec().object_name} WHERE {' AND '.join(where)}"  # noqa: S608 - literals quoted above
    return target.count(text)


def limits(target: Target) -> dict[str, dict[str, int]]:
    return {
        name: {"Max": limit.max, "Remaining": limit.remaining}
        for name, limit in target.limits().by_name.items()
    }


def source_api_calls(source: Source) -> int:
    return int(source.api_calls)


# -- the load -----------------------------------------------------------------------------------


def ambiguous_keys(source: Source, key_range: KeyRange) -> AmbiguousKeys:
    """Duplicate and case-duplicate keys of the whole range, from one pass over its ids."""
    reader = source.ids(key_range.lo, key_range.hi)
    return preflight.find_ambiguous_keys(batch.column(0) for batch in reader)


def source_rows(source: Source, key_range: KeyRange, after: str | None) -> Iterator[pa.RecordBatch]:
    yield from source.rows(key_range.lo, key_range.hi, after=after, columns=MAPPING.source_columns)


def batch_ids(batch: pa.RecordBatch) -> pa.Array:
    return batch.column(MAPPING.key_column).cast(pa.string())


def preflight_and_map(
    batch: pa.RecordBatch, key_range: KeyRange, ambiguous: AmbiguousKeys
) -> tuple[pa.RecordBatch, pa.Table]:
    """(rows ready to send, quarantined rows in the dead-letter schema)."""
    ready, held = preflight.prepare_batch(batch, ambiguous, key_range, mapping=MAPPING)
    return ready, quarantine_table(held)


def quarantine_table(held: pa.RecordBatch) -> pa.Table:
    if held.num_rows == 0:
        return DEAD_LETTER_SCHEMA.empty_table()
    return dead_letter_table(
        held.column(MAPPING.key_column).cast(pa.string()),
        KIND_QUARANTINED,
        held.column(REASON_COLUMN),
        held.column(MESSAGE_COLUMN),
    )


def upsert(
    target: Target,
    batches: Iterable[pa.RecordBatch],
    *,
    resume_job_ids: Sequence[str],
    on_job_submitted: Callable[[str, str | None], None],
    on_job_finished: Callable[[JobOutcome], None],
) -> IngestReport:
    return target.upsert(
        batches,
        spec(),
        resume_job_ids=resume_job_ids,
        on_job_submitted=on_job_submitted,
        on_job_finished=on_job_finished,
    )


def rejected_dead_letter(report: IngestReport) -> pa.Table:
    rejected = report.rejected
    return pa.table(
        [
            rejected["external_id"],
            pa.array(["rejected"] * rejected.num_rows, pa.string()),
            rejected["error_code"],
            rejected["error_message"],
            rejected["job_id"],
        ],
        schema=DEAD_LETTER_SCHEMA,
    )


# -- read-back and reconciliation --------------------------------------------------------------


def source_ids(source: Source, key_range: KeyRange) -> pa.ChunkedArray:
    table = source.ids(key_range.lo, key_range.hi).read_all()
    return table.column(0).cast(pa.string())


# At most this many ``LIKE 'c%'`` clauses in a read-back query; wider ranges read every id.
MAX_READBACK_PREFIXES = 64


def readback_prefixes(key_range: KeyRange) -> list[str] | None:
    """Prefixes such that every id of ``key_range`` starts with one of them (None: no such short
    list, read every id).

    ``LIKE 'p%'`` holds for an id that starts with ``p`` whatever the field's case sensitivity, and
    under a case-insensitive field also for its other spellings, so the read-back stays a superset
    of the range; ``reconcile`` then applies the range itself with the one comparator. Ids between
    two bounds share their common prefix, or else start with a character between theirs.
    """
    lo, hi = key_range.lo, key_range.hi
    if lo is None or hi is None:
        return None
    common = 0
    for a, b in zip(lo, hi, strict=False):
        if a != b:
            break
        common += 1
    if common:
        return [lo[:common]] if "\x00" not in lo[:common] else None
    first, last = ord(lo[0]), ord(hi[0])
    if last - first + 1 > MAX_READBACK_PREFIXES or first < ord(" "):
        return None
    return [chr(c) for c in range(first, last + 1) if not 0xD800 <= c <= 0xDFFF]


def readback_soql(key_range: KeyRange) -> str:
    field = spec().external_id_field
    where = f"{field} != null"
    prefixes = readback_prefixes(key_range)
    if prefixes:
        likes = " OR ".join(f"{field} LIKE {soql.quote_like(p)[:-1]}%'" for p in prefixes)
        where += f" AND ({likes})"
    return f"SELECT {field} FROM {spec().object_name} WHERE {where}"  # noqa: S608 - quoted above


def target_ids(target: Target, key_range: KeyRange) -> pa.Array:
    """The ExternalIds Salesforce holds for (a superset of) the range; ``reconcile`` applies the
    range with the one comparator (a SOQL range would compare case-insensitively)."""
    field = spec().external_id_field
    batches = list(target.bulk_query(readback_soql(key_range)))
    if not batches:
        return pa.array([], pa.string())
    ids = pa.Table.from_batches(batches).column(field).cast(pa.string())
    return ids.combine_chunks()


def in_range(ids: pa.Array, key_range: KeyRange) -> pa.Array:
    return ids.filter(pc.fill_null(in_range_mask(ids, key_range), False))


def reconcile_range(
    source: pa.ChunkedArray | pa.Array,
    target: pa.Array,
    key_range: KeyRange,
    dead_letter: pa.Table,
    sample_size: int,
) -> Reconciliation:
    """By key, exact whatever the case; missing ids with a dead-letter row are explained."""
    explained = explanations_table(dead_letter["external_id"], dead_letter["code"])
    return reconcile(
        source,
        target,
        key_range=key_range,
        explanations=explained,
        sample_size=sample_size,
    )


def reconciliation_metadata(result: Reconciliation) -> dict[str, Any]:
    """Counts as numbers; samples and per-reason counts as JSON (ids only, no field values)."""
    return {
        name: value if isinstance(value, int) else MetadataValue.json(value)
        for name, value in result.as_metadata().items()
    }
