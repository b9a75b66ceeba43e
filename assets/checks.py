"""Checks of ``salesforce_opportunities``: per range by key, and one summary over all ranges."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from assets import adapters
from assets.dead_letter import read_dead_letter
from assets.opportunities import ASSET_KEY, salesforce_opportunities
from assets.partitions import current_keys, opportunity_ranges
from resources.data_cloud import DataCloudResource
from resources.salesforce.resource import SalesforceResource

NO_MISSING_RECORDS = "no_missing_records"
NO_REJECTED_RECORDS = "no_rejected_records"
SAMPLE_SIZE = 20


def latest_materialization_metadata(
    instance: dg.DagsterInstance, partition: str
) -> Mapping[str, Any]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}


@dg.asset_check(
    name=NO_MISSING_RECORDS,
    asset=salesforce_opportunities,
    partitions_def=opportunity_ranges,
    blocking=True,
    description="Every ExternalId of the range in Data Cloud is in Salesforce, compared by key; "
    "missing ids explained by a recorded rejection or quarantine are told apart.",
)
def no_missing_records(
    context: dg.AssetCheckExecutionContext,
    data_cloud: DataCloudResource,
    salesforce: SalesforceResource,
) -> dg.AssetCheckResult:
    partition = context.partition_key
    key_range = adapters.range_of_key(partition)
    source = adapters.source_ids(adapters.source_client(data_cloud), key_range)
    target = adapters.target_ids(adapters.target_client(salesforce), key_range)
    loaded = latest_materialization_metadata(context.instance, partition)
    explained = read_dead_letter(loaded.get("dead_letter_file") or None)
    result = adapters.reconcile_range(source, target, key_range, explained, SAMPLE_SIZE)
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=adapters.reconciliation_metadata(result),
    )


@dg.asset_check(
    name=NO_REJECTED_RECORDS,
    asset=salesforce_opportunities,
    partitions_def=opportunity_ranges,
    blocking=False,
    description="Salesforce rejected no row of the range in its last load (counts by error code).",
)
def no_rejected_records(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    loaded = latest_materialization_metadata(context.instance, context.partition_key)
    by_code = dict(loaded.get("rejected_by_code") or {})
    rejected = int(loaded.get("rows_rejected") or 0)
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_rejected": rejected,
            "rows_quarantined": int(loaded.get("rows_quarantined") or 0),
            "rejected_by_code": dg.MetadataValue.json(by_code),
            "dead_letter_file": dg.MetadataValue.path(str(loaded.get("dead_letter_file") or "")),
        },
    )


@dg.asset_check(
    name="all_ranges_have_no_missing_records",
    asset=salesforce_opportunities,
    blocking=False,
    description="Summary over all current ranges of the last per-range check and load.",
)
def all_ranges_have_no_missing_records(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    check_key = dg.AssetCheckKey(ASSET_KEY, NO_MISSING_RECORDS)
    rows, failing, unchecked = [], [], []
    for key in current_keys(context.instance):
        evaluation = latest_check_evaluation(context.instance, check_key, key)
        loaded = latest_materialization_metadata(context.instance, key)
        if evaluation is None:
            unchecked.append(key)
        elif not evaluation.passed:
            failing.append(key)
        check_meta: dict[str, Any] = {
            k: getattr(v, "value", v)
            for k, v in (evaluation.metadata if evaluation else {}).items()
        }
        rows.append(
            dg.TableRecord(
                {
                    "range": key,
                    "check": "unchecked"
                    if evaluation is None
                    else ("passed" if evaluation.passed else "FAILED"),
                    "rows_read": int(loaded.get("rows_read") or 0),
                    "rows_rejected": int(loaded.get("rows_rejected") or 0),
                    "rows_quarantined": int(loaded.get("rows_quarantined") or 0),
                    "missing_unexplained": int(check_meta.get("missing_unexplained") or 0),
                }
            )
        )
    return dg.AssetCheckResult(
        passed=not failing and not unchecked,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "ranges": len(rows),
            "ranges_failing": len(failing),
            "ranges_unchecked": len(unchecked),
            "failing": dg.MetadataValue.json(failing),
            "by_range": dg.MetadataValue.table(
                rows,
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("range", "string"),
                        dg.TableColumn("check", "string"),
                        dg.TableColumn("rows_read", "int"),
                        dg.TableColumn("rows_rejected", "int"),
                        dg.TableColumn("rows_quarantined", "int"),
                        dg.TableColumn("missing_unexplained", "int"),
                    ]
                ),
            ),
        },
    )


def latest_check_evaluation(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str
) -> dg.AssetCheckEvaluation | None:
    from dagster._core.event_api import PartitionKeyFilter

    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [check_key], partition_filter=PartitionKeyFilter(key=partition)
    ).get(check_key)
    if latest is None or latest.event is None or latest.event.dagster_event is None:
        return None
    data = latest.event.dagster_event.event_specific_data
    return data if isinstance(data, dg.AssetCheckEvaluation) else None
