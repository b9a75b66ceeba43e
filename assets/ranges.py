"""Half-open ExternalId ranges that tile the whole key space.

One comparator everywhere: ids are ordered by the code points of the id string, which is
Python ``str`` order and also the byte order of their UTF-8 encoding (Arrow, DuckDB, Data Cloud
``ORDER BY`` on VARCHAR). A range ``[lo, hi)`` holds every id with ``lo <= id < hi``; ``lo=None``
means unbounded below, ``hi=None`` unbounded above. Ranges built from sorted distinct boundaries
therefore cover every possible string exactly once, including ids that arrive tomorrow.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, order=False)
class KeyRange:
    """``[lo, hi)`` over ExternalIds; ``None`` is an open end. Bounds are never empty strings."""

    lo: str | None
    hi: str | None

    def __post_init__(self) -> None:
        if self.lo == "" or self.hi == "":
            raise ValueError("range bounds are non-empty strings or None (unbounded)")
        if self.lo is not None and self.hi is not None and not self.lo < self.hi:
            raise ValueError(f"empty range: lo {self.lo!r} is not below hi {self.hi!r}")

    def contains(self, external_id: str) -> bool:
        return (self.lo is None or self.lo <= external_id) and (
            self.hi is None or external_id < self.hi
        )

    def __str__(self) -> str:
        lo = "-inf" if self.lo is None else repr(self.lo)
        hi = "+inf" if self.hi is None else repr(self.hi)
        return f"[{lo}, {hi})"


WHOLE_KEY_SPACE = KeyRange(None, None)


def ranges_from_boundaries(boundaries: Iterable[str]) -> list[KeyRange]:
    """The tiling cut at ``boundaries`` (sorted and de-duplicated here; empty strings refused)."""
    cuts = sorted(set(boundaries))
    if cuts and cuts[0] == "":
        raise ValueError("an empty string cannot be a boundary: no id sorts below it")
    edges: list[str | None] = [None, *cuts, None]
    return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(edges)]


def boundaries_of(ranges: Sequence[KeyRange]) -> list[str]:
    """Inverse of ``ranges_from_boundaries`` for a valid tiling."""
    check_tiling(ranges)
    return [r.lo for r in ranges[1:] if r.lo is not None]


def check_tiling(ranges: Sequence[KeyRange]) -> None:
    """Raise ``ValueError`` unless ``ranges`` are in order, contiguous and cover every string."""
    if not ranges:
        raise ValueError("no ranges: the key space is not covered")
    if ranges[0].lo is not None:
        raise ValueError(f"first range {ranges[0]} is bounded below")
    if ranges[-1].hi is not None:
        raise ValueError(f"last range {ranges[-1]} is bounded above")
    for left, right in itertools.pairwise(ranges):
        if left.hi is None or left.hi != right.lo:
            raise ValueError(f"ranges {left} and {right} are not contiguous")


def is_tiling(ranges: Sequence[KeyRange]) -> bool:
    try:
        check_tiling(ranges)
    except ValueError:
        return False
    return True


def index_of(external_id: str, ranges: Sequence[KeyRange]) -> int:
    """Index of the one range of a tiling that holds ``external_id`` (binary search)."""
    cuts = [r.lo for r in ranges[1:] if r.lo is not None]  # all of them, in a tiling
    return bisect_right(cuts, external_id)


def split(key_range: KeyRange, at: Iterable[str]) -> list[KeyRange]:
    """Cut ``key_range`` at the points of ``at`` that lie strictly inside it."""
    inside = sorted({p for p in at if key_range.contains(p) and p != key_range.lo})
    edges: list[str | None] = [key_range.lo, *inside, key_range.hi]
    return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(edges)]


def merge(ranges: Sequence[KeyRange]) -> KeyRange:
    """One range covering adjacent ``ranges`` (given in order)."""
    if not ranges:
        raise ValueError("nothing to merge")
    for left, right in itertools.pairwise(ranges):
        if left.hi is None or left.hi != right.lo:
            raise ValueError(f"ranges {left} and {right} are not adjacent")
    return KeyRange(ranges[0].lo, ranges[-1].hi)


def shortest_separator(below: str, upto: str) -> str:
    """The shortest string ``s`` with ``below < s <= upto``; with ties, the one nearest ``upto``.

    Used as a range boundary between two adjacent ids so boundaries (and keys) stay short.
    """
    if not below < upto:
        raise ValueError(f"{below!r} must sort below {upto!r}")
    common = 0
    for a, b in zip(below, upto, strict=False):
        if a != b:
            break
        common += 1
    return upto[: common + 1]


def in_range_mask(ids: pa.Array | pa.ChunkedArray, key_range: KeyRange) -> pa.Array:
    """Vectorised ``contains``: Arrow compares UTF-8 bytewise, which is code-point order.

    Nulls give null (callers treat them as blank ids).
    """
    mask: pa.Array | pa.ChunkedArray | None = None
    if key_range.lo is not None:
        mask = pc.greater_equal(ids, pa.scalar(key_range.lo, pa.string()))
    if key_range.hi is not None:
        below_hi = pc.less(ids, pa.scalar(key_range.hi, pa.string()))
        mask = below_hi if mask is None else pc.and_(mask, below_hi)
    if mask is None:
        mask = pc.if_else(pc.is_valid(ids), True, pa.scalar(None, pa.bool_()))
    return mask


def fold_case(ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The key of an id when the External ID field is case-insensitive (Unicode lower case)."""
    return pc.utf8_lower(ids)
