"""Pre-flight quarantine: rows that must not be sent, each with a reason code and a message.

Checked on the ExternalId before anything reaches Salesforce, in this order (a row gets the
first reason that applies):

1. ``BLANK_EXTERNAL_ID``: null, empty or whitespace-only; an upsert cannot match on it.
2. ``OUTSIDE_RANGE``: the id is not in the run's range (defensive: the query already filters).
3. ``DUPLICATE_EXTERNAL_ID``: the same id occurs more than once in the range.
4. ``CASE_DUPLICATE_EXTERNAL_ID``: ids that differ only by case, when the External ID field is
   case-insensitive (the default), which Salesforce would fold into one record.
5. The mapping's reasons (``assets.mapping.ValueProblem``) for values that cannot be represented.

Decision: for 3 and 4, **all** rows sharing the key are quarantined. Picking a winner would be
arbitrary (source order is not meaningful) and would silently overwrite a record with the wrong
row; holding them all back makes the conflict visible so it is fixed at the source. That needs the
ambiguous keys of the whole range before the first row is sent: ``find_ambiguous_keys`` makes one
streaming pass over the range's ids (just the key column), then ``split_batch`` /
``prepare_batch`` apply the verdict to each page, vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from assets.mapping import (
    MESSAGE_COLUMN,
    OPPORTUNITY_MAPPING,
    REASON_COLUMN,
    ObjectMapping,
    ValueProblem,
    map_batch,
)
from assets.ranges import KeyRange, fold_case, in_range_mask

__all__ = [
    "MESSAGE_COLUMN",
    "QUARANTINE_REASONS",
    "REASON_COLUMN",
    "AmbiguousKeys",
    "IdProblem",
    "PreflightSplit",
    "find_ambiguous_keys",
    "prepare_batch",
    "quarantine_counts",
    "split_batch",
]


class IdProblem(StrEnum):
    BLANK_EXTERNAL_ID = "BLANK_EXTERNAL_ID"
    OUTSIDE_RANGE = "OUTSIDE_RANGE"
    DUPLICATE_EXTERNAL_ID = "DUPLICATE_EXTERNAL_ID"
    CASE_DUPLICATE_EXTERNAL_ID = "CASE_DUPLICATE_EXTERNAL_ID"


QUARANTINE_REASONS: Final = (*(p.value for p in IdProblem), *(p.value for p in ValueProblem))


@dataclass(frozen=True)
class AmbiguousKeys:
    """Keys of one range that match more than one source row."""

    duplicate_ids: pa.Array  # exact ids occurring more than once
    case_folded: pa.Array  # folded keys of ids that differ only by case (empty if case-sensitive)

    @property
    def is_empty(self) -> bool:
        return len(self.duplicate_ids) == 0 and len(self.case_folded) == 0


NO_AMBIGUOUS_KEYS: Final = AmbiguousKeys(pa.array([], pa.string()), pa.array([], pa.string()))


class PreflightSplit(NamedTuple):
    clean: pa.RecordBatch
    quarantined: pa.RecordBatch  # the source rows plus REASON_COLUMN and MESSAGE_COLUMN


def _blank(ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    empty = pc.equal(pc.utf8_trim_whitespace(ids), "")
    return pc.fill_null(empty, True)


def find_ambiguous_keys(
    id_batches: Iterable[pa.Array | pa.ChunkedArray], *, case_sensitive: bool = False
) -> AmbiguousKeys:
    """One pass over a range's ids (any number of pages); holds only the ids, then two hash
    passes: counts per id, then spellings per folded key among the distinct ids."""
    chunks: list[pa.Array] = []
    for ids in id_batches:
        ids = ids.cast(pa.string())
        present = ids.filter(pc.invert(_blank(ids)))
        chunks.extend(present.chunks if isinstance(present, pa.ChunkedArray) else [present])
    if not chunks:
        return NO_AMBIGUOUS_KEYS
    counts = pc.value_counts(pa.chunked_array(chunks, pa.string()))
    distinct = counts.field("values")
    duplicate_ids = distinct.filter(pc.greater(counts.field("counts"), 1))
    if case_sensitive:
        return AmbiguousKeys(duplicate_ids, pa.array([], pa.string()))
    spellings = pc.value_counts(fold_case(distinct))
    case_folded = spellings.field("values").filter(pc.greater(spellings.field("counts"), 1))
    return AmbiguousKeys(duplicate_ids, case_folded)


def split_batch(
    batch: pa.RecordBatch,
    ambiguous: AmbiguousKeys,
    key_range: KeyRange,
    *,
    key_column: str = OPPORTUNITY_MAPPING.key_column,
    case_sensitive: bool = False,
) -> PreflightSplit:
    """Separate the rows whose ExternalId forbids sending them (see the module doc)."""
    ids = batch.column(key_column).cast(pa.string())
    checks = [
        (IdProblem.BLANK_EXTERNAL_ID, _blank(ids)),
        (IdProblem.OUTSIDE_RANGE, pc.invert(pc.fill_null(in_range_mask(ids, key_range), True))),
        (IdProblem.DUPLICATE_EXTERNAL_ID, pc.is_in(ids, value_set=ambiguous.duplicate_ids)),
    ]
    if not case_sensitive and len(ambiguous.case_folded):
        folded = fold_case(ids)
        checks.append(
            (
                IdProblem.CASE_DUPLICATE_EXTERNAL_ID,
                pc.is_in(folded, value_set=ambiguous.case_folded),
            )
        )
    reason = pa.nulls(batch.num_rows, pa.string())
    message = pa.nulls(batch.num_rows, pa.string())
    for problem, mask in reversed(checks):
        if pc.any(mask).as_py():
            reason = pc.if_else(mask, pa.scalar(problem.value), reason)
            message = pc.if_else(mask, _message(problem, key_column, ids, key_range), message)
    bad = pc.is_valid(reason)
    if not pc.any(bad).as_py():
        return PreflightSplit(batch, _quarantined(batch.slice(0, 0), reason[:0], message[:0]))
    return PreflightSplit(
        batch.filter(pc.invert(bad)),
        _quarantined(batch.filter(bad), reason.filter(bad), message.filter(bad)),
    )


def _message(
    problem: IdProblem, key_column: str, ids: pa.Array, key_range: KeyRange
) -> pa.Array | pa.Scalar:
    if problem is IdProblem.BLANK_EXTERNAL_ID:
        return pa.scalar(f"{key_column} is blank")
    shown = pc.utf8_slice_codeunits(pc.fill_null(ids, ""), 0, 80)
    tail = {
        IdProblem.OUTSIDE_RANGE: f"' is outside the range {key_range}",
        IdProblem.DUPLICATE_EXTERNAL_ID: (
            "' occurs more than once in the range; all its rows are held back"
        ),
        IdProblem.CASE_DUPLICATE_EXTERNAL_ID: (
            "' differs only by case from another id in the range; Salesforce would "
            "treat them as one record, so all of them are held back"
        ),
    }[problem]
    return pc.binary_join_element_wise(f"{key_column} '", shown, tail, "")


def _quarantined(rows: pa.RecordBatch, reason: pa.Array, message: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [*rows.columns, reason, message],
        names=[*rows.schema.names, REASON_COLUMN, MESSAGE_COLUMN],
    )


def prepare_batch(
    batch: pa.RecordBatch,
    ambiguous: AmbiguousKeys,
    key_range: KeyRange,
    *,
    mapping: ObjectMapping = OPPORTUNITY_MAPPING,
    case_sensitive: bool = False,
) -> PreflightSplit:
    """Pre-flight then mapping for one page: ``clean`` holds Salesforce fields ready for CSV,
    ``quarantined`` the source rows held back for any reason (id checks or mapping)."""
    checked = split_batch(
        batch, ambiguous, key_range, key_column=mapping.key_column, case_sensitive=case_sensitive
    )
    mapped, unmappable = map_batch(checked.clean, mapping)
    quarantined = pa.concat_batches([checked.quarantined, unmappable])
    return PreflightSplit(mapped, quarantined)


def quarantine_counts(quarantined: pa.RecordBatch | pa.Table) -> dict[str, int]:
    """Rows held back, by reason code (for run metadata)."""
    if quarantined.num_rows == 0:
        return {}
    counted = pc.value_counts(quarantined.column(REASON_COLUMN))
    return {
        str(v): int(n)
        for v, n in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    }
