"""The asset ``salesforce_opportunities``: one partition = one ExternalId range ``[lo, hi)``.

The body follows the data flow of the design, step by step; everything it calls is a plain function
(``assets/``) or a resource method (``resources/``). ``adapters`` is the one place that knows the
shape of the pure core and the resources' return values.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from assets import adapters, deletes
from assets.checkpoint import Checkpoint, StreamLedger, checkpoint_observation, read_checkpoint
from assets.dead_letter import (
    KIND_QUARANTINED,
    KIND_REJECTED,
    DeadLetterStore,
    counts_by_code,
)
from assets.partitions import opportunity_ranges
from assets.quota import QuotaExceeded, allowances_from_limits, forecast_load, guard_quota
from resources.data_cloud import DataCloudResource
from resources.salesforce.bulk import IngestInterruptedError
from resources.salesforce.errors import RequestLimitExceededError
from resources.salesforce.resource import SalesforceResource

ASSET_NAME = "salesforce_opportunities"
ASSET_KEY = dg.AssetKey(ASSET_NAME)
POOL = "salesforce_bulk"
POOL_DEFAULT_LIMIT = 10

RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class LoadConfig(dg.Config):
    quota_reserve_fraction: float = 0.1  # never spend the last 10% of a daily allowance
    polls_per_job_forecast: int = 10
    # Delete the range's Salesforce records that Data Cloud no longer has (assets/deletes.py).
    delete_extra_records: bool = False


class InvariantBroken(Exception):
    """read != created + updated + rejected + quarantined: a row was lost, which must never pass."""


@dataclass
class LoadCounts:
    rows_read: int = 0
    rows_quarantined: int = 0

    def add(self, rows: int, quarantined: int) -> None:
        self.rows_read += rows
        self.rows_quarantined += quarantined


@dg.asset(
    name=ASSET_NAME,
    partitions_def=opportunity_ranges,
    pool=POOL,
    retry_policy=RETRY_POLICY,
    # No BackfillPolicy on purpose: without one, a backfill makes one run per range tagged
    # dagster/partition like any other run. multi_run(1) tags runs with a partition *range*, and
    # Dagster 1.13 then records the partitioned checks' results as unpartitioned (left SKIPPED).
    kinds={"salesforce"},
    description="Opportunity rows of one ExternalId range, upserted from Data Cloud into Salesforce.",
)
def salesforce_opportunities(
    context: dg.AssetExecutionContext,
    config: LoadConfig,
    data_cloud: DataCloudResource,
    salesforce: SalesforceResource,
) -> dg.MaterializeResult:  # type: ignore[type-arg]  # Dagster matches the bare class only
    with _no_retry_once_an_allowance_is_spent():
        return _load_range(context, config, data_cloud, salesforce)


@contextmanager
def _no_retry_once_an_allowance_is_spent() -> Iterator[None]:
    """A spent daily allowance cannot come back within the step's retry delays: fail once, clearly."""
    try:
        yield
    except QuotaExceeded as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except (RequestLimitExceededError, IngestInterruptedError) as exc:
        spent = exc if isinstance(exc, RequestLimitExceededError) else exc.cause
        if not isinstance(spent, RequestLimitExceededError):
            raise
        raise dg.Failure(
            description=f"{spent} Salesforce refuses calls until the allowance recovers; the "
            "checkpoint is kept, so run this range again then and it resumes where it stopped.",
            allow_retries=False,
        ) from exc


def _load_range(
    context: dg.AssetExecutionContext,
    config: LoadConfig,
    data_cloud: DataCloudResource,
    salesforce: SalesforceResource,
) -> dg.MaterializeResult[None]:
    started = time.monotonic()
    partition = context.partition_key
    # 1. The range comes from the key alone.
    key_range = adapters.range_of_key(partition)
    storage = DeadLetterStore(context.instance.storage_directory(), partition)

    # 2. Checkpoint: jobs already holding rows of this range are polled, never re-uploaded.
    checkpoint = read_checkpoint(context.instance, ASSET_KEY, partition)
    if not checkpoint.is_resumable:
        checkpoint = Checkpoint()
        storage.discard_pending()
    else:
        context.log.info(
            f"Resuming: {len(checkpoint.submitted_jobs)} job(s) known, continuing after "
            f"{checkpoint.last_submitted_id!r}"
        )
    source = adapters.source_client(data_cloud)
    target = adapters.target_client(salesforce)

    # Quota guard, before anything is sent.
    rows_left = adapters.count_range(source, key_range) - checkpoint.rows_read
    forecast = forecast_load(
        max(rows_left, 0), adapters.rows_per_job(salesforce), config.polls_per_job_forecast
    )
    guard_quota(
        forecast, allowances_from_limits(adapters.limits(target)), config.quota_reserve_fraction
    )

    # 3-5. Stream source rows after the checkpoint, quarantine, map.
    ambiguous = adapters.ambiguous_keys(source, key_range)
    ledger = StreamLedger()
    totals = LoadCounts(checkpoint.rows_read, checkpoint.rows_quarantined)
    batches = _prepared_batches(source, key_range, checkpoint.last_submitted_id, ambiguous, ledger)

    # 6-7. Bulk upsert; each job is checkpointed as soon as it is submitted.
    recorder = _CheckpointRecorder(context, partition, checkpoint, ledger, storage, totals)
    report = adapters.upsert(
        target,
        batches,
        resume_job_ids=list(checkpoint.submitted_jobs),
        on_job_submitted=recorder.submitted,
        on_job_finished=recorder.finished,
    )
    tail = ledger.consume_all()
    totals.add(tail.rows, tail.rows_quarantined)
    storage.write_part("quarantined-tail", tail.quarantined)
    storage.write_part("rejected", adapters.rejected_dead_letter(report))

    # 8. Report; the sum is checked in every run.
    dead_letter_path, dead_letter = storage.seal(context.run.run_id)
    rejected_by_code = counts_by_code(dead_letter, KIND_REJECTED)
    quarantined_by_reason = counts_by_code(dead_letter, KIND_QUARANTINED)
    rows_rejected = report.rejected_count
    accounted = report.created + report.updated + rows_rejected + totals.rows_quarantined
    if accounted != totals.rows_read:
        raise InvariantBroken(
            f"Range {partition}: read {totals.rows_read} rows but created {report.created} + "
            f"updated {report.updated} + rejected {rows_rejected} + quarantined "
            f"{totals.rows_quarantined} = {accounted}"
        )
    # Records Data Cloud no longer has: reported by the check; deleted only when configured.
    deleted = deletes.apply_delete_policy(
        deletes.DeletePolicy(enabled=config.delete_extra_records), source, target, key_range
    )
    recorder.complete()
    seconds = time.monotonic() - started
    return dg.MaterializeResult(
        metadata={
            "rows_read": totals.rows_read,
            "rows_created": report.created,
            "rows_updated": report.updated,
            "rows_rejected": rows_rejected,
            "rows_quarantined": totals.rows_quarantined,
            **deleted.metadata(),
            "jobs": len(report.jobs),
            "api_calls": report.api_calls,
            "data_cloud_api_calls": adapters.source_api_calls(source),
            "seconds": round(seconds, 3),
            "rows_per_second": round(totals.rows_read / seconds, 1) if seconds else 0.0,
            "org_rows_per_second": round(report.org_rows_per_s or 0.0, 1),
            "rejected_by_code": dg.MetadataValue.json(rejected_by_code),
            "quarantined_by_reason": dg.MetadataValue.json(quarantined_by_reason),
            "dead_letter_file": dg.MetadataValue.path(str(dead_letter_path or "")),
            "range_lo": dg.MetadataValue.text(repr(key_range.lo)),
            "range_hi": dg.MetadataValue.text(repr(key_range.hi)),
        }
    )


def _prepared_batches(
    source: adapters.Source,
    key_range: adapters.KeyRange,
    after: str | None,
    ambiguous: adapters.AmbiguousKeys,
    ledger: StreamLedger,
) -> Iterator[pa.RecordBatch]:
    """Source batches after ``after``, with quarantined rows removed and the rest mapped."""
    for batch in adapters.source_rows(source, key_range, after):
        ready, quarantined = adapters.preflight_and_map(batch, key_range, ambiguous)
        ledger.record(adapters.batch_ids(batch), quarantined)
        if ready.num_rows:
            yield ready


class _CheckpointRecorder:
    """Turns the ingest callbacks into checkpoint observations (callbacks may come from threads)."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        partition: str,
        checkpoint: Checkpoint,
        ledger: StreamLedger,
        storage: DeadLetterStore,
        totals: LoadCounts,
    ) -> None:
        self._context = context
        self._partition = partition
        self._checkpoint = checkpoint
        self._ledger = ledger
        self._storage = storage
        self._totals = totals
        self._lock = threading.Lock()
        self._last_ids: dict[str, str] = {}

    def submitted(self, job_id: str, last_external_id: str | None) -> None:
        if last_external_id is None:
            # A follow-up job re-sending transient failures: resuming its parent re-sends them.
            return
        with self._lock:
            self._last_ids[job_id] = last_external_id
            consumed = self._ledger.consume_through(last_external_id)
            self._totals.add(consumed.rows, consumed.rows_quarantined)
            self._storage.write_part(f"quarantined-{job_id}", consumed.quarantined)
            self._save(
                self._checkpoint.with_submitted(
                    job_id, last_external_id, consumed.rows, consumed.rows_quarantined
                )
            )

    def finished(self, outcome: adapters.JobOutcome) -> None:
        with self._lock:
            if outcome.job_id in self._checkpoint.submitted_jobs:
                last_id = self._last_ids.get(outcome.job_id)
                self._save(self._checkpoint.with_finished(outcome.job_id, last_id))

    def complete(self) -> None:
        with self._lock:
            self._save(Checkpoint(complete=True))

    def _save(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint
        self._context.log_event(checkpoint_observation(ASSET_KEY, self._partition, checkpoint))
