"""The one place that knows the shapes of the pure core (``assets/``) and of the resources.

The pure core is imported inside the functions, so the code location loads on its own.

The asset, checks and sensors call these small functions, so a change in a neighbour's interface is
a change here only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import MetadataValue

from assets.dead_letter import KIND_QUARANTINED, dead_letter_table
from assets.dead_letter import SCHEMA as DEAD_LETTER_SCHEMA
from resources.data_cloud import DataCloudClient
from resources.salesforce import soql
from resources.salesforce.bulk import (
    IngestReport,
    IngestSettings,
    JobOutcome,
    ObjectSpec,
)
from resources.salesforce.resource import SalesforceResource

Source = DataCloudClient
Target = SalesforceResource
AmbiguousKeys = Any

KeyRange = Any  # assets.ranges.KeyRange (the pure core is imported where used)

__all__ = ["JobOutcome"]


def spec() -> ObjectSpec:
    from assets import mapping

    return ObjectSpec(
        object_name=mapping.SALESFORCE_OBJECT, external_id_field=mapping.EXTERNAL_ID_FIELD
    )


# -- ranges and keys ----------------------------------------------------------------------------


def range_of_key(key: str) -> KeyRange:
    from assets import keys

    return keys.decode_key(key)


def ranges_of_keys(keys: Sequence[str]) -> list[KeyRange]:
    return [range_of_key(k) for k in sorted(keys)]


def plan_keys(
    source: Source, current_keys: Sequence[str], target_partitions: int = 10
) -> list[str]:
    """Tomorrow's keys: yesterday's unless a range crossed a size bound (the plan decides)."""
    from assets import keys, plan

    ranges = ranges_of_keys(current_keys)
    counts = count_source_ranges(source, current_keys) if ranges else []
    planned = plan.plan_ranges(
        previous=ranges,
        counts=counts,
        quantiles=lambda fractions: source.quantile_boundaries(fractions),
        target_partitions=target_partitions,
    )
    return [keys.encode_key(r) for r in planned]


# -- sessions -----------------------------------------------------------------------------------


def source_client(data_cloud: Any) -> Source:
    return data_cloud.client


def target_client(salesforce: Any) -> Target:
    """The resource itself: it exposes upsert, bulk_query, count and limits."""
    return salesforce


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


def count_source_ranges(source: Source, keys: Sequence[str]) -> list[int]:
    """Per-range counts in ONE query (boundaries are the lower bounds of all but the first)."""
    ranges = ranges_of_keys(keys)
    if not ranges:
        return []
    boundaries = [r.lo for r in ranges[1:]]
    return source.count_ranges([b for b in boundaries if b is not None])


def count_range(source: Source, key_range: KeyRange) -> int:
    boundaries = [b for b in (key_range.lo, key_range.hi) if b is not None]
    counts = source.count_ranges(boundaries)
    return counts[1] if key_range.lo is not None else counts[0]


def count_target_range(target: Target, key: str) -> int:
    """Approximate: SOQL compares strings case-insensitively, so this only triggers a load; the
    exact verdict is the check's read-back by key."""
    r = range_of_key(key)
    where = [f"{spec().external_id_field} != null"]
    if r.lo is not None:
        where.append(f"{spec().external_id_field} >= {soql.quote_string(r.lo)}")
    if r.hi is not None:
        where.append(f"{spec().external_id_field} < {soql.quote_string(r.hi)}")
    soql_text = f"SELECT COUNT() FROM {spec().object_name} WHERE {' AND '.join(where)}"  # noqa: S608 - literals quoted above
    return target.count(soql_text)


def limits(target: Target) -> dict[str, dict[str, int]]:
    return {
        name: {"Max": limit.max, "Remaining": limit.remaining}
        for name, limit in target.limits().by_name.items()
    }


def source_api_calls(source: Source) -> int:
    return int(source.api_calls)


# -- the load -----------------------------------------------------------------------------------


def ambiguous_keys(source: Source, key_range: KeyRange) -> AmbiguousKeys:
    from assets import preflight

    return preflight.find_ambiguous_keys(iter(source.ids(key_range.lo, key_range.hi)))


def source_rows(source: Source, key_range: KeyRange, after: str | None) -> Iterator[pa.RecordBatch]:
    from assets import mapping

    yield from source.rows(key_range.lo, key_range.hi, after=after, columns=mapping.SOURCE_COLUMNS)


def batch_ids(batch: pa.RecordBatch) -> pa.Array:
    from assets import mapping

    return batch.column(batch.schema.get_field_index(mapping.SOURCE_KEY)).cast(pa.string())


def preflight_and_map(
    batch: pa.RecordBatch, key_range: KeyRange, ambiguous: AmbiguousKeys
) -> tuple[pa.RecordBatch, pa.Table]:
    """(rows ready to send, quarantined rows in dead-letter schema, in source order)."""
    from assets import mapping, preflight

    clean, held = preflight.split_batch(batch, ambiguous, key_range)
    mapped, unmappable = mapping.map_batch(clean)
    return mapped, _sorted_by_id(_quarantine_table(held, unmappable))


def _quarantine_table(*parts: Any) -> pa.Table:
    from assets import preflight

    tables = [preflight.as_dead_letter(p) for p in parts if p is not None]
    tables = [
        dead_letter_table(t["external_id"], KIND_QUARANTINED, t["code"], t["message"])
        for t in tables
        if t.num_rows
    ]
    return pa.concat_tables(tables) if tables else DEAD_LETTER_SCHEMA.empty_table()


def _sorted_by_id(table: pa.Table) -> pa.Table:
    if table.num_rows < 2:
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("external_id", "ascending")]))


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


def source_ids(source: Source, key_range: KeyRange) -> pa.Array:
    table = source.ids(key_range.lo, key_range.hi).read_all()
    return table.column(0).combine_chunks().cast(pa.string())


def target_ids(target: Target, key_range: KeyRange) -> pa.Array:
    """Every ExternalId in Salesforce, then the range by the one comparator (code-point order):
    a SOQL range would compare case-insensitively and could miss ids."""
    field = spec().external_id_field
    batches = list(
        target.bulk_query(f"SELECT {field} FROM {spec().object_name} WHERE {field} != null")  # noqa: S608
    )
    if not batches:
        return pa.array([], pa.string())
    ids = pa.Table.from_batches(batches).column(field).combine_chunks().cast(pa.string())
    mask = pa.array([True] * len(ids))
    if key_range.lo is not None:
        mask = pc.and_(mask, pc.greater_equal(ids, pa.scalar(key_range.lo)))
    if key_range.hi is not None:
        mask = pc.and_(mask, pc.less(ids, pa.scalar(key_range.hi)))
    return ids.filter(mask)


def reconcile_range(source: pa.Array, target: pa.Array, explained: pa.Table) -> Any:
    from assets import reconcile

    return reconcile.reconcile(source, target, explained=explained)


def unexplained_missing(result: Any) -> int:
    return int(result.missing_unexplained)


def reconciliation_metadata(result: Any, sample_size: int) -> dict[str, Any]:
    """Counts always; samples as JSON lists (ids only, never other field values)."""
    return {
        "source_ids": int(result.source_count),
        "target_ids": int(result.target_count),
        "missing": int(result.missing_count),
        "missing_explained": int(result.missing_explained),
        "missing_unexplained": int(result.missing_unexplained),
        "extra": int(result.extra_count),
        "case_collisions": int(result.case_collision_count),
        "missing_sample": MetadataValue.json(list(result.missing_sample)[:sample_size]),
        "extra_sample": MetadataValue.json(list(result.extra_sample)[:sample_size]),
        "case_collision_sample": MetadataValue.json(
            list(result.case_collision_sample)[:sample_size]
        ),
    }
