"""Helpers of the reliability proofs: faults through the control plane, a Salesforce resource that
does something to the world after the n-th Bulk job of a load, retries as Dagster does them, and
the accounting of every source row against the emulator's own tables."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa

from assets.checks import NO_MISSING_RECORDS, no_missing_records, no_rejected_records
from assets.dead_letter import KIND_QUARANTINED, KIND_REJECTED, read_dead_letter
from assets.keys import key_to_range
from assets.opportunities import salesforce_opportunities
from emulator.server import EmulatorServer
from resources.salesforce import IngestReport, JobOutcome, ObjectSpec, SalesforceResource
from tests.assets.materialize_support import (
    check_results,
    control,
    datacloud_ids,
    load_metadata,
    materialize_range,
    salesforce_external_ids,
)

# What a HookedSalesforce does after its n-th job, by hook name (resources hold config only).
_HOOKS: dict[str, Callable[[], None]] = {}
_FIRED: set[str] = set()
_hook_names = itertools.count()


def register_hook(action: Callable[[], None]) -> str:
    """A name for ``action``; it runs once, however many loads use the name."""
    name = f"hook-{next(_hook_names)}"
    _HOOKS[name] = action
    return name


def hook_fired(name: str) -> bool:
    return name in _FIRED


class HookedSalesforce(SalesforceResource):
    """Runs the named hook once, right after the ``after_jobs``-th job of a load was submitted
    and checkpointed (in the uploading thread, before the next chunk is read)."""

    after_jobs: int
    hook: str

    def upsert(
        self,
        batches: Iterable[pa.RecordBatch] | None,
        spec: ObjectSpec,
        *,
        resume_job_ids: Iterable[str] = (),
        on_job_submitted: Callable[[str, str | None], None] | None = None,
        on_job_finished: Callable[[JobOutcome], None] | None = None,
    ) -> IngestReport:
        submitted: list[str] = []

        def submitted_then_hook(job_id: str, last_id: str | None) -> None:
            if on_job_submitted is not None:
                on_job_submitted(job_id, last_id)
            submitted.append(job_id)
            if len(submitted) == self.after_jobs and self.hook not in _FIRED:
                _FIRED.add(self.hook)
                _HOOKS[self.hook]()

        return super().upsert(
            batches,
            spec,
            resume_job_ids=resume_job_ids,
            on_job_submitted=submitted_then_hook,
            on_job_finished=on_job_finished,
        )


def hooked_salesforce(
    server: EmulatorServer, after_jobs: int, action: Callable[[], None], **overrides: Any
) -> HookedSalesforce:
    info = server.ready_info()
    return HookedSalesforce(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=info["ca_bundle"],
        poll_initial_s=0.05,
        poll_max_s=0.2,
        after_jobs=after_jobs,
        hook=register_hook(action),
        **overrides,
    )


# -- the control plane ------------------------------------------------------------------------


def set_faults(server: EmulatorServer, plan: Mapping[str, Any] | str) -> None:
    with control(server) as session:
        response = session.post(f"{server.url}/__emulator__/faults", json=plan, timeout=30)
        response.raise_for_status()


# -- Dagster's retries ------------------------------------------------------------------------


@dataclass
class RangeRun:
    key: str
    attempts: int
    result: dg.ExecuteInProcessResult


def materialize_with_retries(
    instance: dg.DagsterInstance, resources: Mapping[str, Any], key: str, attempts: int
) -> RangeRun:
    """Re-materialize a failed range up to ``attempts`` times, as a run retry would."""
    tried = 0
    while True:
        tried += 1
        result = materialize_range(instance, resources, key, raise_on_error=False)
        if result.success or tried == attempts:
            return RangeRun(key, tried, result)


# -- accounting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    source: int  # Data Cloud rows of the range (blank ids included)
    loaded: int  # of those, rows whose id Salesforce holds a record for (any case)
    rejected: int  # dead-letter rows with Salesforce's reason
    quarantined: int  # dead-letter rows with ours
    unloaded_without_reason: list[str]  # ids neither loaded nor in the dead letter

    @property
    def balanced(self) -> bool:
        return self.loaded + self.rejected + self.quarantined == self.source


def account_for_range(server: EmulatorServer, key: str, metadata: Mapping[str, Any]) -> Accounting:
    """Every Data Cloud row of the range against the emulator's Opportunity table and the dead
    letter the load wrote (rows, not ids: a quarantined duplicate id holds back both rows)."""
    key_range = key_to_range(key)
    in_range = [i for i in datacloud_ids(server) if _blank(i) or key_range.contains(str(i))]
    if key_range.lo is not None:  # blank ids are read (and quarantined) by the first range only
        in_range = [i for i in in_range if not _blank(i)]
    held = {i.lower() for i in salesforce_external_ids(server)}
    dead_letter = read_dead_letter(metadata.get("dead_letter_file") or None)
    kinds = Counter(dead_letter["kind"].to_pylist())
    explained = {str(i) for i in dead_letter["external_id"].to_pylist() if i is not None}
    loaded_rows = [i for i in in_range if not _blank(i) and str(i).lower() in held]
    unexplained = [
        str(i)
        for i in in_range
        if not _blank(i) and str(i).lower() not in held and str(i) not in explained
    ]
    return Accounting(
        source=len(in_range),
        loaded=len(loaded_rows),
        rejected=kinds.get(KIND_REJECTED, 0),
        quarantined=kinds.get(KIND_QUARANTINED, 0),
        unloaded_without_reason=unexplained,
    )


def assert_every_row_accounted_for(
    server: EmulatorServer, key: str, result: dg.ExecuteInProcessResult
) -> Accounting:
    """loaded + rejected + quarantined = source, by the emulator's tables, and the load's
    metadata and the missing-records check say the same."""
    meta = load_metadata(result)
    accounting = account_for_range(server, key, meta)
    assert accounting.balanced, accounting
    assert accounting.unloaded_without_reason == []
    assert meta["rows_read"] == accounting.source
    assert meta["rows_created"] + meta["rows_updated"] == accounting.loaded
    assert meta["rows_rejected"] == accounting.rejected
    assert meta["rows_quarantined"] == accounting.quarantined
    check = check_results(result)[NO_MISSING_RECORDS]
    assert check.passed
    assert _meta_int(check, "missing_unexplained") == 0
    return accounting


def duplicate_records(server: EmulatorServer) -> dict[str, int]:
    """Salesforce records per lower-cased External_Id__c, where there is more than one."""
    counts = Counter(i.lower() for i in salesforce_external_ids(server))
    return {k: n for k, n in counts.items() if n > 1}


def check_metadata_int(result: dg.ExecuteInProcessResult, check: str, name: str) -> int:
    return _meta_int(check_results(result)[check], name)


def _meta_int(evaluation: dg.AssetCheckEvaluation, name: str) -> int:
    value = evaluation.metadata[name]
    return int(getattr(value, "value", value))


def _blank(external_id: str | None) -> bool:
    return external_id is None or not external_id.strip()


def materialize_with_config(
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    key: str,
    load_config: Mapping[str, Any],
) -> dg.ExecuteInProcessResult:
    """``materialize_range`` with the asset's run config (e.g. the delete policy)."""
    return dg.materialize(
        [salesforce_opportunities, no_missing_records, no_rejected_records],
        partition_key=key,
        resources=dict(resources),
        instance=instance,
        run_config={"ops": {salesforce_opportunities.op.name: {"config": dict(load_config)}}},
    )
