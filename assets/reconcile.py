"""Reconciliation of one range: source ExternalIds (Data Cloud) vs target (Salesforce read-back).

Ids are compared by key, client-side, with the one comparator: the key of an id is the id itself
when the External ID field is case-sensitive, and its Unicode lower case otherwise (the default,
matching how Salesforce matches upserts). No correctness decision rests on a SOQL range, whose
string comparisons are case-insensitive: pass the target ids of a superset of the range (e.g. a
widened SOQL range, or all of them) together with ``key_range`` and the range is applied here.

- **missing**: source keys with no target record. Each is *explained* when its id has a recorded
  rejection (Salesforce error code) or quarantine (our reason) in ``explanations``; the rest are
  *unexplained* (the check fails on those).
- **extra**: target records in the range whose key no source id of the range has.
- **case collisions**: source ids that differ only by case (one key, several spellings), which a
  case-insensitive field folds into one record; reported, not counted as missing.
- Blank source ids have no key; they are counted apart (pre-flight quarantines them).

A target id belongs to the range when the comparator puts it there, or when its key is one of the
range's source keys (a record stored under another spelling, e.g. ``abc`` for source ``ABC``).
Vectorised with ``pyarrow.compute`` (hash sets, no per-id Python); samples are the first keys in
comparator order, shown as an actual id spelling, so they are stable from run to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from assets.ranges import KeyRange, fold_case, in_range_mask

DEFAULT_SAMPLE_SIZE: Final = 10
EXPLANATION_ID_COLUMN: Final = "external_id"
EXPLANATION_REASON_COLUMN: Final = "reason"

Ids: TypeAlias = pa.Array | pa.ChunkedArray
KeyOf: TypeAlias = Callable[[Ids], Ids]


@dataclass(frozen=True)
class Reconciliation:
    source_rows: int
    blank_source_rows: int
    source_keys: int
    target_keys: int
    matched: int
    missing: int
    missing_explained: int
    missing_unexplained: int
    extra: int
    case_collisions: int
    missing_by_reason: dict[str, int] = field(default_factory=dict)
    missing_unexplained_sample: list[str] = field(default_factory=list)
    missing_explained_sample: list[tuple[str, str]] = field(default_factory=list)
    extra_sample: list[str] = field(default_factory=list)
    case_collision_sample: list[list[str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Nothing is missing without a recorded reason."""
        return self.missing_unexplained == 0

    def as_metadata(self) -> dict[str, Any]:
        """Plain values with stable names, for check and materialization metadata."""
        return {
            "source_rows": self.source_rows,
            "blank_source_rows": self.blank_source_rows,
            "source_keys": self.source_keys,
            "target_keys": self.target_keys,
            "matched": self.matched,
            "missing": self.missing,
            "missing_explained": self.missing_explained,
            "missing_unexplained": self.missing_unexplained,
            "extra": self.extra,
            "case_collisions": self.case_collisions,
            "missing_by_reason": dict(sorted(self.missing_by_reason.items())),
            "missing_unexplained_sample": self.missing_unexplained_sample,
            "missing_explained_sample": [list(p) for p in self.missing_explained_sample],
            "extra_sample": self.extra_sample,
            "case_collision_sample": self.case_collision_sample,
        }


def explanations_table(external_ids: Ids, reasons: Ids) -> pa.Table:
    """The ``explanations`` argument: one row per recorded rejection (reason: Salesforce's error
    code) or quarantine (reason: ours)."""
    return pa.table(
        {
            EXPLANATION_ID_COLUMN: _as_strings(external_ids),
            EXPLANATION_REASON_COLUMN: _as_strings(reasons),
        }
    )


def reconcile(
    source_ids: Ids,
    target_ids: Ids,
    *,
    key_range: KeyRange | None = None,
    case_sensitive: bool = False,
    explanations: pa.Table | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> Reconciliation:
    """Compare a range's source ids with the target ids, by key (see the module doc)."""
    source = _present(_as_strings(source_ids))
    blank_source_rows = len(source_ids) - len(source)
    if key_range is not None:
        source = source.filter(pc.fill_null(in_range_mask(source, key_range), False))
    key_of: KeyOf = _identity if case_sensitive else fold_case
    source_key = key_of(source)
    # Few hash passes over the big sides (they dominate at millions of ids): one per side to
    # find its distinct keys, one to match them; everything else works on small subsets.
    source_counts = pc.value_counts(source_key)
    source_keys = source_counts.field("values")
    repeated_keys = source_keys.filter(pc.greater(source_counts.field("counts"), 1))

    target = _present(_as_strings(target_ids))
    target_key = key_of(target)
    if key_range is not None:
        belongs = pc.or_(
            pc.fill_null(in_range_mask(target, key_range), False),
            pc.is_in(target_key, value_set=source_keys),
        )
        target, target_key = target.filter(belongs), target_key.filter(belongs)
    target_keys = pc.unique(target_key)

    found = pc.is_in(source_keys, value_set=target_keys)
    matched = pc.sum(found).as_py() or 0
    missing_keys = _sorted(source_keys.filter(pc.invert(found)))
    extra = len(target_keys) - matched  # both sides are sets of keys
    reasons = _reasons_for(missing_keys, explanations, key_of)
    explained = pc.is_valid(reasons)
    unexplained_keys = missing_keys.filter(pc.invert(explained))
    collisions = (
        pa.array([], pa.string())
        if case_sensitive
        else _case_collisions(source.filter(pc.is_in(source_key, value_set=repeated_keys)))
    )
    return Reconciliation(
        source_rows=len(source_ids),
        blank_source_rows=blank_source_rows,
        source_keys=len(source_keys),
        target_keys=len(target_keys),
        matched=matched,
        missing=len(missing_keys),
        missing_explained=len(missing_keys) - len(unexplained_keys),
        missing_unexplained=len(unexplained_keys),
        extra=extra,
        case_collisions=len(collisions),
        missing_by_reason=_count_values(reasons.filter(explained)),
        missing_unexplained_sample=_spellings(unexplained_keys[:sample_size], source, key_of),
        missing_explained_sample=list(
            zip(
                _spellings(missing_keys.filter(explained)[:sample_size], source, key_of),
                reasons.filter(explained)[:sample_size].to_pylist(),
                strict=True,
            )
        ),
        extra_sample=_extra_sample(target_keys, source_keys, target, key_of, extra, sample_size),
        case_collision_sample=_collision_groups(collisions[:sample_size], source),
    )


def _extra_sample(
    target_keys: pa.Array,
    source_keys: pa.Array,
    target: Ids,
    key_of: KeyOf,
    extra: int,
    sample_size: int,
) -> list[str]:
    if extra == 0:
        return []
    extra_keys = target_keys.filter(pc.invert(pc.is_in(target_keys, value_set=source_keys)))
    return _spellings(_sorted(extra_keys)[:sample_size], target, key_of)


def _as_strings(ids: Ids) -> pa.ChunkedArray:
    chunked = pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids
    return chunked.cast(pa.string())


def _present(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
    return ids.filter(pc.invert(blank))


def _identity(ids: Ids) -> Ids:
    return ids


def _sorted(values: Ids) -> pa.Array:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return array.take(pc.sort_indices(array))  # byte order of UTF-8 = code-point order


def _reasons_for(missing_keys: pa.Array, explanations: pa.Table | None, key_of: KeyOf) -> pa.Array:
    """The recorded reason of each missing key (the smallest if several), else null."""
    if explanations is None or explanations.num_rows == 0 or len(missing_keys) == 0:
        return pa.nulls(len(missing_keys), pa.string())
    ids = _as_strings(explanations[EXPLANATION_ID_COLUMN])
    known = pa.table(
        {
            "key": key_of(ids),
            "reason": _as_strings(explanations[EXPLANATION_REASON_COLUMN]),
        }
    )
    known = known.group_by("key").aggregate([("reason", "min")])
    position = pc.index_in(missing_keys, value_set=known["key"].combine_chunks())
    return known["reason_min"].combine_chunks().take(position)


def _count_values(values: pa.Array) -> dict[str, int]:
    if len(values) == 0:
        return {}
    counted = pc.value_counts(values)
    return dict(
        zip(
            counted.field("values").to_pylist(),
            counted.field("counts").to_pylist(),
            strict=True,
        )
    )


def _case_collisions(source: Ids) -> pa.Array:
    """Keys (folded) that several distinct source spellings share, in comparator order."""
    distinct = pc.unique(source)
    spellings = pa.table({"key": fold_case(distinct), "id": distinct})
    per_key = spellings.group_by("key").aggregate([("id", "count")])
    return _sorted(per_key.filter(pc.greater(per_key["id_count"], 1))["key"])


def _collision_groups(keys: pa.Array, source: Ids) -> list[list[str]]:
    if len(keys) == 0:
        return []
    members = _sorted(pc.unique(source.filter(pc.is_in(fold_case(source), value_set=keys))))
    groups: dict[str, list[str]] = {k: [] for k in keys.to_pylist()}
    for spelling, key in zip(
        members.to_pylist(), fold_case(members).to_pylist(), strict=True
    ):  # a sample: at most sample_size groups
        groups[key].append(spelling)
    return list(groups.values())


def _spellings(keys: pa.Array, ids: Ids, key_of: KeyOf) -> list[str]:
    """For sampled keys, an actual id (the smallest spelling) rather than the folded key."""
    if len(keys) == 0:
        return []
    ids_array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    candidates = ids_array.filter(pc.is_in(key_of(ids_array), value_set=keys))
    table = pa.table({"key": key_of(candidates), "id": candidates})
    first = table.group_by("key").aggregate([("id", "min")])
    position = pc.index_in(keys, value_set=first["key"].combine_chunks())
    spellings: list[str] = first["id_min"].combine_chunks().take(position).to_pylist()
    return spellings
