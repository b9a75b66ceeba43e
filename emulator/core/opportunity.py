"""The Opportunity object's per-row behaviour for Bulk API 2.0 ingest (reference §3.5, §3.7, §12).

Everything is set-based. SQL text is built from schema constants only (uploaded values stay in
Arrow columns and never enter SQL text, hence the S608 waivers). Rows arrive as an Arrow table
of strings (``__row`` plus ``c0..cN`` in header order) and are validated and written with DuckDB
SQL and Arrow compute, never row by row in Python.

Matching: the External ID is compared with DuckDB ``lower()`` on both sides unless
``EmulatorConfig.external_id_case_sensitive``; no hidden column is stored. New Ids are
``006EM`` + 10 digits + ``YAA``, allocated after the highest one in the table.

Decisions where Salesforce is not documented:
- Duplicate External IDs inside one job (compared with the org's case rule): the first occurrence
  in upload order is processed; every later one fails ``DUPLICATE_VALUE``. So case-only duplicates
  collapse into one record, as they would across jobs.
- When a row has several problems, one error is reported, in this order: blank External ID
  (``MISSING_ARGUMENT``), type, read-only field, length, restricted picklist, duplicate key in the
  job, several existing matches, required fields, injected lock failure.
- Messages name fields by API name (Salesforce uses the field label in some texts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from emulator.core import schema
from emulator.core.csv_dialect import ROW_NUMBER, CsvRejected, bool_array, int64_array
from emulator.core.schema import Field, FieldType
from emulator.store import Store
from resources.salesforce.protocol import NULL_VALUE

# Salesforce's 18-char Ids end in a 3-char case checksum; our 15-char body "006EM" + 10 digits
# has upper-case letters only at positions 3 and 4, so the checksum is always "YAA".
ID_BODY_PREFIX = schema.ID_PREFIX + "EM"
ID_CHECKSUM = "YAA"
LOCK_PARENT_ID = "001EM0000000001YAA"  # the parent record named by injected lock errors
SEVERAL_MATCHES = "DUPLICATE_EXTERNAL_ID"  # placeholder until the matching Ids are spelled out

# Output columns of ``validate`` and ``write``.
KEY = "__key"
PRE_ERROR = "__pre_error"
FIRST = "__first"
MISSING_ON_CREATE = "__missing_on_create"
MISSING_ON_UPDATE = "__missing_on_update"
LOCK = "__lock"
RESULT_ID = "__id"
RESULT_CREATED = "__created"
RESULT_ERROR = "__error"
ROW_ID = "__rowid"

_NUMBER_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_BOOLEAN_LITERALS = ("true", "false", "1", "0")
_NUMERIC_TYPES = (FieldType.CURRENCY, FieldType.PERCENT, FieldType.DOUBLE)
_TEXT_TYPES = (FieldType.STRING, FieldType.TEXTAREA, FieldType.PICKLIST)


@dataclass(frozen=True)
class Column:
    """One uploaded column: its position in the header and the field it maps to."""

    source: str  # c0..cN
    field: Field


def map_header(header: Sequence[str], external_id_field: str | None) -> list[Column]:
    """Map header names to fields case-insensitively; unknown names fail the whole job.

    ``external_id_field`` is the upsert key (its column must be present); None for insert.
    """
    columns: list[Column] = []
    seen: set[str] = set()
    for position, name in enumerate(header):
        field = schema.FIELDS_BY_LOWER_NAME.get(name.lower())
        if field is None:
            raise CsvRejected(f"InvalidBatch : InvalidBatch : Field name not found : {name}")
        if field.name in seen:
            raise CsvRejected(f"InvalidBatch : InvalidBatch : Duplicate field name : {name}")
        seen.add(field.name)
        columns.append(Column(f"c{position}", field))
    if external_id_field is not None and external_id_field not in seen:
        raise CsvRejected(
            f"InvalidBatch : InvalidBatch : Field name not provided : {external_id_field}"
        )
    return columns


def check_delete_header(header: Sequence[str]) -> None:
    """A delete or hardDelete upload has exactly one column, ``Id``."""
    if [name.lower() for name in header] != ["id"]:
        raise CsvRejected("InvalidBatch : InvalidBatch : The 'delete' batch must contain only ids")


_DELETE_OUTCOME_SQL = f"""
    SELECT i.{ROW_NUMBER}, i.c0 AS {RESULT_ID}, false AS {RESULT_CREATED},
        CASE
            WHEN i.c0 = '' THEN 'MISSING_ARGUMENT:Id not specified:--'
            WHEN NOT regexp_full_match(i.c0, '[a-zA-Z0-9]{{15}}([a-zA-Z0-9]{{3}})?')
                THEN 'MALFORMED_ID:malformed id ' || i.c0 || ':--'
            WHEN o."Id" IS NULL OR row_number() OVER (PARTITION BY i.c0 ORDER BY i.{ROW_NUMBER}) > 1
                THEN 'ENTITY_IS_DELETED:entity is deleted:--'
            WHEN i.{LOCK} THEN 'UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this '
                || 'record or 200 records: ' || i.c0 || ':--'
        END AS {RESULT_ERROR}
    FROM incoming i LEFT JOIN "{schema.OBJECT_NAME}" o ON o."Id" = i.c0
    ORDER BY i.{ROW_NUMBER}
"""  # noqa: S608 - names are constants; uploaded values stay in the registered table


def key_sql(expr: str, case_sensitive: bool) -> str:
    """How an External ID value is compared: ``lower()`` unless the field is case-sensitive."""
    return expr if case_sensitive else f"lower({expr})"


class OpportunityTable:
    """The org's Opportunity rows in DuckDB, and the set-based upsert that writes them."""

    def __init__(self, store: Store, case_sensitive: bool) -> None:
        self.store = store
        self.case_sensitive = case_sensitive
        self._next_id: int | None = None  # guarded by store.write_lock

    def ensure_schema(self) -> None:
        with self.store.write_lock, self.store.cursor() as cur:
            cur.execute(schema.create_table_sql())

    def delete_all(self) -> None:
        with self.store.write_lock, self.store.cursor() as cur:
            cur.execute(f'DELETE FROM "{schema.OBJECT_NAME}"')  # noqa: S608
            self._next_id = None

    def delete(self, batch: pa.Table) -> pa.Table:
        """Delete the records a delete job's rows name by ``Id`` (column ``c0``, see
        ``check_delete_header``); returns the per-row outcome like ``write``. A blank, malformed,
        unknown or already deleted Id (also one named earlier in the job) fails its row."""
        with self.store.write_lock, self._cursor_with(incoming=batch) as cur:
            cur.begin()
            try:
                outcome = cur.sql(_DELETE_OUTCOME_SQL).to_arrow_table()
                cur.register("judged", outcome)
                cur.execute(
                    f'DELETE FROM "{schema.OBJECT_NAME}" WHERE "Id" IN '  # noqa: S608
                    f"(SELECT {RESULT_ID} FROM judged WHERE {RESULT_ERROR} IS NULL)"
                )
                cur.commit()
            except BaseException:
                cur.rollback()
                raise
            finally:
                cur.unregister("judged")
        return outcome

    def validate(self, rows: pa.Table, columns: list[Column], external_id: str | None) -> pa.Table:
        """Checks that need only the job's own rows: ``rows`` plus ``__key``, ``__first``,
        ``__pre_error`` and the required fields missing on create / nulled on update.

        ``external_id`` is the upsert key field, or None for insert (no key: nothing matches).
        """
        if external_id is None:
            raw_key, blank, key_missing = "NULL", "true", ""
        else:
            raw_key = f'"{_column_for(columns, external_id).source}"'
            blank = f"({raw_key} = '' OR {raw_key} = '{NULL_VALUE}')"
            key_missing = (
                f"CASE WHEN {blank} THEN "
                f"{_quote(f'MISSING_ARGUMENT:{external_id} not specified:--')} END"
            )
        checks = [
            key_missing,
            *[_type_error(c) for c in columns],
            *[_read_only_error(c, external_id) for c in columns],
            *[_length_error(c) for c in columns],
            *[_picklist_error(c) for c in columns],
        ]
        required = [f for f in schema.FIELDS if f.required_on_create]
        present = {c.field.name: c for c in columns}
        on_create = ", ".join(_missing_on_create(present.get(f.name), f) for f in required)
        on_update = ", ".join(_nulled_on_update(present.get(f.name), f) for f in required)
        sql = f"""
            SELECT CASE WHEN {blank} THEN NULL
                        ELSE {key_sql(raw_key, self.case_sensitive)} END AS {KEY},
                   coalesce({", ".join(_non_null(checks))}) AS {PRE_ERROR},
                   nullif(concat_ws(', ', {on_create}), '') AS {MISSING_ON_CREATE},
                   nullif(concat_ws(', ', {on_update}), '') AS {MISSING_ON_UPDATE}
            FROM incoming
        """  # noqa: S608
        with self._cursor_with(incoming=rows) as cur:
            checked = cur.sql(sql).to_arrow_table().combine_chunks()
        keys = checked[KEY].chunk(0) if checked[KEY].num_chunks else pa.array([], pa.string())
        errors = checked[PRE_ERROR].combine_chunks()
        later = self._later_occurrences(rows[ROW_NUMBER], keys)
        first = pc.and_(pc.invert(later), pc.is_valid(keys))
        if external_id is not None:
            raw = rows[_column_for(columns, external_id).source]
            errors = _with_duplicate_errors(later, errors, raw)
        return (
            rows.append_column(KEY, keys)
            .append_column(FIRST, first)
            .append_column(PRE_ERROR, errors)
            .append_column(MISSING_ON_CREATE, checked[MISSING_ON_CREATE])
            .append_column(MISSING_ON_UPDATE, checked[MISSING_ON_UPDATE])
        )

    def _later_occurrences(self, row_numbers: pa.ChunkedArray, keys: pa.Array) -> pa.Array:
        """True where a key already appeared on an earlier row (found with a DuckDB hash
        aggregate: cheaper than hashing every string again in Arrow)."""
        narrow = pa.table({ROW_NUMBER: row_numbers, KEY: keys})
        with self._cursor_with(incoming=narrow) as cur:
            later_rows = cur.sql(
                f"""
                WITH repeated AS (
                    SELECT {KEY}, min({ROW_NUMBER}) AS __first_row FROM incoming
                    WHERE {KEY} IS NOT NULL GROUP BY {KEY} HAVING count(*) > 1
                )
                SELECT i.{ROW_NUMBER} FROM incoming i JOIN repeated r ON i.{KEY} = r.{KEY}
                WHERE i.{ROW_NUMBER} <> r.__first_row
                """  # noqa: S608
            ).to_arrow_table()
        return _mask_at(narrow, later_rows[ROW_NUMBER])

    def write(self, batch: pa.Table, columns: list[Column], external_id: str | None) -> pa.Table:
        """Match, finish validation, and insert/update one batch; returns the per-row outcome
        (``__row``, ``__id``, ``__created``, ``__error``) in the batch's row order.

        ``batch`` is the output of ``validate`` (a slice of it) plus a boolean ``__lock`` column
        marking rows that get an injected ``UNABLE_TO_LOCK_ROW``.
        """
        with self.store.write_lock, self._cursor_with(incoming=batch) as cur:
            cur.begin()
            try:
                judged = _judge(batch, self._matches(cur, external_id))
                judged = self._explain_several_matches(cur, judged, external_id)
                outcome = self._with_new_ids(cur, judged).drop_columns([KEY])
                staged = batch
                for name in (RESULT_ID, ROW_ID, RESULT_CREATED, RESULT_ERROR):
                    staged = staged.append_column(name, outcome[name])
                outcome = outcome.drop_columns([ROW_ID])
                cur.register("staged", staged)
                cur.execute(_insert_sql(columns))
                cur.execute(_update_sql(columns))
                cur.commit()
            except BaseException:
                cur.rollback()
                raise
            finally:
                cur.unregister("staged")
        return outcome

    def _explain_several_matches(
        self, cur: duckdb.DuckDBPyConnection, judged: pa.Table, external_id: str | None
    ) -> pa.Table:
        """Spell out ``DUPLICATE_EXTERNAL_ID`` with the matching Ids (rare, so not vectorised)."""
        errors = judged[RESULT_ERROR].combine_chunks()
        several = pc.fill_null(pc.equal(errors, SEVERAL_MATCHES), False)
        if external_id is None or not pc.any(several).as_py():
            return judged
        keys = pc.filter(judged[KEY], several).unique().to_pylist()
        field_key = key_sql(f'"{external_id}"', self.case_sensitive)
        listed = cur.execute(
            f'SELECT {field_key}, string_agg("Id", \', \' ORDER BY "Id") '  # noqa: S608
            f'FROM "{schema.OBJECT_NAME}" WHERE {field_key} IN (SELECT unnest(?)) GROUP BY 1',
            [keys],
        ).fetchall()
        messages = {
            key: f"DUPLICATE_EXTERNAL_ID:{external_id}: more than one record found for external "
            f"id field: [{ids}]:--"
            for key, ids in listed
        }
        spelled = pa.array(
            [messages.get(k) for k in pc.filter(judged[KEY], several).to_pylist()], pa.string()
        )
        replaced = pc.replace_with_mask(errors, several, spelled)
        return judged.set_column(judged.column_names.index(RESULT_ERROR), RESULT_ERROR, replaced)

    def _with_new_ids(self, cur: duckdb.DuckDBPyConnection, judged: pa.Table) -> pa.Table:
        """Give every row that will be created a fresh Id (vectorised, under the write lock)."""
        creates = pc.and_(judged[RESULT_CREATED], pc.is_null(judged[RESULT_ERROR]))
        count = pc.sum(creates).as_py() or 0
        if count == 0:
            return judged
        first = self._allocate_ids(cur, count)
        numbers = pc.add(pc.subtract(pc.cumulative_sum(pc.cast(creates, pa.int64())), 1), first)
        digits = pc.utf8_lpad(pc.cast(numbers, pa.string()), width=10, padding="0")
        new_ids = pc.binary_join_element_wise(ID_BODY_PREFIX, digits, ID_CHECKSUM, "")
        ids = pc.if_else(creates, new_ids, judged[RESULT_ID])
        return judged.set_column(judged.column_names.index(RESULT_ID), RESULT_ID, ids)

    def _allocate_ids(self, cur: duckdb.DuckDBPyConnection, count: int) -> int:
        """The first of ``count`` consecutive unused Id numbers; resumes after restarts."""
        if self._next_id is None:
            rows = cur.execute(
                f'SELECT max(TRY_CAST(substr("Id", 6, 10) AS BIGINT)) FROM "{schema.OBJECT_NAME}" '  # noqa: S608
                'WHERE starts_with("Id", ?)',
                [ID_BODY_PREFIX],
            ).fetchall()
            self._next_id = int(rows[0][0] or 0) + 1
        first = self._next_id
        self._next_id += count
        return first

    def _matches(self, cur: duckdb.DuckDBPyConnection, external_id: str | None) -> pa.Table:
        """Existing records per row (first occurrences of a key only): ``__row``, ``__n``
        matches, lowest ``__id``. Rows without a match are absent."""
        if external_id is None:
            return _empty_matches()
        field_key = key_sql(f'o."{external_id}"', self.case_sensitive)
        return cur.sql(
            f"""
            SELECT i.{ROW_NUMBER}, count(*) AS __n, min(o."Id") AS __id,
                   min(o.rowid) AS {ROW_ID}
            FROM incoming i JOIN "{schema.OBJECT_NAME}" o ON {field_key} = i.{KEY}
            WHERE i.{FIRST}
            GROUP BY i.{ROW_NUMBER}
            """  # noqa: S608
        ).to_arrow_table()

    @contextmanager
    def _cursor_with(self, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.store.cursor() as cur:
            for name, table in tables.items():
                cur.register(name, table)
            try:
                yield cur
            finally:
                for name in tables:
                    cur.unregister(name)


def _positions(batch: pa.Table, row_numbers: pa.ChunkedArray) -> np.ndarray:
    """Where the given ``__row`` values sit in ``batch`` (a contiguous slice of the upload)."""
    base = batch[ROW_NUMBER][0].as_py() if batch.num_rows else 0
    return row_numbers.to_numpy() - base  # type: ignore[no-any-return]


def _mask_at(batch: pa.Table, row_numbers: pa.ChunkedArray) -> pa.Array:
    mask = np.zeros(batch.num_rows, dtype=bool)
    mask[_positions(batch, row_numbers)] = True
    return bool_array(mask)


def _with_duplicate_errors(later: pa.Array, errors: pa.Array, raw: pa.ChunkedArray) -> pa.Array:
    """Every occurrence of a key after its first (in upload order) fails ``DUPLICATE_VALUE``."""
    duplicate = later
    message = pc.binary_join_element_wise(
        "DUPLICATE_VALUE:Duplicate external id specified: ", raw, ":--", ""
    )
    return pc.if_else(pc.and_(duplicate, pc.is_null(errors)), message, errors)


def _empty_matches() -> pa.Table:
    return pa.table(
        {
            ROW_NUMBER: pa.array([], pa.int64()),
            "__n": pa.array([], pa.int64()),
            "__id": pa.array([], pa.string()),
            ROW_ID: pa.array([], pa.int64()),
        }
    )


def _judge(batch: pa.Table, matches: pa.Table) -> pa.Table:
    """Per row: the matched record, create or update, and the error (first problem wins)."""
    index = np.full(batch.num_rows, -1, dtype=np.int64)
    index[_positions(batch, matches[ROW_NUMBER])] = np.arange(matches.num_rows)
    nullable_index = pc.if_else(bool_array(index >= 0), int64_array(index), None)
    count = pc.take(matches["__n"].combine_chunks(), nullable_index)
    matched_id = pc.take(matches["__id"].combine_chunks(), nullable_index)
    matched_row = pc.take(matches[ROW_ID].combine_chunks(), nullable_index)
    created = pc.is_null(count)
    existing = pc.if_else(pc.equal(count, 1), matched_id, pa.scalar(None, pa.string()))
    several = pc.if_else(
        pc.fill_null(pc.greater(count, 1), False), SEVERAL_MATCHES, pa.scalar(None, pa.string())
    )
    missing = pc.if_else(created, batch[MISSING_ON_CREATE], batch[MISSING_ON_UPDATE])
    required = pc.binary_join_element_wise(
        "REQUIRED_FIELD_MISSING:Required fields are missing: [",
        missing,
        "]:",
        pc.replace_substring(missing, ", ", ","),
        " --",
        "",
    )
    locked_by = pc.coalesce(existing, LOCK_PARENT_ID)
    locked = pc.if_else(
        batch[LOCK],
        pc.binary_join_element_wise(
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: ",
            locked_by,
            ":--",
            "",
        ),
        pa.scalar(None, pa.string()),
    )
    return pa.table(
        {
            ROW_NUMBER: batch[ROW_NUMBER],
            KEY: batch[KEY],
            RESULT_ID: existing,
            ROW_ID: matched_row,  # where the single matching record sits, for the update
            RESULT_CREATED: created,
            RESULT_ERROR: pc.coalesce(batch[PRE_ERROR], several, required, locked),
        }
    )


def _column_for(columns: list[Column], field_name: str) -> Column:
    return next(c for c in columns if c.field.name == field_name)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _non_null(checks: list[str]) -> list[str]:
    return [c for c in checks if c]


def _provided(column: Column) -> str:
    raw = f'"{column.source}"'
    return f"({raw} <> '' AND {raw} <> '{NULL_VALUE}')"


def _type_error(column: Column) -> str:
    raw, field = f'"{column.source}"', column.field
    valid = _valid_sql(field, raw)
    if valid is None:
        return ""
    message = f"'INVALID_TYPE_ON_FIELD_IN_RECORD:{field.name}: value not of required type: ' || {raw} || ':{field.name} --'"
    bad = f"CASE WHEN {_provided(column)} AND NOT ({valid}) THEN {message} END"
    if field.type in _NUMERIC_TYPES:
        limit = 10 ** (field.precision - field.scale)
        out_of_range = (
            f"CASE WHEN {_provided(column)} AND abs(TRY_CAST({raw} AS DOUBLE)) >= {limit} THEN "
            f"'NUMBER_OUTSIDE_VALID_RANGE:{field.name}: value outside of valid range on numeric "
            f"field: ' || {raw} || ':{field.name} --' END"
        )
        return f"coalesce({bad}, {out_of_range})"
    return bad


def _valid_sql(field: Field, raw: str) -> str | None:
    if field.type is FieldType.DATE:
        return (
            f"regexp_full_match({raw}, '{_DATE_PATTERN}') AND TRY_CAST({raw} AS DATE) IS NOT NULL"
        )
    if field.type in _NUMERIC_TYPES:
        return f"regexp_full_match({raw}, '{_NUMBER_PATTERN}')"
    if field.type is FieldType.BOOLEAN:
        literals = ", ".join(f"'{v}'" for v in _BOOLEAN_LITERALS)
        return f"lower({raw}) IN ({literals})"
    if field.type is FieldType.DATETIME:
        return f"TRY_CAST({raw} AS TIMESTAMPTZ) IS NOT NULL"
    return None


def _read_only_error(column: Column, external_id: str | None) -> str:
    field = column.field
    if field.createable or field.name == external_id:
        return ""
    message = (
        f"INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: {field.name}. Please "
        "check the security settings of this field and verify that it is read/write for your "
        f"profile or permission set.:{field.name} --"
    )
    return f"CASE WHEN \"{column.source}\" <> '' THEN {_quote(message)} END"


def _length_error(column: Column) -> str:
    field, raw = column.field, f'"{column.source}"'
    if field.type not in _TEXT_TYPES or not field.length:
        return ""
    return (
        f"CASE WHEN strlen({raw}) > {field.length} AND length({raw}) > {field.length} THEN "
        f"'STRING_TOO_LONG:{field.name}: data value too large: ' || {raw} || "
        f"' (max length={field.length}):{field.name} --' END"
    )


def _picklist_error(column: Column) -> str:
    field, raw = column.field, f'"{column.source}"'
    if not field.restricted_values:
        return ""
    values = ", ".join(_quote(v) for v in field.restricted_values)
    return (
        f"CASE WHEN {_provided(column)} AND {raw} NOT IN ({values}) THEN "
        f"'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value for restricted picklist field: ' "
        f"|| {raw} || ':{field.name} --' END"
    )


def _missing_on_create(column: Column | None, field: Field) -> str:
    if column is None:
        return f"'{field.name}'"
    return f"CASE WHEN NOT {_provided(column)} THEN '{field.name}' END"


def _nulled_on_update(column: Column | None, field: Field) -> str:
    if column is None:
        return "NULL"
    return f"CASE WHEN \"{column.source}\" = '{NULL_VALUE}' THEN '{field.name}' END"


def _converted(column: Column, raw: str) -> str:
    field = column.field
    duck_type = schema.DUCKDB_TYPES[field.type]
    if field.type is FieldType.BOOLEAN:
        return f"lower({raw}) IN ('true', '1')"
    if field.type in _NUMERIC_TYPES:
        return (
            f"coalesce(TRY_CAST({raw} AS {duck_type}), CAST(CAST({raw} AS DOUBLE) AS {duck_type}))"
        )
    if field.type in _TEXT_TYPES or field.type is FieldType.ID:
        return raw
    return f"CAST({raw} AS {duck_type})"


def _written_columns(columns: list[Column]) -> list[Column]:
    return [c for c in columns if c.field.createable]


def _insert_sql(columns: list[Column]) -> str:
    written = _written_columns(columns)
    booleans = [
        f.name
        for f in schema.FIELDS
        if f.type is FieldType.BOOLEAN and f.name not in {c.field.name for c in written}
    ]
    targets = ['"Id"', *[f'"{c.field.name}"' for c in written], *[f'"{b}"' for b in booleans]]
    values = [f"i.{RESULT_ID}"]
    for column in written:
        raw = f'i."{column.source}"'
        value = f"CASE WHEN {raw} = '' OR {raw} = '{NULL_VALUE}' THEN NULL ELSE {_converted(column, raw)} END"
        if column.field.type is FieldType.BOOLEAN:
            value = f"coalesce({value}, false)"
        values.append(value)
    values.extend("false" for _ in booleans)
    stamps = ['"CreatedDate"', '"LastModifiedDate"', '"SystemModstamp"']
    return f"""
        INSERT INTO "{schema.OBJECT_NAME}" ({", ".join(targets + stamps)})
        SELECT {", ".join(values)}, now(), now(), now()
        FROM staged i
        WHERE i.{RESULT_ERROR} IS NULL AND i.{RESULT_CREATED}
    """  # noqa: S608


def _update_sql(columns: list[Column]) -> str:
    assignments = []
    for column in _written_columns(columns):
        name, raw = column.field.name, f'u."{column.source}"'
        null_value = "false" if column.field.type is FieldType.BOOLEAN else "NULL"
        assignments.append(
            f"\"{name}\" = CASE WHEN {raw} = '' THEN t.\"{name}\" WHEN {raw} = '{NULL_VALUE}' "
            f"THEN {null_value} ELSE {_converted(column, raw)} END"
        )
    assignments += ['"LastModifiedDate" = now()', '"SystemModstamp" = now()']
    return f"""
        UPDATE "{schema.OBJECT_NAME}" AS t SET {", ".join(assignments)}
        FROM (SELECT * FROM staged
              WHERE {RESULT_ERROR} IS NULL AND NOT {RESULT_CREATED}) AS u
        WHERE t.rowid = u.{ROW_ID}
    """  # noqa: S608
