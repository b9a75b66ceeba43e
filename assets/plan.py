"""The range plan: which ExternalId ranges (partitions) to load, stable from day to day.

Input is a ``KeySketch`` of the key column: its row count and evenly spaced quantiles (Data Cloud
``percentile_disc(j/m) WITHIN GROUP (ORDER BY key)`` for ``j = 1 .. m-1``; ``sketch_fractions``
gives the fractions). A resolution ``m`` of about ten times the partition count keeps ranges within
a few percent of their ideal size.

- **First plan** (no previous ranges): cut at the quantiles nearest to ``i / target``.
- **Re-plan** (previous ranges and today's row count per range): keep every range, and so every
  key, unless it holds fewer than ``merge_below`` x ideal rows (merged with its smaller neighbour)
  or more than ``split_above`` x ideal rows (split at quantiles inside it into pieces of about the
  ideal size); ideal = total rows / target. A merge that yields an oversized range is split again,
  so both thresholds hold afterwards and the next day is quiet. An empty source (0 rows) keeps the
  previous plan: an outage must not reshape the partitions.

Boundaries are the shortest string between two adjacent quantiles (``shortest_separator``), and
among those within one quantile step of a cut the shortest wins, so keys stay short and readable; candidates too long for a key are skipped (fewer, larger ranges
rather than unreadable keys). Everything is deterministic: same inputs, same keys.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from assets.keys import encodable, range_to_key
from assets.ranges import (
    WHOLE_KEY_SPACE,
    KeyRange,
    check_tiling,
    merge,
    ranges_from_boundaries,
    shortest_separator,
    split,
)

DEFAULT_TARGET_PARTITIONS: Final = 10
DEFAULT_SPLIT_ABOVE: Final = 2.0
DEFAULT_MERGE_BELOW: Final = 0.5
SKETCH_RESOLUTION_PER_PARTITION: Final = 10


def sketch_fractions(target_partitions: int = DEFAULT_TARGET_PARTITIONS) -> list[float]:
    """The quantile fractions to ask Data Cloud for: ``j / m`` for ``j = 1 .. m-1``."""
    m = target_partitions * SKETCH_RESOLUTION_PER_PARTITION
    return [j / m for j in range(1, m)]


@dataclass(frozen=True)
class KeySketch:
    """Row count and ascending quantiles of the key column at fractions ``1/m .. (m-1)/m``."""

    total_rows: int
    quantiles: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.total_rows < 0:
            raise ValueError("total_rows cannot be negative")
        if list(self.quantiles) != sorted(self.quantiles):
            raise ValueError("quantiles must be in ascending (code-point) order")

    @property
    def resolution(self) -> int:
        return len(self.quantiles) + 1

    def fraction_below(self, bound: str | None, *, upper: bool = False) -> float:
        """Estimated share of rows with an id below ``bound`` (``None`` is -inf, or +inf if upper)."""
        if bound is None:
            return 1.0 if upper else 0.0
        return (bisect_left(self.quantiles, bound) + 0.5) / self.resolution

    def rows_in(self, key_range: KeyRange) -> float:
        share = self.fraction_below(key_range.hi, upper=True) - self.fraction_below(key_range.lo)
        return self.total_rows * share

    def candidate_boundaries(self) -> list[str]:
        """Short boundaries between adjacent distinct quantiles that fit in a key, ascending."""
        found: list[str] = []
        for below, upto in zip(self.quantiles, self.quantiles[1:], strict=False):
            if below < upto:
                boundary = shortest_separator(below, upto)
                if encodable(boundary):
                    found.append(boundary)
        return found


class Change(StrEnum):
    KEPT = "kept"
    SPLIT = "split"
    MERGED = "merged"
    NEW = "new"  # first plan


@dataclass(frozen=True)
class PlannedRange:
    key_range: KeyRange
    key: str
    estimated_rows: int
    change: Change


@dataclass(frozen=True)
class Plan:
    ranges: tuple[PlannedRange, ...]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.ranges]

    @property
    def key_ranges(self) -> list[KeyRange]:
        return [r.key_range for r in self.ranges]

    def added_keys(self, previous_keys: Sequence[str]) -> list[str]:
        old = set(previous_keys)
        return [k for k in self.keys if k not in old]

    def removed_keys(self, previous_keys: Sequence[str]) -> list[str]:
        new = set(self.keys)
        return sorted(k for k in previous_keys if k not in new)


def plan_ranges(
    sketch: KeySketch,
    *,
    target_partitions: int = DEFAULT_TARGET_PARTITIONS,
    previous: Sequence[KeyRange] | None = None,
    previous_rows: Sequence[int] | None = None,
    split_above: float = DEFAULT_SPLIT_ABOVE,
    merge_below: float = DEFAULT_MERGE_BELOW,
) -> Plan:
    """Today's plan: the first one from quantiles, or yesterday's adjusted (see module doc).

    ``previous_rows`` are today's exact row counts of the ``previous`` ranges (one query in Data
    Cloud); without them they are estimated from the sketch.
    """
    if target_partitions < 1:
        raise ValueError("target_partitions must be at least 1")
    if not 0 <= merge_below < split_above:
        raise ValueError("need 0 <= merge_below < split_above")
    if not previous:
        return _first_plan(sketch, target_partitions)
    check_tiling(previous)
    rows = _previous_rows(sketch, previous, previous_rows)
    total = sum(rows)
    if total == 0:
        return Plan(tuple(_planned(r, 0, Change.KEPT) for r in previous))
    ideal = total / target_partitions
    working = [_planned(r, n, Change.KEPT) for r, n in zip(previous, rows, strict=True)]
    working = _merge_small(working, ideal * merge_below)
    working = _split_large(working, sketch, ideal, ideal * split_above)
    check_tiling([p.key_range for p in working])
    return Plan(tuple(working))


def _first_plan(sketch: KeySketch, target_partitions: int) -> Plan:
    candidates = sketch.candidate_boundaries()
    cuts = _nearest_cuts(
        candidates,
        [sketch.fraction_below(c) for c in candidates],
        [i / target_partitions for i in range(1, target_partitions)],
        tolerance=1 / sketch.resolution,
    )
    ranges = ranges_from_boundaries(cuts) if cuts else [WHOLE_KEY_SPACE]
    return Plan(tuple(_planned(r, round(sketch.rows_in(r)), Change.NEW) for r in ranges))


def _nearest_cuts(
    candidates: Sequence[str],
    positions: Sequence[float],
    targets: Sequence[float],
    tolerance: float,
) -> list[str]:
    """For each target position, the shortest candidate within ``tolerance`` of it (else the
    nearest); then the nearest, then the lowest. De-duplicated, ascending."""

    def score(i: int, target: float) -> tuple[bool, int, float, int]:
        distance = abs(positions[i] - target)
        outside = distance > tolerance
        return (outside, 0 if outside else len(candidates[i]), distance, i)

    chosen: set[str] = set()
    for target in targets:
        if candidates:
            chosen.add(candidates[min(range(len(candidates)), key=lambda i: score(i, target))])
    return sorted(chosen)


def _previous_rows(
    sketch: KeySketch, previous: Sequence[KeyRange], previous_rows: Sequence[int] | None
) -> list[int]:
    if previous_rows is None:
        return [round(sketch.rows_in(r)) for r in previous]
    if len(previous_rows) != len(previous):
        raise ValueError("previous_rows must give one count per previous range")
    return list(previous_rows)


def _planned(key_range: KeyRange, rows: int, change: Change) -> PlannedRange:
    return PlannedRange(key_range, range_to_key(key_range), rows, change)


def _merge_small(working: list[PlannedRange], below: float) -> list[PlannedRange]:
    """Merge the smallest too-small range into its smaller neighbour, until none is too small."""
    while len(working) > 1:
        small = [i for i, p in enumerate(working) if p.estimated_rows < below]
        if not small:
            break
        i = min(small, key=lambda j: (working[j].estimated_rows, j))
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(working)]
        j = min(neighbours, key=lambda n: (working[n].estimated_rows, n))
        left, right = sorted((i, j))
        merged = merge([working[left].key_range, working[right].key_range])
        rows = working[left].estimated_rows + working[right].estimated_rows
        working[left : right + 1] = [_planned(merged, rows, Change.MERGED)]
    return working


def _split_large(
    working: list[PlannedRange], sketch: KeySketch, ideal: float, above: float
) -> list[PlannedRange]:
    candidates = sketch.candidate_boundaries()
    result: list[PlannedRange] = []
    for planned in working:
        if planned.estimated_rows > above:
            result.extend(_split_one(planned, sketch, candidates, ideal))
        else:
            result.append(planned)
    return result


def _split_one(
    planned: PlannedRange, sketch: KeySketch, candidates: Sequence[str], ideal: float
) -> list[PlannedRange]:
    key_range = planned.key_range
    inside = [c for c in candidates if key_range.contains(c) and c != key_range.lo]
    pieces_wanted = max(2, round(planned.estimated_rows / ideal))
    start = sketch.fraction_below(key_range.lo)
    end = sketch.fraction_below(key_range.hi, upper=True)
    targets = [start + (end - start) * i / pieces_wanted for i in range(1, pieces_wanted)]
    cuts = _nearest_cuts(
        inside, [sketch.fraction_below(c) for c in inside], targets, 1 / sketch.resolution
    )
    if not cuts:
        return [planned]
    pieces = split(key_range, cuts)
    shares = [sketch.rows_in(p) for p in pieces]
    total_share = sum(shares)
    return [
        _planned(
            piece,
            round(planned.estimated_rows * share / total_share)
            if total_share
            else planned.estimated_rows // len(pieces),
            Change.SPLIT,
        )
        for piece, share in zip(pieces, shares, strict=True)
    ]
