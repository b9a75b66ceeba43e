"""Deterministic, vectorised generator of ``ssot__Opportunity__dlm`` rows (2M in a few seconds).

``generate_table(n, seed)`` is pure: same ``n`` and ``seed``, same Arrow table, byte for byte.
Randomness comes from one numpy ``Generator``; strings are built with pyarrow compute kernels,
never row by row in Python.

ExternalIds come from several source systems, each with its own shape, so the key space is
deliberately lumpy: dense runs, long gaps, unpadded numbers of varying length (``CRM-10`` sorts
before ``CRM-9``), upper- and lower-case prefixes. They are unique by construction (strictly
increasing numbers per source, disjoint prefixes).

Profiles transform the clean table (``PROFILES``); a later "messy" profile (blank ids, case
collisions, unmappable values) registers itself there without touching the clean generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from emulator.core.schema import STAGES
from emulator.datacloud.schema import COLUMN_NAMES, COLUMNS, EXTERNAL_ID, PRIMARY_KEY, DmoType

Profile = Callable[[pa.Table, np.random.Generator], pa.Table]

DECIMAL: Final = pa.decimal128(38, 18)
TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
DAY_US: Final = 86_400_000_000
# Fixed "today" of the generated world, so output never depends on the wall clock.
AS_OF_DAY: Final = int(np.datetime64("2026-11-01", "D").astype(np.int64))
FIRST_CLOSE_DAY: Final = int(np.datetime64("2019-01-01", "D").astype(np.int64))
LAST_CLOSE_DAY: Final = int(np.datetime64("2027-12-31", "D").astype(np.int64))

STAGE_PROBABILITY: Final = {
    "Prospecting": 10,
    "Qualification": 10,
    "Needs Analysis": 20,
    "Value Proposition": 50,
    "Id. Decision Makers": 60,
    "Perception Analysis": 70,
    "Proposal/Price Quote": 75,
    "Negotiation/Review": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
}
STAGE_FORECAST: Final = {
    "Prospecting": "Pipeline",
    "Qualification": "Pipeline",
    "Needs Analysis": "Pipeline",
    "Value Proposition": "Best Case",
    "Id. Decision Makers": "Best Case",
    "Perception Analysis": "Best Case",
    "Proposal/Price Quote": "Commit",
    "Negotiation/Review": "Commit",
    "Closed Won": "Closed",
    "Closed Lost": "Omitted",
}
TYPES: Final = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
)
LEAD_SOURCES: Final = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
NEXT_STEPS: Final = (
    "Schedule discovery call",
    "Send proposal",
    "Demo to decision makers",
    "Negotiate terms with procurement",
    "Waiting on legal review",
)
CURRENCIES: Final = ("USD", "EUR", "GBP")
COMPANY_HEADS: Final = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell",
    "Cyberdyne", "Soylent", "Vandelay", "Massive", "Gringotts", "Oscorp", "Nakatomi", "Monarch",
    "Pied Piper", "Aperture", "Black Mesa",
)  # fmt: skip
COMPANY_TAILS: Final = (
    "Corp", "Inc.", "GmbH", "Ltd", "Industries", "Holdings", "Systems", "Group", "Labs", "AG",
)  # fmt: skip
PRODUCTS: Final = (
    "Platform License", "Support Renewal", "Implementation", "Training Package", "Cloud Migration",
    "Data Add-on", "Premium Support", "Hardware Refresh", "Consulting Block", "Analytics Suite",
    "Security Bundle", "Expansion Seats", "Starter Plan", "Enterprise Upgrade", "Integration Kit",
)  # fmt: skip
ORG_ID: Final = "00DEM0000000001EAA"
N_ACCOUNTS: Final = 60_000


@dataclass(frozen=True)
class Source:
    """One upstream system feeding Data Cloud, with its own ExternalId shape."""

    code: str  # ssot__ExternalSourceId__c
    data_source: str  # ssot__DataSourceId__c
    source_object: str  # ssot__DataSourceObjectId__c
    share: float
    prefix: str
    start: int
    width: int  # zero-padding of the number; 0 = unpadded
    hexadecimal: bool = False
    gap_probability: float = 0.001  # chance that the next id jumps far ahead
    max_gap: int = 1_000_000
    small_gap_max: int = 1  # ids inside a dense run advance by 1..small_gap_max


SOURCES: Final[tuple[Source, ...]] = (
    Source("SAP", "SAP_S4HANA", "VBAK", 0.38, "SAP-", 4_000_000_000, 10, max_gap=5_000_000),
    Source(
        "CRM", "LEGACY_CRM", "Opportunity", 0.27, "CRM-", 1, 0, gap_probability=0.01,
        max_gap=200_000, small_gap_max=3,
    ),
    Source("HUBSPOT", "HUBSPOT", "deals", 0.20, "HUB_", 0, 6, max_gap=10_000, small_gap_max=2),
    Source(
        "WEBSHOP", "WEBSHOP", "orders", 0.10, "ws-", 0x2A000000, 8, hexadecimal=True,
        gap_probability=0.005, max_gap=3_000_000, small_gap_max=16,
    ),
    Source("ACQ", "ACQUIRED_EU", "Opportunity", 0.05, "ACQ.EU-", 100_000, 7, max_gap=50_000),
)  # fmt: skip
HUB_YEARS: Final = tuple(range(2015, 2027))


def generate_table(n: int, seed: int, profile: str = "clean") -> pa.Table:
    """``n`` opportunities with every column of the DMO, in shuffled (realistic) physical order."""
    rng = np.random.default_rng(seed)
    external_ids, record_ids, source_index = _external_ids(n, rng)
    order = rng.permutation(n)
    columns = _columns(
        n, rng, external_ids.take(order), record_ids.take(order), source_index[order]
    )
    table = pa.Table.from_arrays([columns[c.name] for c in COLUMNS], names=list(COLUMN_NAMES))
    return PROFILES[profile](table, rng)


def _clean(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    return table


PROFILES: dict[str, Profile] = {"clean": _clean}


# ---------------------------------------------------------------------------------- ExternalIds


def _source_counts(n: int) -> list[int]:
    counts = [int(n * s.share) for s in SOURCES]
    counts[0] += n - sum(counts)
    return counts


def _external_ids(n: int, rng: np.random.Generator) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """ExternalIds, the source-native record ids, and each row's source index (sorted by source)."""
    ids: list[pa.Array] = []
    natives: list[pa.Array] = []
    for source, count in zip(SOURCES, _source_counts(n), strict=True):
        if source.code == "HUBSPOT":
            native = _hub_numbers(count, rng, source)
        else:
            native = _number_text(_increasing(count, rng, source), source)
        natives.append(native)
        ids.append(pc.binary_join_element_wise(source.prefix, native, ""))
    source_index = np.repeat(np.arange(len(SOURCES)), _source_counts(n))
    return pa.concat_arrays(ids), pa.concat_arrays(natives), source_index


def _increasing(count: int, rng: np.random.Generator, source: Source) -> np.ndarray:
    """Strictly increasing numbers: dense runs separated by occasional long jumps."""
    gaps = rng.integers(1, source.small_gap_max + 1, size=count, dtype=np.int64)
    jumps = rng.random(count) < source.gap_probability
    gaps[jumps] = rng.integers(1_000, source.max_gap, size=int(jumps.sum()), dtype=np.int64)
    return source.start + np.cumsum(gaps)


def _number_text(numbers: np.ndarray, source: Source) -> pa.Array:
    if source.hexadecimal:
        return _hex_text(numbers, source.width)
    if source.width:
        return _prefixed("", numbers, source.width)
    return pc.cast(pa.array(numbers, pa.int64()), pa.string())


def _hex_text(numbers: np.ndarray, width: int) -> pa.Array:
    return _fixed_width("", numbers, width, base=16)


def _fixed_width(prefix: str, numbers: np.ndarray, width: int, base: int = 10) -> pa.Array:
    """``prefix`` + zero-padded digits, built as one byte matrix (no per-row Python, no joins)."""
    powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers.astype(np.int64)[:, None] // powers[None, :]) % base
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    matrix = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    matrix[:, : len(head)] = head
    matrix[:, len(head) :] = alphabet[digits]
    fixed = matrix.view(f"S{matrix.shape[1]}").ravel()
    return pa.array(fixed, pa.binary(matrix.shape[1])).cast(pa.string())


def _hub_numbers(count: int, rng: np.random.Generator, source: Source) -> pa.Array:
    """``<year>_<6-digit sequence>``: a run per year, later years much busier than early ones."""
    weights = np.linspace(1.0, 6.0, len(HUB_YEARS)) ** 2
    per_year = rng.multinomial(count, weights / weights.sum())
    parts = []
    for year, year_count in zip(HUB_YEARS, per_year, strict=True):
        seq = _number_text(_increasing(int(year_count), rng, source), source)
        parts.append(pc.binary_join_element_wise(str(year), seq, "_"))
    return pa.concat_arrays(parts)


# ---------------------------------------------------------------------------------- other columns


def _columns(
    n: int,
    rng: np.random.Generator,
    external_ids: pa.Array,
    record_ids: pa.Array,
    source_index: np.ndarray,
) -> dict[str, pa.Array]:
    close_day = rng.integers(FIRST_CLOSE_DAY, LAST_CLOSE_DAY + 1, size=n)
    stage = _stages(n, rng, close_day)
    probability = np.array([STAGE_PROBABILITY[s] for s in STAGES], dtype=np.int64)[stage]
    cents = np.clip(rng.lognormal(10.0, 1.2, size=n), 500, 5_000_000).round(2) * 100
    cents = cents.astype(np.int64)
    created_us, modified_us = _audit_times(n, rng, close_day)
    name, description = _names(n, rng)
    is_open = probability % 100 != 0
    columns: dict[str, pa.Array] = {
        PRIMARY_KEY: _prefixed("006DC", np.arange(1, n + 1), 13),
        "ssot__Name__c": name,
        "ssot__OpportunityName__c": name,
        "ssot__TotalAmount__c": _decimal(cents, 2),
        "ssot__ExpectedRevenueAmount__c": _decimal(cents * probability, 4),
        "ssot__Probability__c": _decimal(probability, 0),
        "ssot__TotalProductQuantity__c": _decimal(rng.geometric(0.05, size=n).clip(1, 500), 0),
        "ssot__CloseDate__c": _timestamps(close_day * DAY_US),
        "ssot__CreatedDate__c": _timestamps(created_us),
        "ssot__LastModifiedDate__c": _timestamps(modified_us),
        "ssot__OpportunityStageId__c": _coded(STAGES, stage),
        "ssot__OpportunityTypeId__c": _pick(TYPES, rng, n, [0.35, 0.35, 0.2, 0.1]),
        "ssot__OpportunityForecastCategoryId__c": _coded(
            [STAGE_FORECAST[s] for s in STAGES], stage
        ),
        "ssot__CustomerAccountId__c": _prefixed("001DC", _accounts(n, rng), 13),
        "ssot__PartnerAccountId__c": _sometimes(
            _prefixed("001DP", rng.integers(1, 2_000, size=n), 13), rng, 0.15
        ),
        "ssot__LeadId__c": _sometimes(_prefixed("00QDC", np.arange(1, n + 1), 13), rng, 0.4),
        "ssot__LeadSourceId__c": _pick(
            LEAD_SOURCES, rng, n, [0.4, 0.2, 0.2, 0.1, 0.1], keep=rng.random(n) < 0.9
        ),
        "ssot__ContractId__c": _masked(
            _prefixed("800DC", np.arange(1, n + 1), 13), stage == STAGES.index("Closed Won")
        ),
        "ssot__PriceBookId__c": _constant("01sDC0000000001AAA", n),
        "ssot__CurrencyId__c": _pick(CURRENCIES, rng, n, [0.8, 0.12, 0.08]),
        "ssot__EngagementChannelId__c": pa.nulls(n, pa.string()),
        "ssot__EngagementChannelTypeId__c": pa.nulls(n, pa.string()),
        "ssot__InternalOrganizationId__c": _constant(ORG_ID, n),
        "ssot__IsPrivate__c": _coded(["false", "true"], (rng.random(n) < 0.03).astype(np.int64)),
        "ssot__Description__c": description,
        "ssot__NextStep__c": _pick(NEXT_STEPS, rng, n, None, keep=is_open),
        "ssot__ExternalRecordId__c": record_ids,
        "ssot__ExternalSourceId__c": _by_source(source_index, [s.code for s in SOURCES]),
        "ssot__DataSourceId__c": _by_source(source_index, [s.data_source for s in SOURCES]),
        "ssot__DataSourceObjectId__c": _by_source(source_index, [s.source_object for s in SOURCES]),
        EXTERNAL_ID: external_ids,
    }
    return columns


def _stages(n: int, rng: np.random.Generator, close_day: np.ndarray) -> np.ndarray:
    """Index into STAGES: mostly closed when the close date has passed, open otherwise."""
    open_stage = rng.integers(0, 8, size=n)
    won = STAGES.index("Closed Won")
    closed_stage = np.where(rng.random(n) < 0.45, won, STAGES.index("Closed Lost"))
    closed = (close_day < AS_OF_DAY) & (rng.random(n) < 0.9)
    return np.where(closed, closed_stage, open_stage)


def _audit_times(
    n: int, rng: np.random.Generator, close_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lead_us = rng.integers(7 * DAY_US, 400 * DAY_US, size=n)
    created = np.minimum(close_day * DAY_US - lead_us, AS_OF_DAY * DAY_US - lead_us // 4)
    created -= created % 1_000  # millisecond precision, as Salesforce keeps it
    span = AS_OF_DAY * DAY_US - created
    modified = created + (rng.random(n) * span).astype(np.int64)
    modified -= modified % 1_000
    return created, modified


def _names(n: int, rng: np.random.Generator) -> tuple[pa.Array, pa.Array]:
    """Opportunity names and descriptions, taken from small precomputed tables of combinations."""
    companies = [f"{head} {tail}" for head in COMPANY_HEADS for tail in COMPANY_TAILS]
    combos = [(company, product) for company in companies for product in PRODUCTS]
    pick = rng.integers(0, len(combos), size=n)
    titles = pa.array([f"{company} - {product} #" for company, product in combos])
    titles = titles.take(pa.array(pick))
    descriptions = [f"{product} for {company}" for company, product in combos]
    deal = pc.cast(pa.array(rng.integers(1, 1_000, size=n)), pa.string())
    described = rng.random(n) < 0.7
    return pc.binary_join_element_wise(titles, deal, ""), _coded(descriptions, pick, described)


def _accounts(n: int, rng: np.random.Generator) -> np.ndarray:
    """A few big accounts with many deals, a long tail with one or two (Zipf-like)."""
    return (rng.zipf(1.3, size=n) - 1) % N_ACCOUNTS + 1


def _pick(
    values: tuple[str, ...],
    rng: np.random.Generator,
    n: int,
    p: list[float] | None,
    keep: np.ndarray | None = None,
) -> pa.Array:
    return _coded(values, rng.choice(len(values), size=n, p=p), keep)


def _coded(
    values: Sequence[str], indices: np.ndarray, keep: np.ndarray | None = None
) -> pa.DictionaryArray:
    """Low-cardinality text as a dictionary array: no string copied per row."""
    codes = pa.array(indices.astype(np.int32), mask=None if keep is None else ~keep)
    return pa.DictionaryArray.from_arrays(codes, pa.array(list(values), pa.string()))


def _by_source(source_index: np.ndarray, values: list[str]) -> pa.Array:
    return _coded(values, source_index)


def _prefixed(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + ``numbers`` zero-padded to ``width``: format 10**width + n, swap its leading 1."""
    padded = pc.cast(pa.array(numbers + 10**width, pa.int64()), pa.string())
    return pc.utf8_replace_slice(padded, start=0, stop=1, replacement=prefix)


def _constant(value: str, n: int) -> pa.Array:
    return _coded([value], np.zeros(n, dtype=np.int32))


def _sometimes(values: pa.Array, rng: np.random.Generator, present: float) -> pa.Array:
    return _masked(values, rng.random(len(values)) < present)


def _masked(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """``values`` with nulls where ``keep`` is False, sharing the value buffers (no copy)."""
    assert values.offset == 0 and values.null_count == 0
    validity = pa.py_buffer(np.packbits(keep, bitorder="little"))
    return pa.Array.from_buffers(
        values.type, len(values), [validity, *values.buffers()[1:]], int((~keep).sum())
    )


def _decimal(unscaled: np.ndarray, scale: int) -> pa.Array:
    """Exact DECIMAL(38,18) from integers that carry ``scale`` implied fractional digits."""
    as_integer = pa.array(unscaled, pa.int64()).cast(pa.decimal128(38, 0))
    scaled = pa.Array.from_buffers(pa.decimal128(38, scale), len(as_integer), as_integer.buffers())
    return scaled.cast(DECIMAL)


def _timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64), pa.int64()).view(TIMESTAMP)


def column_types() -> dict[str, pa.DataType]:
    """The Arrow value type of every generated column (text may come dictionary-encoded)."""
    arrow = {DmoType.TEXT: pa.string(), DmoType.NUMBER: DECIMAL, DmoType.DATE_TIME: TIMESTAMP}
    return {c.name: arrow[c.type] for c in COLUMNS}
