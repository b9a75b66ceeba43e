"""Data profiles of the Data Cloud tenant: ``clean`` (the generator as is) and ``messy``.

``messy`` takes the clean table and spoils an exact number of rows, each row in exactly one way, so
that a load's outcome can be predicted to the row. The number of rows of a kind is
``floor(records * rate)`` (see ``messy_counts``); which rows are spoiled comes from the same seeded
generator as the clean data, so ``(records, seed)`` fixes the table byte for byte.

| kind              | rate  | what the row looks like                                     | Bulk API, row sent as is (one job)      | sfload loader (pre-flight + mapping)            |
|-------------------|-------|-------------------------------------------------------------|-----------------------------------------|-------------------------------------------------|
| null_required     | 1.0%  | Name, StageName or CloseDate is null                        | REQUIRED_FIELD_MISSING                  | rejected REQUIRED_FIELD_MISSING                 |
| long_name         | 0.5%  | Name of 131-300 characters (Name holds 120)                 | STRING_TOO_LONG                         | rejected STRING_TOO_LONG                        |
| invalid_date      | 0.5%  | CloseDate in year 10000 or later (Salesforce dates: 4 digits)| INVALID_TYPE_ON_FIELD_IN_RECORD        | rejected INVALID_TYPE_ON_FIELD_IN_RECORD        |
| invalid_amount    | 0.5%  | TotalAmount of 10^16 or more (Currency(16,2) holds < 10^16) | NUMBER_OUTSIDE_VALID_RANGE              | quarantined NUMBER_TOO_LARGE (Currency(16,2))  |
| special_chars     | 2.0%  | quotes, commas, newlines, tabs, non-ASCII in Name/Description/NextStep | loaded                       | loaded                                          |
| padded_spaces     | 1.0%  | Name and Description with leading and trailing spaces       | loaded                                  | loaded                                          |
| duplicate_id      | 0.5%  | same ExternalId as another (clean) row                      | the later of the two: DUPLICATE_VALUE   | quarantined DUPLICATE_EXTERNAL_ID, both rows   |
| case_duplicate_id | 0.5%  | ExternalId of another (clean) row with its case swapped     | the later of the two: DUPLICATE_VALUE; across jobs the second updates the first: one record | quarantined CASE_DUPLICATE_EXTERNAL_ID, both rows |
| blank_id          | 0.5%  | ExternalId null or empty                                    | MISSING_ARGUMENT                        | quarantined BLANK_EXTERNAL_ID                   |

Every other row is clean and loads. The originals that ``duplicate_id`` and ``case_duplicate_id``
copy are clean rows (so the Bulk API column is exact whatever the upload order), and they count as
clean in ``counts`` although the loader quarantines them too; ``expected_loader_outcome`` does
that arithmetic. Seeding writes ``datacloud_profile.json`` next to the tenant database; the control
plane serves it in ``GET /__emulator__/stats`` under ``datacloud.profile``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from emulator.config import EmulatorConfig
from emulator.datacloud import generate
from emulator.datacloud.backend import DataCloudBackend
from emulator.datacloud.schema import COLUMN_NAMES, EXTERNAL_ID, PRIMARY_KEY, TABLE_NAME
from emulator.datacloud.schema import quote_identifier as quote

PROFILE_FILE: Final = "datacloud_profile.json"
NAME: Final = "ssot__Name__c"
OPPORTUNITY_NAME: Final = "ssot__OpportunityName__c"
STAGE: Final = "ssot__OpportunityStageId__c"
CLOSE_DATE: Final = "ssot__CloseDate__c"
AMOUNT: Final = "ssot__TotalAmount__c"
DESCRIPTION: Final = "ssot__Description__c"
NEXT_STEP: Final = "ssot__NextStep__c"


@dataclass(frozen=True)
class MessyKind:
    name: str
    rate: float
    salesforce: str  # Bulk API outcome of the row sent as is: "loaded" or the error code
    loader: str  # "loaded", "rejected:<CODE>" or "quarantined:<reason>"


MESSY_KINDS: Final[tuple[MessyKind, ...]] = (
    MessyKind("null_required", 0.010, "REQUIRED_FIELD_MISSING", "rejected:REQUIRED_FIELD_MISSING"),
    MessyKind("long_name", 0.005, "STRING_TOO_LONG", "rejected:STRING_TOO_LONG"),
    MessyKind(
        "invalid_date",
        0.005,
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "rejected:INVALID_TYPE_ON_FIELD_IN_RECORD",
    ),
    MessyKind(
        "invalid_amount", 0.005, "NUMBER_OUTSIDE_VALID_RANGE", "quarantined:NUMBER_TOO_LARGE"
    ),
    MessyKind("special_chars", 0.020, "loaded", "loaded"),
    MessyKind("padded_spaces", 0.010, "loaded", "loaded"),
    MessyKind("duplicate_id", 0.005, "DUPLICATE_VALUE", "quarantined:DUPLICATE_EXTERNAL_ID"),
    MessyKind(
        "case_duplicate_id", 0.005, "DUPLICATE_VALUE", "quarantined:CASE_DUPLICATE_EXTERNAL_ID"
    ),
    MessyKind("blank_id", 0.005, "MISSING_ARGUMENT", "quarantined:BLANK_EXTERNAL_ID"),
)
KIND_NAMES: Final = tuple(k.name for k in MESSY_KINDS)
COPY_KINDS: Final = ("duplicate_id", "case_duplicate_id")  # each copies one clean original

SPECIAL_NAMES: Final = (
    'Müller & Söhne "Premium", Q3 renewal #',
    "Café\tTerrasse, Paris – expansion #",
    "東京支店 / 大阪: platform license #",
    'Line one\nline two, "quoted" deal #',
    "O'Brien, Smith & Co. — ¡oferta! #",
    'Ελληνικά, "Δέλτα"\t& Ωmega #',
    "Zürich; Genève, Lugano\r\nsplit deal #",
    'Comma, "quote"" doubled", tab\there #',
)
SPECIAL_TEXT: Final = (
    'Customer said: "we need it, by Friday"\nSecond line\twith a tab',
    "Non-ASCII: naïve façade, Ångström, 日本語, emoji 🚀",
    'Backslash \\ and "quotes", commas, , and\r\nCRLF',
)


# ---------------------------------------------------------------------------------- counts


def messy_counts(records: int) -> dict[str, int]:
    """Rows of each kind for a table of ``records`` rows (copies need as many clean originals)."""
    counts = {k.name: math.floor(records * k.rate) for k in MESSY_KINDS}
    spare = records - sum(counts.values()) - sum(counts[k] for k in COPY_KINDS)
    for kind in COPY_KINDS:
        if spare < 0:
            cut = min(counts[kind], -spare)
            counts[kind] -= cut
            spare += 2 * cut
    return counts


def expected_salesforce_outcome(counts: Mapping[str, int], records: int) -> dict[str, Any]:
    """Rows sent as is in ONE upsert job: how many load, how many fail with which error code."""
    errors: dict[str, int] = {}
    for kind in MESSY_KINDS:
        if kind.salesforce != "loaded" and counts.get(kind.name, 0):
            errors[kind.salesforce] = errors.get(kind.salesforce, 0) + counts[kind.name]
    return {"loaded": records - sum(errors.values()), "errors": dict(sorted(errors.items()))}


def expected_loader_outcome(counts: Mapping[str, int], records: int) -> dict[str, Any]:
    """What the sfload loader reports: loaded, rejected by code, quarantined by reason."""
    rejected: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    for kind in MESSY_KINDS:
        n = counts.get(kind.name, 0)
        if not n or kind.loader == "loaded":
            continue
        outcome, _, reason = kind.loader.partition(":")
        rows = 2 * n if kind.name in COPY_KINDS else n  # the clean original is held back too
        target = rejected if outcome == "rejected" else quarantined
        target[reason] = target.get(reason, 0) + rows
    held = sum(rejected.values()) + sum(quarantined.values())
    return {"loaded": records - held, "rejected": rejected, "quarantined": quarantined}


# ---------------------------------------------------------------------------------- the profile


def messy(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The ``messy`` profile: ``table`` with ``messy_counts(n)`` rows spoiled, one kind per row."""
    n = table.num_rows
    rows = _assign_rows(n, rng)
    columns = {name: table[name].combine_chunks() for name in table.column_names}
    _null_required(columns, rows["null_required"], rng)
    _long_names(columns, rows["long_name"], rng)
    _invalid_dates(columns, rows["invalid_date"], rng)
    _invalid_amounts(columns, rows["invalid_amount"], rng)
    _special_chars(columns, rows["special_chars"], rng)
    _padded_spaces(columns, rows["padded_spaces"])
    ids = columns[EXTERNAL_ID]
    ids = _put(ids, rows["duplicate_id"], ids.take(pa.array(rows["duplicate_id.original"])))
    swapped = pc.utf8_swapcase(ids.take(pa.array(rows["case_duplicate_id.original"])))
    ids = _put(ids, rows["case_duplicate_id"], swapped)
    nulls = rng.random(len(rows["blank_id"])) < 0.5
    blanks = pa.array([None if null else "" for null in nulls], pa.string())
    columns[EXTERNAL_ID] = _put(ids, rows["blank_id"], blanks)
    return pa.Table.from_arrays([columns[c] for c in table.column_names], schema=table.schema)


def _assign_rows(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint row positions per kind, plus the clean originals the copy kinds copy."""
    counts = messy_counts(n)
    order = rng.permutation(n)
    rows: dict[str, np.ndarray] = {}
    start = 0
    for kind in KIND_NAMES:
        rows[kind] = np.sort(order[start : start + counts[kind]])
        start += counts[kind]
    for kind in COPY_KINDS:
        rows[f"{kind}.original"] = order[start : start + counts[kind]]
        start += counts[kind]
    return rows


def _put(values: pa.Array, positions: np.ndarray, replacement: pa.Array) -> pa.Array:
    """``values`` with ``values[positions[i]] = replacement[i]``."""
    if len(positions) == 0:
        return values
    index = np.full(len(values), -1, dtype=np.int64)
    index[positions] = np.arange(len(positions))
    chosen = pa.array(index >= 0)
    taken = replacement.take(pa.array(np.where(index >= 0, index, 0)))
    return pc.if_else(chosen, taken, values)


def _nulls(values: pa.Array, positions: np.ndarray) -> pa.Array:
    return _put(values, positions, pa.nulls(len(positions), values.type))


def _null_required(cols: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator) -> None:
    which = rng.integers(0, 3, size=len(rows))
    for field, pick in ((NAME, 0), (STAGE, 1), (CLOSE_DATE, 2)):
        cols[field] = _nulls(cols[field], rows[which == pick])
    cols[OPPORTUNITY_NAME] = _nulls(cols[OPPORTUNITY_NAME], rows[which == 0])


def _long_names(cols: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator) -> None:
    suffixes = pa.array([" - " + ("extended scope " * 20)[: 128 + 17 * i] for i in range(10)])
    pick = suffixes.take(pa.array(rng.integers(0, len(suffixes), size=len(rows))))
    long = pc.binary_join_element_wise(cols[NAME].take(pa.array(rows)), pick, "")
    cols[NAME] = _put(cols[NAME], rows, long)
    cols[OPPORTUNITY_NAME] = _put(cols[OPPORTUNITY_NAME], rows, long)


def _invalid_dates(cols: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator) -> None:
    first = int(np.datetime64("10000-01-01", "D").astype(np.int64))
    days = first + rng.integers(0, 3650, size=len(rows))
    stamps = pa.array(days * generate.DAY_US, pa.int64()).view(generate.TIMESTAMP)
    cols[CLOSE_DATE] = _put(cols[CLOSE_DATE], rows, stamps)


def _invalid_amounts(cols: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator) -> None:
    exponent = rng.integers(16, 20, size=len(rows))
    whole = [
        10 ** int(e) + int(m)
        for e, m in zip(exponent, rng.integers(0, 10**6, len(rows)), strict=True)
    ]
    amounts = pa.array(whole, pa.decimal128(38, 0)).cast(generate.DECIMAL)
    cols[AMOUNT] = _put(cols[AMOUNT], rows, amounts)


def _special_chars(cols: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator) -> None:
    heads = pa.array(SPECIAL_NAMES).take(pa.array(rng.integers(0, len(SPECIAL_NAMES), len(rows))))
    deal = pc.cast(pa.array(rng.integers(1, 1000, size=len(rows))), pa.string())
    names = pc.binary_join_element_wise(heads, deal, "")
    texts = pa.array(SPECIAL_TEXT).take(pa.array(rng.integers(0, len(SPECIAL_TEXT), len(rows))))
    cols[NAME] = _put(cols[NAME], rows, names)
    cols[OPPORTUNITY_NAME] = _put(cols[OPPORTUNITY_NAME], rows, names)
    cols[DESCRIPTION] = _put(cols[DESCRIPTION], rows, texts)
    cols[NEXT_STEP] = _put(cols[NEXT_STEP], rows, texts)


def _padded_spaces(cols: dict[str, pa.Array], rows: np.ndarray) -> None:
    for field in (NAME, OPPORTUNITY_NAME, DESCRIPTION):
        picked = cols[field].take(pa.array(rows))
        padded = pc.binary_join_element_wise("  ", pc.fill_null(picked, "deal"), "   ", "")
        cols[field] = _put(cols[field], rows, padded)


generate.PROFILES.setdefault("messy", messy)
PROFILES: Final = ("clean", "messy")


# ---------------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class SeedReport:
    profile: str
    records: int
    seed: int | None
    counts: dict[str, int]
    source: str = "generated"  # or the Parquet file's name

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["rates"] = {k.name: k.rate for k in MESSY_KINDS} if self.profile == "messy" else {}
        if self.profile == "messy":
            body["expected_salesforce"] = expected_salesforce_outcome(self.counts, self.records)
            body["expected_loader"] = expected_loader_outcome(self.counts, self.records)
        return body


def seed(data_dir: Path, records: int, seed: int, profile: str = "clean") -> SeedReport:
    """Replace the tenant's rows in ``data_dir`` (no server may have it open)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    with _backend(data_dir) as backend:
        backend.regenerate(records, seed, profile)
    counts = messy_counts(records) if profile == "messy" else {}
    report = SeedReport(profile=profile, records=records, seed=seed, counts=counts)
    write_report(data_dir, report)
    return report


def load_parquet(data_dir: Path, parquet_file: Path) -> SeedReport:
    """Replace the tenant's rows with a Parquet file's rows (the DMO's columns, any subset)."""
    table = conform(pq.read_table(parquet_file))
    with _backend(data_dir) as backend:
        replace_rows(backend, table)
    report = SeedReport("parquet", table.num_rows, None, {}, source=parquet_file.name)
    write_report(data_dir, report)
    return report


def conform(table: pa.Table) -> pa.Table:
    """The DMO's columns in order and types; missing ones null, unknown ones refused."""
    unknown = sorted(set(table.column_names) - set(COLUMN_NAMES))
    if unknown:
        raise ValueError(f"columns not in {TABLE_NAME}: {', '.join(unknown)}")
    if EXTERNAL_ID not in table.column_names:
        raise ValueError(f"the rows need an {EXTERNAL_ID} column")
    types = generate.column_types()
    columns = [
        table[name].cast(types[name])
        if name in table.column_names
        else pa.nulls(table.num_rows, types[name])
        for name in COLUMN_NAMES
    ]
    return pa.Table.from_arrays(columns, names=list(COLUMN_NAMES))


def replace_rows(backend: DataCloudBackend, table: pa.Table) -> None:
    with backend.writable() as connection:
        connection.register("incoming", table)
        connection.execute(f"DELETE FROM {quote(TABLE_NAME)}")  # noqa: S608
        connection.execute(f"INSERT INTO {quote(TABLE_NAME)} BY NAME SELECT * FROM incoming")  # noqa: S608
        connection.unregister("incoming")


def write_report(data_dir: Path, report: SeedReport) -> None:
    (data_dir / PROFILE_FILE).write_text(json.dumps(report.as_json(), indent=2) + "\n")


def read_report(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / PROFILE_FILE
    if not path.exists():
        return None
    body: dict[str, Any] = json.loads(path.read_text())
    return body


@contextmanager
def _backend(data_dir: Path) -> Iterator[DataCloudBackend]:
    data_dir.mkdir(parents=True, exist_ok=True)
    backend = DataCloudBackend(EmulatorConfig(data_dir=data_dir))
    try:
        yield backend
    finally:
        backend.close()


# ---------------------------------------------------------------------------------- live changes


@dataclass(frozen=True)
class RowChanges:
    """``POST /__emulator__/datacloud/rows`` body:

    ``{"insert": [{column: value, ...}], "update": [{"ExternalId__c": id, column: value, ...}],
    "delete": [id, ...]}`` — every part optional. Values are JSON strings or numbers in the
    column's DMO type (timestamps as ISO 8601 text); missing insert columns are null, and a missing
    ``ssot__Id__c`` is made up. ``update`` and ``delete`` address rows by exact ExternalId (every
    row holding it). Open query cursors are dropped, as after any write.
    """

    insert: list[dict[str, Any]]
    update: list[dict[str, Any]]
    delete: list[str]

    @classmethod
    def parse(cls, body: Any) -> RowChanges:
        if not isinstance(body, dict) or set(body) - {"insert", "update", "delete"}:
            raise ValueError('body must be {"insert": [...], "update": [...], "delete": [...]}')
        insert, update, delete = (
            body.get("insert", []),
            body.get("update", []),
            body.get("delete", []),
        )
        if not all(isinstance(r, dict) for r in [*insert, *update]):
            raise ValueError("insert and update take lists of objects")
        if not all(isinstance(i, str) for i in delete):
            raise ValueError("delete takes a list of ExternalIds")
        for row in [*insert, *update]:
            unknown = sorted(set(row) - set(COLUMN_NAMES))
            if unknown:
                raise ValueError(f"columns not in {TABLE_NAME}: {', '.join(unknown)}")
        if not all(isinstance(r.get(EXTERNAL_ID), str) for r in update):
            raise ValueError(f"every update names its {EXTERNAL_ID}")
        return cls(list(insert), list(update), list(delete))


def apply_changes(backend: DataCloudBackend, changes: RowChanges) -> dict[str, int]:
    table = quote(TABLE_NAME)
    counts = {"inserted": 0, "updated": 0, "deleted": 0}
    with backend.writable() as connection:
        for row in _with_ids(changes.insert):
            names = list(row)
            marks = ", ".join("?" for _ in names)
            connection.execute(
                f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) VALUES ({marks})",  # noqa: S608
                [row[n] for n in names],
            )
            counts["inserted"] += 1
        for row in changes.update:
            names = [n for n in row if n != EXTERNAL_ID]
            if not names:
                continue
            sets = ", ".join(f"{quote(n)} = ?" for n in names)
            where = f"{quote(EXTERNAL_ID)} = ?"
            hit = connection.execute(
                f"UPDATE {table} SET {sets} WHERE {where} RETURNING 1",  # noqa: S608
                [*(row[n] for n in names), row[EXTERNAL_ID]],
            ).fetchall()
            counts["updated"] += len(hit)
        for external_id in changes.delete:
            hit = connection.execute(
                f"DELETE FROM {table} WHERE {quote(EXTERNAL_ID)} = ? RETURNING 1",  # noqa: S608
                [external_id],
            ).fetchall()
            counts["deleted"] += len(hit)
    return counts


def _with_ids(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows without ``ssot__Id__c`` get one derived from their content (stable across runs)."""
    for row in rows:
        if row.get(PRIMARY_KEY):
            yield row
            continue
        digest = hashlib.blake2b(json.dumps(row, sort_keys=True).encode(), digest_size=8)
        yield {**row, PRIMARY_KEY: f"006DX{int.from_bytes(digest.digest()) % 10**13:013d}"}
