"""Delete policy: what to do with Salesforce records whose ExternalId Data Cloud no longer has.

The missing-records check reports them as ``extra``. Deleting them in Salesforce is a policy,
**off by default**: with it off they are reported and kept; with it on, a load deletes the extra
records of its range with one Bulk API 2.0 ``delete`` job, after the upserts.

``extra_record_ids`` is pure (Arrow in, Arrow out) and decides exactly like ``reconcile``: by key
(folded case, as the External ID field compares), a Salesforce record belonging to the range when
the one comparator puts its ExternalId there. A guard refuses a delete that would remove more than
``max_fraction`` of the range's records (beyond ``unguarded_up_to``): an empty or failing source
read must never wipe Salesforce. A refused delete leaves the records in place and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from assets.adapters import Source, readback_prefixes, source_ids
from assets.mapping import OPPORTUNITY_MAPPING
from assets.ranges import KeyRange, fold_case, in_range_mask
from resources.salesforce import soql
from resources.salesforce.bulk import IngestReport, ObjectSpec
from resources.salesforce.protocol import Operation
from resources.salesforce.resource import SalesforceResource

ID_FIELD: Final = "Id"
EXTERNAL_ID_FIELD: Final = OPPORTUNITY_MAPPING.external_id_field
OBJECT_NAME: Final = OPPORTUNITY_MAPPING.target_object
DELETE_SPEC: Final = ObjectSpec(OBJECT_NAME, ID_FIELD, Operation.DELETE)


@dataclass(frozen=True)
class DeletePolicy:
    enabled: bool = False
    max_fraction: float = 0.1  # of the range's Salesforce records, beyond unguarded_up_to
    unguarded_up_to: int = 100


@dataclass(frozen=True)
class DeleteOutcome:
    extra: int = 0  # records of the range whose ExternalId Data Cloud no longer has
    deleted: int = 0
    failed: int = 0
    refused: str = ""  # why nothing was deleted although the policy is on

    def metadata(self) -> dict[str, Any]:
        return {
            "rows_deleted": self.deleted,
            "rows_delete_failed": self.failed,
            "delete_refused": self.refused,
        }


def extra_record_ids(
    source_ids: pa.Array | pa.ChunkedArray,
    target: pa.Table,
    key_range: KeyRange,
    *,
    case_sensitive: bool = False,
) -> pa.Array:
    """Salesforce ``Id``s of the records (columns ``Id``, ``External_Id__c``) in ``key_range``
    whose key no source id has; records without an ExternalId are never chosen."""
    source = _strings(source_ids)
    external = _strings(target[EXTERNAL_ID_FIELD])
    ids = _strings(target[ID_FIELD])
    source = source.filter(pc.is_valid(source))
    source_keys = pc.unique(source if case_sensitive else fold_case(source))
    external_keys = external if case_sensitive else fold_case(external)
    present = pc.invert(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(external), ""), True))
    in_range = pc.fill_null(in_range_mask(external, key_range), False)
    unknown = pc.invert(pc.is_in(external_keys, value_set=source_keys))
    chosen = ids.filter(pc.and_(pc.and_(present, in_range), unknown))
    return chosen.take(pc.sort_indices(chosen))


def refusal(extra: int, records_in_range: int, policy: DeletePolicy) -> str:
    """Why deleting ``extra`` of ``records_in_range`` records is refused ("" when allowed)."""
    if extra <= policy.unguarded_up_to or extra <= policy.max_fraction * records_in_range:
        return ""
    return (
        f"refused to delete {extra} of {records_in_range} records of the range "
        f"(more than {policy.max_fraction:.0%} and more than {policy.unguarded_up_to}); "
        "check the Data Cloud read, or raise max_fraction on purpose"
    )


def target_records(salesforce: SalesforceResource, key_range: KeyRange) -> pa.Table:
    """``Id`` and ``External_Id__c`` of (a superset of) the range's Salesforce records."""
    where = f"{EXTERNAL_ID_FIELD} != null"
    prefixes = readback_prefixes(key_range)
    if prefixes:
        likes = " OR ".join(
            f"{EXTERNAL_ID_FIELD} LIKE {soql.quote_like(p)[:-1]}%'" for p in prefixes
        )
        where += f" AND ({likes})"
    text = f"SELECT {ID_FIELD}, {EXTERNAL_ID_FIELD} FROM {OBJECT_NAME} WHERE {where}"  # noqa: S608 - quoted above
    batches = list(salesforce.bulk_query(text))
    if not batches:
        return pa.table(
            {ID_FIELD: pa.array([], pa.string()), EXTERNAL_ID_FIELD: pa.array([], pa.string())}
        )
    return pa.Table.from_batches(batches).select([ID_FIELD, EXTERNAL_ID_FIELD])


def delete_records(salesforce: SalesforceResource, ids: pa.Array) -> IngestReport:
    """One Bulk ``delete`` job (or more, by the resource's row cap) for the given record Ids."""
    batch = pa.record_batch({ID_FIELD: ids.cast(pa.string())})
    return salesforce.upsert([batch], DELETE_SPEC)


def apply_delete_policy(
    policy: DeletePolicy, source: Source, salesforce: SalesforceResource, key_range: KeyRange
) -> DeleteOutcome:
    """Delete the range's extra records when the policy is on and the guard allows it (the source
    ids are read after the load, so a row added meanwhile is never taken for a deleted one)."""
    if not policy.enabled:
        return DeleteOutcome()
    target = target_records(salesforce, key_range)
    extra = extra_record_ids(source_ids(source, key_range), target, key_range)
    if len(extra) == 0:
        return DeleteOutcome()
    in_range = pc.sum(
        pc.fill_null(in_range_mask(_strings(target[EXTERNAL_ID_FIELD]), key_range), False)
    )
    refused = refusal(len(extra), int(in_range.as_py() or 0), policy)
    if refused:
        return DeleteOutcome(extra=len(extra), refused=refused)
    report = delete_records(salesforce, extra)
    return DeleteOutcome(
        extra=len(extra), deleted=report.created + report.updated, failed=report.rejected_count
    )


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return array.cast(pa.string())
