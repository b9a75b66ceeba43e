"""The logic behind the ``sfload`` commands: plain functions over a Dagster instance and the two
resources, tested without click (``orchestration/cli.py`` only parses options and prints).

How ``load`` runs ranges, and why: each range is one Dagster run of ``opportunities_job``, executed by
``dagster.execute_job`` in a worker process of its own (in-process executor: one load step and its
checks, no extra step processes to start), with at most ``pool limit - runs already in flight``
workers at once. Runs are recorded in the instance like any other, so the UI shows them later, and the
command needs no daemon or webserver: ``make demo`` runs on a bare machine. The pool limit is read from
the instance (``dagster instance concurrency set salesforce_bulk N``), so runs launched by the daemon
and by ``sfload load`` share one budget. Each run carries its worker's pid, which is how ``sfload
stop`` terminates it (Dagster's own protocol: mark CANCELING, then interrupt the process).

Stop state lives in the instance's key-value store (shared by every machine of a Postgres instance):
while it is set, ``load`` starts nothing and ``restart`` knows what to undo.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    ScheduleInstigatorData,
    SensorInstigatorData,
)

from assets import adapters
from assets.checkpoint import CHECKPOINT_TAG, Checkpoint, checkpoint_observation, read_checkpoint
from assets.checks import NO_MISSING_RECORDS, latest_materialization_metadata
from assets.dead_letter import (
    KIND_QUARANTINED,
    KIND_REJECTED,
    DeadLetterStore,
    counts_by_code,
    read_dead_letter,
)
from assets.opportunities import ASSET_KEY, POOL_DEFAULT_LIMIT
from assets.opportunities import POOL as POOL  # re-exported: the CLI names the pool
from assets.partitions import PARTITIONS_NAME, key_order_requests
from assets.partitions import current_keys as current_keys  # re-exported for the CLI
from assets.quota import (
    Allowance,
    LoadForecast,
    allowances_from_limits,
    forecast_load,
    quota_violations,
)
from orchestration.resources import ENV_VARS
from orchestration.sensors import IN_FLIGHT_STATUSES, PARTITION_TAG, busy_partitions
from resources.data_cloud import DataCloudResource
from resources.salesforce import JobInfo, SalesforceResource
from resources.salesforce.protocol import DEFAULT_API_VERSION, JobState

JOB_NAME = "opportunities_job"
INSTIGATOR_NAMES = (
    "opportunities_nightly_schedule",
    "opportunity_ranges_sensor",
    "opportunity_drift_sensor",
)
LOAD_TAG = "sfload/load"
PID_TAG = "sfload/pid"
HOST_TAG = "sfload/host"
STOP_STATE_KEY = "sfload/stop"
# A job on Dagster's default executor picks in-process by run config; one on the in-process executor
# needs none.
IN_PROCESS_RUN_CONFIG: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
FINISHED_STATUSES = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}
# After the last run ended, watch this many polls more for a run a starting worker creates late.
STOP_SETTLE_POLLS = 4
# Salesforce and this machine may disagree on the time a little; jobs created this long before the
# first stopped run started still count as that run's.
CLOCK_SKEW_S = 120.0


class OperationError(Exception):
    """A user-facing failure: the message says what happened and what to do."""


# -- configuration ------------------------------------------------------------------------------


@dataclass
class Connections:
    salesforce: SalesforceResource
    data_cloud: DataCloudResource

    def close(self) -> None:
        for resource in (self.data_cloud, self.salesforce):
            with contextlib.suppress(Exception):
                resource.teardown_after_execution(None)  # type: ignore[arg-type]


def missing_environment(environ: Mapping[str, str] = os.environ) -> list[str]:
    return [name for name in ENV_VARS if name not in environ]


def require_environment(environ: Mapping[str, str] = os.environ) -> None:
    missing = missing_environment(environ)
    if missing:
        raise OperationError(
            f"Not set: {', '.join(missing)}. Every SALESFORCE_* variable must be defined (unused "
            "ones may be empty; SALESFORCE_API_VERSION e.g. "
            f"{DEFAULT_API_VERSION}). For the built-in emulator, `make demo` sets them; by hand, "
            "run `sfload emulator serve` and export its url, client_id, client_secret, username and "
            "ca_bundle."
        )


def connections_from_environment(environ: Mapping[str, str] = os.environ) -> Connections:
    """The resources as a run would build them, read from the environment now (CLI, not import)."""
    require_environment(environ)
    salesforce = SalesforceResource(
        login_url=environ["SALESFORCE_LOGIN_URL"],
        client_id=environ["SALESFORCE_CLIENT_ID"],
        client_secret=environ["SALESFORCE_CLIENT_SECRET"],
        username=environ["SALESFORCE_USERNAME"],
        private_key_file=environ["SALESFORCE_PRIVATE_KEY_FILE"],
        ca_bundle=environ["SALESFORCE_CA_BUNDLE"] or None,
        api_version=environ["SALESFORCE_API_VERSION"] or DEFAULT_API_VERSION,
    )
    return Connections(salesforce, DataCloudResource(salesforce=salesforce))


# -- instance -----------------------------------------------------------------------------------


def instance_template() -> Path:
    return Path(__file__).parent / "dagster_home" / "dagster.yaml"


def prepare_home(home: Path) -> None:
    """Create ``DAGSTER_HOME`` with the local instance template if it has no ``dagster.yaml``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(instance_template().read_text())


def ensure_pool_limit(instance: dg.DagsterInstance, limit: int = POOL_DEFAULT_LIMIT) -> int:
    """Set the pool limit explicitly if none is set (a default limit does not hold the first burst)."""
    explicit = explicit_pool_limit(instance)
    if explicit is not None:
        return explicit
    instance.event_log_storage.set_concurrency_slots(POOL, limit)
    return limit


def explicit_pool_limit(instance: dg.DagsterInstance) -> int | None:
    for pool in instance.event_log_storage.get_pool_limits():
        if pool.name == POOL and not pool.from_default:
            return int(pool.limit)
    return None


def pool_limit(instance: dg.DagsterInstance) -> tuple[int, str]:
    """(limit, where it came from)."""
    explicit = explicit_pool_limit(instance)
    if explicit is not None:
        return explicit, "instance"
    default = instance.get_concurrency_config().pool_config.default_pool_limit
    if default:
        return int(default), "instance default (pools.default_limit)"
    return POOL_DEFAULT_LIMIT, "sfload default"


def is_asset_run(run: dg.DagsterRun) -> bool:
    return run.job_name == JOB_NAME or ASSET_KEY in (run.asset_selection or ())


def in_flight_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT_STATUSES))
    return [r.dagster_run for r in records if is_asset_run(r.dagster_run)]


def busy_keys(instance: dg.DagsterInstance, keys: Sequence[str]) -> dict[str, str]:
    """{key: run id} of ranges with a run in flight."""
    out: dict[str, str] = {}
    for run in in_flight_runs(instance):
        for key in busy_partitions([run.tags], keys):
            out.setdefault(key, run.run_id)
    return out


def last_run(instance: dg.DagsterInstance, key: str) -> dg.DagsterRun | None:
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: key}), limit=5)
    runs = [r.dagster_run for r in records if is_asset_run(r.dagster_run)]
    return runs[0] if runs else None


# -- plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangePlan:
    key: str
    lo: str | None
    hi: str | None
    rows: int
    forecast: LoadForecast
    change: str  # "keep" | "add"


@dataclass(frozen=True)
class Plan:
    ranges: list[RangePlan]
    delete: list[str]
    add: list[str]
    allowances: dict[str, Allowance]
    violations: list[str]
    reserve_fraction: float
    rows_per_job: int

    @property
    def total(self) -> LoadForecast:
        return total_forecast(r.forecast for r in self.ranges)

    @property
    def fits_quota(self) -> bool:
        return not self.violations

    @property
    def verdict(self) -> str:
        if self.violations:
            return "DOES NOT FIT: " + "; ".join(self.violations)
        return (
            f"fits: the load leaves at least {self.reserve_fraction:.0%} of every daily allowance"
        )

    def to_json(self) -> dict[str, Any]:
        total = self.total
        return {
            "ranges": [
                {
                    "key": r.key,
                    "lo": r.lo,
                    "hi": r.hi,
                    "rows": r.rows,
                    "change": r.change,
                    **_forecast_json(r.forecast),
                }
                for r in self.ranges
            ],
            "delete": self.delete,
            "add": self.add,
            "total": _forecast_json(total),
            "limits": {
                n: {"Max": a.max, "Remaining": a.remaining} for n, a in self.allowances.items()
            },
            "rows_per_job": self.rows_per_job,
            "reserve_fraction": self.reserve_fraction,
            "fits_quota": self.fits_quota,
            "violations": self.violations,
            "verdict": self.verdict,
        }


def _forecast_json(forecast: LoadForecast) -> dict[str, int]:
    return {
        "jobs": forecast.jobs,
        "internal_batches": forecast.internal_batches,
        "api_calls": forecast.api_calls,
    }


def total_forecast(forecasts: Iterable[LoadForecast]) -> LoadForecast:
    items = list(forecasts)
    return LoadForecast(
        rows=sum(f.rows for f in items),
        jobs=sum(f.jobs for f in items),
        internal_batches=sum(f.internal_batches for f in items),
        api_calls=sum(f.api_calls for f in items),
    )


def make_plan(
    instance: dg.DagsterInstance,
    connections: Connections,
    *,
    target_partitions: int = 10,
    reserve_fraction: float = 0.1,
) -> Plan:
    """Tomorrow's ranges (the planner's rule: yesterday's keys unless a range crossed a size bound),
    their rows, and what loading all of them costs against ``/limits``."""
    current = instance.get_dynamic_partitions(PARTITIONS_NAME)
    source = adapters.source_client(connections.data_cloud)
    wanted = sorted(adapters.plan_keys(source, sorted(current), target_partitions))
    changes = key_order_requests(current, wanted)
    counts = adapters.count_source_ranges(source, wanted)
    per_job = adapters.rows_per_job(connections.salesforce)
    existing = set(current)
    ranges = []
    for key, rows in zip(wanted, counts, strict=True):
        key_range = adapters.range_of_key(key)
        ranges.append(
            RangePlan(
                key=key,
                lo=key_range.lo,
                hi=key_range.hi,
                rows=int(rows),
                forecast=forecast_load(int(rows), per_job),
                change="keep" if key in existing else "add",
            )
        )
    allowances = allowances_from_limits(adapters.limits(connections.salesforce))
    total = total_forecast(r.forecast for r in ranges)
    return Plan(
        ranges=ranges,
        delete=[k for k in changes.delete if k not in set(wanted)],
        add=[r.key for r in ranges if r.change == "add"],
        allowances=allowances,
        violations=quota_violations(total, allowances, reserve_fraction),
        reserve_fraction=reserve_fraction,
        rows_per_job=per_job,
    )


def apply_plan(instance: dg.DagsterInstance, plan: Plan) -> None:
    """Make the instance's keys equal the plan's, in key order (what the planner sensor does)."""
    current = instance.get_dynamic_partitions(PARTITIONS_NAME)
    changes = key_order_requests(current, [r.key for r in plan.ranges])
    busy = busy_keys(instance, current)
    blocked = sorted(set(changes.delete) & set(busy))
    if blocked:
        raise OperationError(
            f"The plan changes ranges with runs in flight ({', '.join(blocked)}); wait for them "
            "or stop them with `sfload stop`, then plan again."
        )
    for key in changes.delete:
        instance.delete_dynamic_partition(PARTITIONS_NAME, key)
    if changes.add:
        instance.add_dynamic_partitions(PARTITIONS_NAME, changes.add)


# -- status and diagnose --------------------------------------------------------------------------


@dataclass
class RangeStatus:
    key: str
    lo: str | None
    hi: str | None
    source_rows: int | None = None
    target_rows: int | None = None  # SOQL count: case-insensitive, so approximate
    missing: int | None = None  # from the last no_missing_records check
    missing_unexplained: int | None = None
    check: str = "unchecked"  # passed | FAILED | unchecked
    last_run_id: str | None = None
    last_run_status: str | None = None
    last_run_started: str | None = None
    in_flight: bool = False
    jobs_in_flight: int = 0


@dataclass
class Status:
    ranges: list[RangeStatus]
    stopped: dict[str, Any] | None
    pool_limit: int
    pool_limit_source: str
    runs_in_flight: int
    errors: list[str] = field(default_factory=list)  # parts that could not be read, with why

    def to_json(self) -> dict[str, Any]:
        return {
            "ranges": [asdict(r) for r in self.ranges],
            "stopped": self.stopped,
            "pool": {"name": POOL, "limit": self.pool_limit, "source": self.pool_limit_source},
            "runs_in_flight": self.runs_in_flight,
            "errors": self.errors,
        }


def require_keys(instance: dg.DagsterInstance) -> list[str]:
    keys = current_keys(instance)
    if not keys:
        raise OperationError(
            "No ranges yet in this instance (DAGSTER_HOME): run `sfload plan` to create them."
        )
    return keys


def status(
    instance: dg.DagsterInstance, connections: Connections | None, *, counts: bool = True
) -> Status:
    keys = require_keys(instance)
    busy = busy_keys(instance, keys)
    ranges = [_range_status(instance, key, key in busy) for key in keys]
    limit, source = pool_limit(instance)
    result = Status(
        ranges, stop_state(instance), limit, source, runs_in_flight=len(in_flight_runs(instance))
    )
    if counts and connections is not None:
        _fill_counts(result, connections)
    return result


def _range_status(instance: dg.DagsterInstance, key: str, in_flight: bool) -> RangeStatus:
    key_range = adapters.range_of_key(key)
    status = RangeStatus(key=key, lo=key_range.lo, hi=key_range.hi, in_flight=in_flight)
    run = last_run(instance, key)
    if run is not None:
        status.last_run_id = run.run_id
        status.last_run_status = run.status.value
        record = instance.get_run_record_by_id(run.run_id)
        if record is not None and record.start_time:
            status.last_run_started = _iso(record.start_time)
    if in_flight:
        status.jobs_in_flight = len(read_checkpoint(instance, ASSET_KEY, key).open_jobs)
    check = latest_check(instance, key)
    if check is not None:
        status.check = "passed" if check.passed else "FAILED"
        meta = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
        status.missing = _int_or_none(meta.get("missing"))
        status.missing_unexplained = _int_or_none(meta.get("missing_unexplained"))
    return status


def _fill_counts(result: Status, connections: Connections) -> None:
    keys = [r.key for r in result.ranges]
    try:
        source = adapters.source_client(connections.data_cloud)
        for r, n in zip(result.ranges, adapters.count_source_ranges(source, keys), strict=True):
            r.source_rows = int(n)
    except Exception as exc:
        result.errors.append(f"Data Cloud counts unavailable: {describe_error(exc)}")
    try:
        target = adapters.target_client(connections.salesforce)
        for r in result.ranges:
            r.target_rows = adapters.count_target_range(target, r.key)
    except Exception as exc:
        result.errors.append(f"Salesforce counts unavailable: {describe_error(exc)}")


def latest_check(instance: dg.DagsterInstance, key: str) -> dg.AssetCheckEvaluation | None:
    record = latest_check_record(instance, key)
    if record is None or record.event is None or record.event.dagster_event is None:
        return None
    data = record.event.dagster_event.event_specific_data
    return data if isinstance(data, dg.AssetCheckEvaluation) else None


def latest_check_record(instance: dg.DagsterInstance, key: str) -> Any:
    from dagster._core.event_api import PartitionKeyFilter

    check_key = dg.AssetCheckKey(ASSET_KEY, NO_MISSING_RECORDS)
    return instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [check_key], partition_filter=PartitionKeyFilter(key=key)
    ).get(check_key)


@dataclass
class RecentError:
    run_id: str
    key: str | None
    at: str
    message: str
    cause: str | None


@dataclass
class Diagnosis:
    status: Status
    limits: dict[str, dict[str, int]]
    rejected_by_code: dict[str, int]
    quarantined_by_reason: dict[str, int]
    dead_letter_files: dict[str, str]
    recent_errors: list[RecentError]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.status.to_json(),
            "limits": self.limits,
            "rejected_by_code": self.rejected_by_code,
            "quarantined_by_reason": self.quarantined_by_reason,
            "dead_letter_files": self.dead_letter_files,
            "recent_errors": [asdict(e) for e in self.recent_errors],
        }


def diagnose(
    instance: dg.DagsterInstance, connections: Connections | None, *, error_limit: int = 10
) -> Diagnosis:
    current = status(instance, connections)
    limits: dict[str, dict[str, int]] = {}
    if connections is not None:
        try:
            limits = adapters.limits(adapters.target_client(connections.salesforce))
        except Exception as exc:
            current.errors.append(f"/limits unavailable: {describe_error(exc)}")
    rejected: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    files: dict[str, str] = {}
    for r in current.ranges:
        path = latest_materialization_metadata(instance, r.key).get("dead_letter_file")
        if not path:
            continue
        files[r.key] = str(path)
        table = read_dead_letter(str(path))
        _add_counts(rejected, counts_by_code(table, KIND_REJECTED))
        _add_counts(quarantined, counts_by_code(table, KIND_QUARANTINED))
    return Diagnosis(
        status=current,
        limits=limits,
        rejected_by_code=dict(sorted(rejected.items())),
        quarantined_by_reason=dict(sorted(quarantined.items())),
        dead_letter_files=files,
        recent_errors=recent_errors(instance, error_limit),
    )


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for code, n in counts.items():
        into[code] = into.get(code, 0) + int(n)


def recent_errors(instance: dg.DagsterInstance, limit: int = 10) -> list[RecentError]:
    """Failures of recent runs of the asset, newest first: the error and its root cause."""
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]),
        limit=limit * 5,
    )
    out: list[RecentError] = []
    for record in records:
        run = record.dagster_run
        if not is_asset_run(run):
            continue
        out.extend(_run_errors(instance, run))
        if len(out) >= limit:
            break
    return out[:limit]


def _run_errors(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[RecentError]:
    types = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    errors = []
    for entry in instance.all_logs(run.run_id, of_type=types):
        event = entry.dagster_event
        if event is None:
            continue
        info = getattr(event.event_specific_data, "error", None)
        message = info.message.strip() if info is not None else (event.message or "").strip()
        if not message and event.event_type == dg.DagsterEventType.RUN_FAILURE:
            continue
        errors.append(
            RecentError(
                run_id=run.run_id,
                key=run.tags.get(PARTITION_TAG),
                at=_iso(entry.timestamp),
                message=_first_line(message),
                cause=_root_cause(info),
            )
        )
    if not errors and run.status == dg.DagsterRunStatus.CANCELED:
        errors.append(
            RecentError(
                run.run_id, run.tags.get(PARTITION_TAG), "", "run canceled", "terminated on request"
            )
        )
    return errors[:2]


def _root_cause(info: Any) -> str | None:
    cause = None
    while info is not None and getattr(info, "cause", None) is not None:
        info = info.cause
        cause = info
    if cause is None:
        return None
    return f"{cause.cls_name}: {_first_line(cause.message)}" if cause.cls_name else cause.message


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def describe_error(exc: BaseException) -> str:
    """The exception's class and first line (our errors are redacted already; nothing else is)."""
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# -- load ---------------------------------------------------------------------------------------


def opportunities_job_def() -> dg.JobDefinition:
    """The job, resolved from the code location (module level, so ``reconstructable`` finds it)."""
    from orchestration.definitions import defs

    return defs.resolve_job_def(JOB_NAME)


JOB_REF = "orchestration.operations:opportunities_job_def"


def _job_factory(job_ref: str) -> Callable[[], dg.JobDefinition]:
    module, name = job_ref.split(":")
    factory: Callable[[], dg.JobDefinition] = getattr(importlib.import_module(module), name)
    return factory


def execute_range(
    key: str, load_id: str, log_file: str, environ: Mapping[str, str], job_ref: str = JOB_REF
) -> None:
    """One worker process: one run of one range, recorded in ``DAGSTER_HOME``'s instance."""
    os.setpgrp()  # a Ctrl-C in the terminal reaches the parent, which cancels runs properly
    # The fork server keeps the environment it started with; the run needs the loader's now.
    os.environ.clear()
    os.environ.update(environ)
    with open(log_file, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    tags = {
        PARTITION_TAG: key,
        LOAD_TAG: load_id,
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
    }
    with dg.DagsterInstance.get() as instance:
        if stop_state(instance):  # stopped while this worker was starting
            remember_for_restart(instance, [key])
            return
        factory = _job_factory(job_ref)
        with dg.execute_job(
            dg.reconstructable(factory),
            instance=instance,
            tags=tags,
            run_config=run_config_for(factory()),
        ):
            pass


def run_config_for(job: dg.JobDefinition) -> dict[str, Any]:
    """Steps of a run execute in its worker process: no process per step to start."""
    if job.executor_def.name == dg.multi_or_in_process_executor.name:
        return IN_PROCESS_RUN_CONFIG
    return {}


@dataclass(frozen=True)
class Progress:
    rows_done: int  # source rows of finished ranges, and of running ranges' submitted jobs
    rows_total: int
    ranges_done: int
    ranges_failed: int
    ranges_running: int
    ranges_total: int
    seconds: float


@dataclass
class RangeResult:
    key: str
    run_id: str | None
    status: str  # a DagsterRunStatus value, or NOT_STARTED / STOPPED
    rows_source: int | None = None
    rows_read: int | None = None
    created: int | None = None
    updated: int | None = None
    rejected: int | None = None
    quarantined: int | None = None
    missing: int | None = None
    missing_unexplained: int | None = None
    check: str = "unchecked"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.status == dg.DagsterRunStatus.SUCCESS.value
            and self.check == "passed"
            and not self.missing_unexplained
        )


@dataclass
class LoadResult:
    load_id: str
    ranges: list[RangeResult]
    seconds: float
    limit: int

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.ranges)

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read or 0 for r in self.ranges)

    def to_json(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "pool_limit": self.limit,
            "rows_read": self.rows_read,
            "ranges": [{**asdict(r), "ok": r.ok} for r in self.ranges],
        }


ProgressCallback = Callable[[Progress], None]


def worker_context() -> Any:
    """Workers fork from a server process that imported Dagster and the code location once
    (importing them costs seconds of CPU per process); nothing is forked from this threaded one."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["orchestration.operations", "orchestration.definitions"])
    return context


@dataclass
class _Worker:
    key: str
    process: multiprocessing.process.BaseProcess
    log_file: Path


class RangeLoader:
    """Runs ranges as Dagster runs in worker processes, at most ``limit`` runs of the asset at once."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        keys: Sequence[str],
        *,
        limit: int,
        source_rows: Mapping[str, int] | None = None,
        poll_s: float = 1.0,
        on_progress: ProgressCallback | None = None,
        job_ref: str = JOB_REF,
    ) -> None:
        self.instance = instance
        self.job_ref = job_ref
        self.keys = list(keys)
        self.limit = max(1, limit)
        self.source_rows = dict(source_rows or {})
        self.poll_s = poll_s
        self.on_progress = on_progress or (lambda progress: None)
        self.load_id = uuid.uuid4().hex[:12]
        self._pending = list(self.keys)
        self._running: dict[str, _Worker] = {}
        self._started = time.monotonic()
        self._not_started: dict[str, str] = {}
        self._logs = Path(instance.storage_directory()) / "sfload_logs"

    def run(self) -> LoadResult:
        self._logs.mkdir(parents=True, exist_ok=True)
        context = worker_context()
        try:
            while self._pending or self._running:
                self._reap()
                if self._pending and stop_state(self.instance):
                    self._leave_to_restart()
                for _ in range(self._free_slots()):
                    self._start(context, self._pending.pop(0))
                self.on_progress(self.progress())
                if self._pending or self._running:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            self._cancel_own_runs()
            raise
        self.on_progress(self.progress())
        return LoadResult(
            self.load_id, self.results(), time.monotonic() - self._started, self.limit
        )

    def _leave_to_restart(self) -> None:
        """Stopped: start nothing more; the ranges not started are resumed by ``restart``."""
        remember_for_restart(self.instance, self._pending)
        for key in self._pending:
            self._not_started[key] = "STOPPED"
        self._pending.clear()

    def _free_slots(self) -> int:
        if not self._pending:
            return 0
        others = [r for r in in_flight_runs(self.instance) if r.tags.get(LOAD_TAG) != self.load_id]
        return max(0, min(len(self._pending), self.limit - len(self._running) - len(others)))

    def _start(self, context: Any, key: str) -> None:
        log_file = self._logs / f"{self.load_id}-{self.keys.index(key):04d}.log"
        process = context.Process(
            target=execute_range,
            args=(key, self.load_id, str(log_file), dict(os.environ), self.job_ref),
            daemon=False,
        )
        process.start()
        self._running[key] = _Worker(key, process, log_file)

    def _reap(self) -> None:
        for key, worker in list(self._running.items()):
            if not worker.process.is_alive():
                worker.process.join()
                del self._running[key]

    def _runs(self) -> dict[str, dg.DagsterRun]:
        records = self.instance.get_run_records(dg.RunsFilter(tags={LOAD_TAG: self.load_id}))
        out: dict[str, dg.DagsterRun] = {}
        for record in records:  # newest first: keep the newest run per range
            out.setdefault(record.dagster_run.tags.get(PARTITION_TAG, ""), record.dagster_run)
        return out

    def progress(self) -> Progress:
        runs = self._runs()
        done = failed = rows = 0
        for key in self.keys:
            run = runs.get(key)
            if run is None:
                continue
            if run.status == dg.DagsterRunStatus.SUCCESS:
                done += 1
                rows += self._rows_done(key, run)
            elif run.status in FINISHED_STATUSES:
                failed += 1
            else:
                rows += self._rows_done(key, run)
        return Progress(
            rows_done=rows,
            rows_total=sum(self.source_rows.get(k, 0) for k in self.keys),
            ranges_done=done,
            ranges_failed=failed + len(self._not_started),
            ranges_running=len(self._running),
            ranges_total=len(self.keys),
            seconds=time.monotonic() - self._started,
        )

    def _rows_done(self, key: str, run: dg.DagsterRun) -> int:
        """Rows of the range this run has read: its materialization once the asset step is done
        (the checkpoint is closed then, while the checks may still run), else its checkpoint."""
        materialized = _materialization(self.instance, key, run.run_id).get("rows_read")
        if materialized is not None:
            return int(materialized)
        return read_checkpoint(self.instance, ASSET_KEY, key).rows_read

    def results(self) -> list[RangeResult]:
        runs = self._runs()
        out = []
        for index, key in enumerate(self.keys):
            run = runs.get(key)
            if run is None:
                status = self._not_started.get(key, "NOT_STARTED")
                error = None
                if status == "NOT_STARTED":
                    error = _tail(self._logs / f"{self.load_id}-{index:04d}.log")
                out.append(RangeResult(key, None, status, self.source_rows.get(key), error=error))
                continue
            out.append(range_result(self.instance, key, run, self.source_rows.get(key)))
        return out

    def _cancel_own_runs(self) -> None:
        for run in self._runs().values():
            if run.status not in FINISHED_STATUSES:
                self.instance.report_run_canceling(run, message="Interrupted from sfload load")
        for worker in self._running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid or 0, signal.SIGINT)
        for worker in self._running.values():
            worker.process.join(timeout=30)


def range_result(
    instance: dg.DagsterInstance, key: str, run: dg.DagsterRun, source_rows: int | None
) -> RangeResult:
    result = RangeResult(key, run.run_id, run.status.value, source_rows)
    meta = _materialization(instance, key, run.run_id)
    if meta:
        result.rows_read = _int_or_none(meta.get("rows_read"))
        result.created = _int_or_none(meta.get("rows_created"))
        result.updated = _int_or_none(meta.get("rows_updated"))
        result.rejected = _int_or_none(meta.get("rows_rejected"))
        result.quarantined = _int_or_none(meta.get("rows_quarantined"))
    record = latest_check_record(instance, key)
    if record is not None and record.run_id == run.run_id:
        check = latest_check(instance, key)
        if check is not None:
            result.check = "passed" if check.passed else "FAILED"
            values = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
            result.missing = _int_or_none(values.get("missing"))
            result.missing_unexplained = _int_or_none(values.get("missing_unexplained"))
    if run.status != dg.DagsterRunStatus.SUCCESS:
        errors = _run_errors(instance, run)
        if errors:
            result.error = errors[0].message + (
                f" (cause: {errors[0].cause})" if errors[0].cause else ""
            )
    return result


def _materialization(instance: dg.DagsterInstance, key: str, run_id: str) -> dict[str, Any]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[key]), limit=1
    ).records
    if not records or records[0].run_id != run_id or records[0].asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}


def _tail(path: Path, lines: int = 5) -> str | None:
    if not path.exists():
        return None
    text = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) if text else None


def resolve_keys(instance: dg.DagsterInstance, keys: Sequence[str], every: bool) -> list[str]:
    known = require_keys(instance)
    if every:
        if keys:
            raise OperationError("Give either --all or range keys, not both.")
        return known
    if not keys:
        raise OperationError(
            "Say what to load: --all, or one or more range keys (`sfload status`)."
        )
    unknown = [k for k in keys if k not in set(known)]
    if unknown:
        raise OperationError(
            f"Unknown range key(s): {', '.join(unknown)}. Current keys: {', '.join(known)}."
        )
    return [k for k in known if k in set(keys)]


def load(
    instance: dg.DagsterInstance,
    connections: Connections,
    keys: Sequence[str],
    *,
    on_progress: ProgressCallback | None = None,
    poll_s: float = 1.0,
    limit: int | None = None,
) -> LoadResult:
    """Load ranges through Dagster; refuses while stopped or while a range already has a run."""
    stopped = stop_state(instance)
    if stopped:
        raise OperationError(
            f"sfload was stopped at {stopped.get('stopped_at')}; run `sfload restart` first."
        )
    busy = busy_keys(instance, keys)
    if busy:
        listed = ", ".join(f"{k} (run {r})" for k, r in sorted(busy.items()))
        raise OperationError(
            f"Ranges already have a run in flight: {listed}. Wait or `sfload stop`."
        )
    source = adapters.source_client(connections.data_cloud)
    all_keys = current_keys(instance)
    counts = dict(zip(all_keys, adapters.count_source_ranges(source, all_keys), strict=True))
    loader = RangeLoader(
        instance,
        keys,
        limit=limit or pool_limit(instance)[0],
        source_rows={k: int(counts.get(k, 0)) for k in keys},
        poll_s=poll_s,
        on_progress=on_progress,
    )
    return loader.run()


# -- stop and restart ---------------------------------------------------------------------------


def stop_state(instance: dg.DagsterInstance) -> dict[str, Any] | None:
    raw = instance.run_storage.get_cursor_values({STOP_STATE_KEY}).get(STOP_STATE_KEY)
    return json.loads(raw) if raw else None


def remember_for_restart(instance: dg.DagsterInstance, keys: Iterable[str]) -> None:
    state = stop_state(instance)
    if state is not None:
        state["ranges"] = sorted(set(state.get("ranges", [])) | set(keys))
        _save_stop_state(instance, state)


def _save_stop_state(instance: dg.DagsterInstance, state: dict[str, Any] | None) -> None:
    instance.run_storage.set_cursor_values({STOP_STATE_KEY: json.dumps(state) if state else ""})


@dataclass
class StopReport:
    instigators_stopped: list[str] = field(default_factory=list)
    runs_canceled: list[str] = field(default_factory=list)  # queued, never started
    runs_terminated: list[str] = field(default_factory=list)
    runs_forced: list[str] = field(default_factory=list)  # did not end in time: marked canceled
    jobs_aborted: list[str] = field(default_factory=list)
    checkpoints_rewound: dict[str, int] = field(default_factory=dict)  # key -> jobs kept
    ranges: list[str] = field(default_factory=list)  # ranges whose runs were stopped
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def stop(
    instance: dg.DagsterInstance,
    connections: Connections | None,
    *,
    timeout_s: float = 60.0,
    all_open_jobs: bool = False,
    poll_s: float = 0.5,
) -> StopReport:
    """Stop schedule and sensors, cancel queued runs, terminate running ones, abort the Bulk jobs
    they left open, and rewind their checkpoints past aborted jobs so a restart re-sends those rows."""
    report = StopReport()
    previous = stop_state(instance) or {}
    stopped_instigators = _stop_instigators(instance)
    report.instigators_stopped = [s["name"] for s in stopped_instigators]
    runs = in_flight_runs(instance)
    report.ranges = sorted(busy_partitions([r.tags for r in runs], current_keys(instance)))
    _save_stop_state(
        instance,
        {
            "stopped_at": _iso(time.time()),
            "instigators": _merge_by_name(previous.get("instigators", []), stopped_instigators),
            "ranges": sorted(set(previous.get("ranges", [])) | set(report.ranges)),
        },
    )
    _terminate(instance, runs, report)
    abort = _job_aborter(instance, connections, report, runs, all_open_jobs)
    deadline = time.monotonic() + timeout_s
    quiet_polls = 0
    while True:
        abort()
        late = [r for r in in_flight_runs(instance) if r.run_id not in {x.run_id for x in runs}]
        if late:  # created by a worker that was starting when the stop state was written
            _terminate(instance, late, report)
            runs.extend(late)
            remember_for_restart(
                instance, busy_partitions([r.tags for r in late], current_keys(instance))
            )
        alive = [r for r in runs if not _is_finished(instance, r.run_id)]
        quiet_polls = 0 if alive or late else quiet_polls + 1
        if quiet_polls >= STOP_SETTLE_POLLS or time.monotonic() > deadline:
            break
        for run in alive:
            _interrupt_or_bury(instance, run)
        time.sleep(poll_s)
    for run in runs:
        if not _is_finished(instance, run.run_id):
            _force_cancel(instance, run)
            report.runs_forced.append(run.run_id)
    abort()
    if connections is not None:
        _rewind_checkpoints(instance, connections, report)
    return report


def _merge_by_name(old: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {s["name"]: s for s in old}
    merged.update({s["name"]: s for s in new})
    return sorted(merged.values(), key=lambda s: s["name"])


def _stop_instigators(instance: dg.DagsterInstance) -> list[dict[str, str]]:
    stopped = []
    running = {InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}
    for state in instance.all_instigator_state(instigator_statuses=running):
        if state.name not in INSTIGATOR_NAMES:
            continue
        instance.update_instigator_state(_stopped(state))
        stopped.append(
            {
                "name": state.name,
                "origin_id": state.instigator_origin_id,
                "selector_id": state.selector_id,
            }
        )
    return stopped


def _stopped(state: InstigatorState) -> InstigatorState:
    data = state.instigator_data
    if isinstance(data, ScheduleInstigatorData):
        return state.with_status(InstigatorStatus.STOPPED).with_data(
            ScheduleInstigatorData(cron_schedule=data.cron_schedule, start_timestamp=None)
        )
    return state.with_status(InstigatorStatus.STOPPED)


def _started(state: InstigatorState) -> InstigatorState:
    data = state.instigator_data
    now = time.time()
    if isinstance(data, ScheduleInstigatorData):
        data = ScheduleInstigatorData(cron_schedule=data.cron_schedule, start_timestamp=now)
    elif isinstance(data, SensorInstigatorData):
        data = data.with_sensor_start_timestamp(now)
    running = state.with_status(InstigatorStatus.RUNNING)
    return running if data is None else running.with_data(data)


def _run_start(instance: dg.DagsterInstance, run: dg.DagsterRun) -> float:
    record = instance.get_run_record_by_id(run.run_id)
    if record is None:
        return time.time()
    return float(record.start_time or record.create_timestamp.timestamp())


def _is_finished(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.status in FINISHED_STATUSES


def _own_worker_pid(run: dg.DagsterRun) -> int | None:
    """The pid of the ``sfload load`` worker executing this run, if it runs on this machine."""
    pid = run.tags.get(PID_TAG)
    if not pid or run.tags.get(HOST_TAG) != socket.gethostname():
        return None
    return int(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(
    instance: dg.DagsterInstance, runs: Sequence[dg.DagsterRun], report: StopReport
) -> None:
    for run in runs:
        if run.status in (
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
        ) and not _own_worker_pid(run):
            instance.report_run_canceled(run, message="Canceled by sfload stop")
            report.runs_canceled.append(run.run_id)
            continue
        pid = _own_worker_pid(run)
        if pid is not None:
            instance.report_run_canceling(run, message="Terminating: sfload stop")
            if not _alive(pid):
                instance.report_run_canceled(run, message="Worker process gone: sfload stop")
            else:
                _interrupt(run)
        else:
            try:
                if not instance.run_launcher.terminate(run.run_id):
                    report.errors.append(f"run {run.run_id}: the launcher could not reach it")
            except Exception as exc:
                report.errors.append(f"run {run.run_id}: terminate failed: {describe_error(exc)}")
        report.runs_terminated.append(run.run_id)


def _interrupt_or_bury(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Interrupt again (one can land where it is only recorded, or inside a blocking wait); a run
    whose worker is gone can never report its end, so it is marked canceled."""
    pid = _own_worker_pid(run)
    if pid is not None and not _alive(pid):
        current = instance.get_run_by_id(run.run_id)
        if current is not None and current.status not in FINISHED_STATUSES:
            instance.report_run_canceled(current, message="Worker process gone: sfload stop")
        return
    _interrupt(run)


def _interrupt(run: dg.DagsterRun) -> None:
    pid = _own_worker_pid(run)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)


def _force_cancel(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    pid = _own_worker_pid(run)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    current = instance.get_run_by_id(run.run_id)
    if current is not None and current.status not in FINISHED_STATUSES:
        instance.report_run_canceled(current, message="Forced: did not stop in time (sfload stop)")


def _job_aborter(
    instance: dg.DagsterInstance,
    connections: Connections | None,
    report: StopReport,
    runs: Sequence[dg.DagsterRun],
    all_open_jobs: bool,
) -> Callable[[], None]:
    """A pass that aborts the open jobs of the stopped runs: those in checkpoints, and Opportunity
    jobs created since the first stopped run started (a job created but not yet checkpointed)."""
    if connections is None:
        return lambda: None
    client = connections.salesforce.client
    object_name = adapters.spec().object_name
    aborted: set[str] = set()

    def abort_pass() -> None:
        earliest_run_start = min((_run_start(instance, r) for r in runs), default=None)
        try:
            candidates = {
                job
                for key in current_keys(instance)
                for job in read_checkpoint(instance, ASSET_KEY, key).open_jobs
            }
            for job in client.list_open_jobs(object_name):
                if all_open_jobs or _created_since(job, earliest_run_start):
                    candidates.add(job.id)
            for job_id in sorted(candidates - aborted):
                info = client.abort_job(job_id)
                aborted.add(job_id)
                if info.state is JobState.ABORTED:
                    report.jobs_aborted.append(job_id)
        except Exception as exc:
            report.errors.append(f"aborting Bulk jobs: {describe_error(exc)}")

    return abort_pass


def _created_since(job: JobInfo, since: float | None) -> bool:
    if since is None or not job.created_date:
        return False
    created = _parse_salesforce_time(job.created_date)
    return created is not None and created >= since - CLOCK_SKEW_S


def _parse_salesforce_time(text: str) -> float | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, fmt).timestamp()
    return None


def checkpoint_history(
    instance: dg.DagsterInstance, key: str, limit: int = 1000
) -> list[Checkpoint]:
    """The checkpoints of the range's current attempt chain, newest first."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[key]), limit=limit
    ).records
    chain: list[Checkpoint] = []
    for record in records:
        observation = record.asset_observation
        if observation is None or observation.tags.get(CHECKPOINT_TAG) != "true":
            continue
        checkpoint = Checkpoint.from_metadata(observation.metadata)
        if not checkpoint.is_resumable:
            break
        chain.append(checkpoint)
    return chain


def rewound_checkpoint(history: Sequence[Checkpoint], aborted: set[str]) -> Checkpoint | None:
    """The checkpoint to resume from when ``aborted`` jobs will never finish their rows: the state
    right after the last job before the first aborted one (later rows are read and sent again;
    upsert makes that harmless). None when no job of the checkpoint was aborted."""
    if not history:
        return None
    current = history[0]
    kept: list[str] = []
    for job in current.submitted_jobs:
        if job in aborted:
            break
        kept.append(job)
    if len(kept) == len(current.submitted_jobs):
        return None
    if not kept:
        return Checkpoint()
    at = next((c for c in history if c.submitted_jobs == tuple(kept)), None)
    if at is None:
        return Checkpoint()
    return Checkpoint(
        submitted_jobs=tuple(kept),
        finished_jobs=tuple(j for j in current.finished_jobs if j in set(kept)),
        last_submitted_id=at.last_submitted_id,
        last_finished_id=at.last_finished_id,
        rows_read=at.rows_read,
        rows_quarantined=at.rows_quarantined,
    )


def _rewind_checkpoints(
    instance: dg.DagsterInstance, connections: Connections, report: StopReport
) -> None:
    client = connections.salesforce.client
    for key in current_keys(instance):
        history = checkpoint_history(instance, key)
        if not history:
            continue
        try:
            aborted = {
                job
                for job in history[0].submitted_jobs
                if client.get_job(job).state is JobState.ABORTED
            }
        except Exception as exc:
            report.errors.append(f"range {key}: job states unavailable: {describe_error(exc)}")
            continue
        rewound = rewound_checkpoint(history, aborted)
        if rewound is None:
            continue
        instance.report_runless_asset_event(checkpoint_observation(ASSET_KEY, key, rewound))
        _drop_quarantine_parts(
            instance, key, history[0].submitted_jobs[len(rewound.submitted_jobs) :]
        )
        report.checkpoints_rewound[key] = len(rewound.submitted_jobs)
        if key not in report.ranges:
            report.ranges.append(key)
    if report.checkpoints_rewound:
        state = stop_state(instance) or {}
        state["ranges"] = sorted(set(state.get("ranges", [])) | set(report.checkpoints_rewound))
        _save_stop_state(instance, state)


def _drop_quarantine_parts(instance: dg.DagsterInstance, key: str, jobs: Iterable[str]) -> None:
    """Rows of dropped jobs are read again and quarantined again; their old parts would count twice."""
    from urllib.parse import quote

    store = DeadLetterStore(instance.storage_directory(), key)
    for job in jobs:
        part = store.pending / f"{quote(f'quarantined-{job}', safe='')}.parquet"
        part.unlink(missing_ok=True)


@dataclass
class RestartReport:
    instigators_started: list[str]
    ranges: list[str]  # to resume from their checkpoints
    was_stopped: bool


def restart(instance: dg.DagsterInstance) -> RestartReport:
    """Undo ``stop``: start what it stopped and clear the stop state; the caller loads ``ranges``."""
    state = stop_state(instance)
    if not state:
        return RestartReport([], [], was_stopped=False)
    started = []
    for item in state.get("instigators", []):
        stored = instance.get_instigator_state(item["origin_id"], item["selector_id"])
        if stored is not None:
            instance.update_instigator_state(_started(stored))
            started.append(item["name"])
    _save_stop_state(instance, None)
    known = set(current_keys(instance))
    return RestartReport(
        started, [k for k in state.get("ranges", []) if k in known], was_stopped=True
    )


def env_for_emulator(
    ready: Mapping[str, Any], api_version: str = DEFAULT_API_VERSION
) -> dict[str, str]:
    """The SALESFORCE_* variables for an emulator's ready line (client credentials flow)."""
    return {
        "SALESFORCE_LOGIN_URL": str(ready["login_url"]),
        "SALESFORCE_CLIENT_ID": str(ready["client_id"]),
        "SALESFORCE_CLIENT_SECRET": str(ready["client_secret"]),
        "SALESFORCE_USERNAME": str(ready.get("username") or ""),
        "SALESFORCE_PRIVATE_KEY_FILE": "",
        "SALESFORCE_CA_BUNDLE": str(ready.get("ca_bundle") or ""),
        "SALESFORCE_API_VERSION": api_version,
        # The pace the demo's ranges report (org_rows_per_second) on 2 cores with three ranges
        # loading at once; one job alone goes 150k-250k rows/s.
        "SFLOAD_ORG_ROWS_PER_S": "25000",
    }
