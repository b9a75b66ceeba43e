# ruff: noqa: S608 - every SQL text here is assembled only from sql.py quoting functions
"""The SQL texts the platform sends to Data Cloud, built only from quoted parts (see ``sql.py``).

Ordering contract (the same comparator as ``assets/``): keys compare by code point, which is what
an un-collated VARCHAR ``ORDER BY`` and ``<`` do (byte-wise UTF-8 = code-point order). A NULL key
sorts lowest: it belongs to the range that is unbounded below, so such rows are read (and can be
quarantined) instead of falling between every range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from resources.data_cloud.sql import (
    column_list,
    quote_count,
    quote_fraction,
    quote_identifier,
    quote_literal,
)

DEFAULT_OBJECT = "ssot__Opportunity__dlm"
DEFAULT_KEY_COLUMN = "ExternalId__c"

# Output column names of the aggregate queries.
STATS_ROWS = "row_count"
STATS_KEYS = "key_count"
STATS_MIN = "min_key"
STATS_MAX = "max_key"
BUCKET = "bucket"
BUCKET_ROWS = "row_count"


@dataclass(frozen=True)
class KeyedObject:
    """A Data Cloud object read in the order of one key column."""

    name: str = DEFAULT_OBJECT
    key: str = DEFAULT_KEY_COLUMN

    @property
    def table(self) -> str:
        return quote_identifier(self.name)

    @property
    def key_ref(self) -> str:
        return quote_identifier(self.key)


def key_stats_sql(obj: KeyedObject) -> str:
    return (
        f"SELECT COUNT(*) AS {quote_identifier(STATS_ROWS)}, "
        f"COUNT({obj.key_ref}) AS {quote_identifier(STATS_KEYS)}, "
        f"MIN({obj.key_ref}) AS {quote_identifier(STATS_MIN)}, "
        f"MAX({obj.key_ref}) AS {quote_identifier(STATS_MAX)} "
        f"FROM {obj.table}"
    )


QUANTILE_POSITION = "position"
QUANTILE_KEY_COUNT = "key_count"
QUANTILE_KEY = "key"


def quantile_sql(obj: KeyedObject, fractions: Sequence[float]) -> str:
    """The keys at the ``percentile_disc`` positions of ``fractions``, from ONE sort of the keys.

    ``percentile_disc(f)`` is the key at 1-based position ``max(1, ceil(f * n))`` of the ``n``
    non-NULL keys in order. One aggregate per fraction would sort (and hold) the keys once per
    fraction, which ran a 2M-row tenant out of memory; numbering the rows once and keeping the
    wanted positions is exact and cheap. Rows come back as (position, key count, key).
    """
    if not fractions:
        raise ValueError("at least one fraction is required")
    wanted = ", ".join(f"({quote_fraction(f)})" for f in fractions)
    non_null = f"FROM {obj.table} WHERE {obj.key_ref} IS NOT NULL"
    position, key_count, key = (
        quote_identifier(QUANTILE_POSITION),
        quote_identifier(QUANTILE_KEY_COUNT),
        quote_identifier(QUANTILE_KEY),
    )
    return (
        f"WITH numbered AS (SELECT {obj.key_ref} AS {key}, "
        f"ROW_NUMBER() OVER (ORDER BY {obj.key_ref}) AS {position}, "
        f"COUNT(*) OVER () AS {key_count} {non_null}) "
        f"SELECT {position}, {key_count}, {key} FROM numbered WHERE {position} IN "
        f"(SELECT GREATEST(1, CEIL(f.fraction * (SELECT COUNT(*) {non_null}))) "
        f"FROM (VALUES {wanted}) AS f(fraction)) ORDER BY {position}"
    )


def quantile_position(fraction: float, key_count: int) -> int:
    """1-based position of ``percentile_disc(fraction)``, in exact decimal arithmetic like the SQL."""
    return max(1, math.ceil(Decimal(quote_fraction(fraction)) * key_count))


def count_ranges_sql(obj: KeyedObject, boundaries: Sequence[str]) -> str:
    """Row counts of the ``len(boundaries) + 1`` ranges the boundaries cut, in one query.

    Bucket ``i`` is ``[boundaries[i-1], boundaries[i])``; bucket 0 is unbounded below (and holds
    NULL keys), the last bucket is unbounded above. Empty buckets produce no row.
    """
    require_strictly_increasing(boundaries)
    whens = [f"WHEN {obj.key_ref} IS NULL THEN 0"]
    whens += [
        f"WHEN {obj.key_ref} < {quote_literal(b)} THEN {quote_count(i)}"
        for i, b in enumerate(boundaries)
    ]
    bucket = quote_identifier(BUCKET)
    case = f"CASE {' '.join(whens)} ELSE {quote_count(len(boundaries))} END"
    return (
        f"SELECT {bucket}, COUNT(*) AS {quote_identifier(BUCKET_ROWS)} "
        f"FROM (SELECT {case} AS {bucket} FROM {obj.table}) AS {quote_identifier('t')} "
        f"GROUP BY {bucket} ORDER BY {bucket}"
    )


def range_sql(
    obj: KeyedObject,
    lo: str | None,
    hi: str | None,
    after: str | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> str:
    """Rows of ``[lo, hi)`` (None = unbounded) with key ``> after``, ordered by the key."""
    selected = "*" if columns is None else column_list(columns)
    where = range_predicate(obj, lo, hi, after)
    text = f"SELECT {selected} FROM {obj.table}"
    if where:
        text += f" WHERE {where}"
    text += f" ORDER BY {obj.key_ref} ASC NULLS FIRST"
    if limit is not None:
        text += f" LIMIT {quote_count(limit)}"
    return text


def range_predicate(obj: KeyedObject, lo: str | None, hi: str | None, after: str | None) -> str:
    if lo is not None and hi is not None and not lo < hi:
        raise ValueError("a range needs lo < hi")
    key = obj.key_ref
    terms: list[str] = []
    if lo is not None:
        terms.append(f"{key} >= {quote_literal(lo)}")
    if hi is not None:
        below_hi = f"{key} < {quote_literal(hi)}"
        terms.append(below_hi if lo is not None else f"({key} IS NULL OR {below_hi})")
    if after is not None:
        terms.append(f"{key} > {quote_literal(after)}")
    return " AND ".join(terms)


def require_strictly_increasing(boundaries: Sequence[str]) -> None:
    for left, right in itertools.pairwise(boundaries):
        if not left < right:
            raise ValueError("boundaries must be strictly increasing (code-point order)")
