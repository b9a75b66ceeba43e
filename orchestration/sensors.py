"""The planner and drift sensors, and the pure decisions they make (tested without Dagster)."""

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from assets import adapters
from assets.partitions import PARTITIONS_NAME, current_keys, key_order_requests
from assets.plan import DEFAULT_TARGET_PARTITIONS
from orchestration.jobs import opportunities_job
from resources.data_cloud import DataCloudResource
from resources.salesforce.resource import SalesforceResource

PARTITIONS_ENV = "SFLOAD_PARTITIONS"  # optional: the planner's target range count
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class DriftDecision:
    drifted: list[str]  # keys to run, in key order
    cursor: str  # JSON {key: [source, target]} as seen this tick
    skipped_busy: list[str]


def decide_drift(
    keys: Sequence[str],
    source_counts: Mapping[str, int],
    target_counts: Mapping[str, int],
    busy: set[str],
    previous_cursor: str | None,
) -> DriftDecision:
    """Ranges whose counts differ, that have no run in flight and whose (source, target) pair was
    not already acted on last tick (so a range that stays drifted is not re-run every tick)."""
    last = json.loads(previous_cursor) if previous_cursor else {}
    seen: dict[str, list[int]] = {}
    drifted, skipped = [], []
    for key in sorted(keys):
        if key in busy:
            skipped.append(key)
            if key in last:
                seen[key] = last[key]  # keep what we knew; counts are in flux during a load
            continue
        pair = [int(source_counts.get(key, 0)), int(target_counts.get(key, 0))]
        seen[key] = pair
        if pair[0] != pair[1] and last.get(key) != pair:
            drifted.append(key)
    return DriftDecision(drifted, json.dumps(seen, sort_keys=True), skipped)


def drift_run_key(key: str, source: int, target: int) -> str:
    return f"drift:{key}:{source}:{target}"


def busy_partitions(run_tags: Iterable[Mapping[str, str]], keys: Sequence[str]) -> set[str]:
    """Keys targeted by in-flight runs: single-partition runs carry ``dagster/partition``;
    backfill runs carry a start/end range tag instead (even for one key)."""
    ordered = sorted(keys)
    busy: set[str] = set()
    for tags in run_tags:
        if PARTITION_TAG in tags:
            busy.add(tags[PARTITION_TAG])
        elif RANGE_START_TAG in tags and RANGE_END_TAG in tags:
            start, end = tags[RANGE_START_TAG], tags[RANGE_END_TAG]
            busy.update(k for k in ordered if start <= k <= end)
    return busy


def target_partitions() -> int:
    """Read when the planner ticks (never at import), so the CLI and the sensor plan alike."""
    value = os.environ.get(PARTITIONS_ENV, "").strip()
    return int(value) if value else DEFAULT_TARGET_PARTITIONS


def plan_fingerprint(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:12]


# -- sensors -----------------------------------------------------------------------------------

IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def in_flight_partitions(instance: dg.DagsterInstance, keys: Sequence[str]) -> set[str]:
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT_STATUSES))
    return busy_partitions((r.dagster_run.tags for r in records), keys)


@dg.sensor(
    name="opportunity_ranges_sensor",
    job=opportunities_job,
    minimum_interval_seconds=3600,
    description="Plans the ExternalId ranges from Data Cloud and owns the dynamic partitions; "
    "keys change only when a range outgrows or falls below its size bound.",
)
def opportunity_ranges_sensor(
    context: dg.SensorEvaluationContext, data_cloud: DataCloudResource
) -> dg.SensorResult | dg.SkipReason:
    current = context.instance.get_dynamic_partitions(PARTITIONS_NAME)
    with adapters.source_session(data_cloud) as source:
        wanted = adapters.plan_keys(source, sorted(current), target_partitions())
    changes = key_order_requests(current, wanted)
    if changes.is_empty:
        return dg.SkipReason(f"{len(current)} ranges unchanged")
    busy = in_flight_partitions(context.instance, current) & set(changes.delete)
    if busy:
        return dg.SkipReason(f"Plan changes wait for runs in flight on {sorted(busy)}")
    fingerprint = plan_fingerprint(wanted)
    new_keys = [k for k in changes.add if k not in set(current)]
    context.log.info(f"Plan {fingerprint}: delete {changes.delete}, add {changes.add}")
    return dg.SensorResult(
        dynamic_partitions_requests=changes.requests(),
        run_requests=[
            dg.RunRequest(partition_key=k, run_key=f"plan:{fingerprint}:{k}") for k in new_keys
        ],
    )


@dg.sensor(
    name="opportunity_drift_sensor",
    job=opportunities_job,
    minimum_interval_seconds=300,
    description="Compares per-range counts in Data Cloud and Salesforce and loads only the ranges "
    "that drifted and have no run in flight.",
)
def opportunity_drift_sensor(
    context: dg.SensorEvaluationContext,
    data_cloud: DataCloudResource,
    salesforce: SalesforceResource,
) -> dg.SensorResult:
    keys = current_keys(context.instance)
    busy = in_flight_partitions(context.instance, keys)
    idle = [k for k in keys if k not in busy]
    with adapters.source_session(data_cloud) as source:
        source_counts = dict(zip(keys, adapters.count_source_ranges(source, keys), strict=True))
    with adapters.target_session(salesforce) as target:
        target_counts = {k: adapters.count_target_range(target, k) for k in idle}
    decision = decide_drift(keys, source_counts, target_counts, busy, context.cursor)
    requests = [
        dg.RunRequest(
            partition_key=k,
            run_key=drift_run_key(k, source_counts[k], target_counts[k]),
            tags={"sfload/trigger": "drift"},
        )
        for k in decision.drifted
    ]
    skip = None if requests else f"No drift in {len(keys) - len(busy)} idle range(s)"
    return dg.SensorResult(run_requests=requests, cursor=decision.cursor, skip_reason=skip)
