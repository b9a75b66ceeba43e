"""Core REST: versions, resources, ``/limits``, SOQL ``query``/``queryAll`` and Opportunity describe."""

from __future__ import annotations

import datetime as dt
import secrets
import string
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator import oauth
from emulator.core import limits, schema, snapshots
from emulator.core.schema import Field, FieldType
from emulator.core.soql import CompiledQuery, Feature, SoqlError, compile_soql
from emulator.core.versions import LATEST, require_version, versions
from emulator.errors import EmulatorHttpError, json_response, rest_error
from emulator.routing import Auth, Call, route
from resources.salesforce.protocol import (
    HEADER_QUERY_OPTIONS,
    MALFORMED_QUERY,
    REST_QUERY_PAGE_MAX,
)

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

SERVICE: Final = "rest_cursors"
REST_QUERY_PAGE_MIN: Final = 200
CURSOR_IDLE_S: Final = 15 * 60
INVALID_QUERY_LOCATOR: Final = "INVALID_QUERY_LOCATOR"
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits
_HIDDEN_ID: Final = "__sfload_id"


# ---------------------------------------------------------------------------------------------
# Versions, resources, limits


def list_versions(call: Call) -> Response:
    return json_response(versions())


def latest_resources(call: Call) -> Response:
    return json_response(_resources(call.emulator, LATEST))


def resources(call: Call, version: str) -> Response:
    return json_response(_resources(call.emulator, require_version(version)))


def _resources(emulator: Emulator, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}"
    names = ("jobs", "limits", "query", "queryAll", "sobjects")
    listed = {name: f"{base}/{name}" for name in names}
    listed["identity"] = oauth.identity_url(emulator)
    return dict(sorted(listed.items()))


def get_limits(call: Call, version: str) -> Response:
    require_version(version)
    return json_response(limits.limits_of(call.emulator).snapshot())


# ---------------------------------------------------------------------------------------------
# SOQL


@dataclass
class Cursor:
    """A REST query locator: the snapshot table of one query and when it was last read."""

    locator: str
    fields: tuple[Field, ...]
    total: int
    last_used: float


class Cursors:
    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._lock = threading.Lock()
        self._open: dict[str, Cursor] = {}

    def open(self, query: CompiledQuery) -> Cursor:
        self._expire_idle()
        locator = "01g" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(15))
        columns = [f'"Id" AS "{_HIDDEN_ID}"', *(f'"{f.name}"' for f in query.fields)]
        total = snapshots.create(self._emulator.store, _table(locator), query, columns)
        cursor = Cursor(locator, query.fields, total, time.monotonic())
        with self._lock:
            self._open[locator] = cursor
        return cursor

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is not None:
                cursor.last_used = time.monotonic()
            return cursor

    def release(self, locator: str) -> None:
        with self._lock:
            cursor = self._open.pop(locator, None)
        if cursor is not None:
            snapshots.drop(self._emulator.store, _table(locator))

    def reset(self) -> None:
        with self._lock:
            locators = list(self._open)
        for locator in locators:
            self.release(locator)

    def _expire_idle(self) -> None:
        horizon = time.monotonic() - CURSOR_IDLE_S
        with self._lock:
            idle = [c.locator for c in self._open.values() if c.last_used < horizon]
        for locator in idle:
            self.release(locator)


def _table(locator: str) -> str:
    return f"cursor_{locator}"


def query(call: Call, version: str) -> Response:
    return _run_query(call, version, include_deleted=False)


def query_all(call: Call, version: str) -> Response:
    return _run_query(call, version, include_deleted=True)


def query_more(call: Call, version: str, locator: str) -> Response:
    return _query_more(call, version, locator, "query")


def query_all_more(call: Call, version: str, locator: str) -> Response:
    return _query_more(call, version, locator, "queryAll")


def compile_for(emulator: Emulator, soql: str, *, include_deleted: bool) -> CompiledQuery:
    """Compile ``soql`` under this org's settings; raises ``EmulatorHttpError`` with a 400 body."""
    try:
        return compile_soql(
            soql,
            include_deleted=include_deleted,
            external_id_case_sensitive=emulator.config.external_id_case_sensitive,
        )
    except SoqlError as exc:
        raise EmulatorHttpError(rest_error(400, exc.error_code, exc.message)) from None


def count(emulator: Emulator, compiled: CompiledQuery) -> int:
    sql, params = compiled.count_sql()
    with emulator.store.cursor() as cur:
        row = cur.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def _run_query(call: Call, version: str, *, include_deleted: bool) -> Response:
    version = require_version(version)
    soql = call.request.args.get("q", "")
    compiled = compile_for(call.emulator, soql, include_deleted=include_deleted)
    if compiled.features & {Feature.AGGREGATE, Feature.GROUP_BY}:
        return rest_error(
            400, MALFORMED_QUERY, "Aggregate queries and GROUP BY are not supported by the emulator"
        )
    if compiled.is_count:
        total = count(call.emulator, compiled)
        return json_response({"totalSize": total, "done": True, "records": []})
    cursor = _cursors(call.emulator).open(compiled)
    resource = "queryAll" if include_deleted else "query"
    return _page(call, version, resource, cursor, 0)


def _query_more(call: Call, version: str, locator: str, resource: str) -> Response:
    version = require_version(version)
    cursor_id, _, offset_text = locator.rpartition("-")
    cursor = _cursors(call.emulator).get(cursor_id)
    if cursor is None or not offset_text.isdigit() or int(offset_text) > cursor.total:
        return rest_error(400, INVALID_QUERY_LOCATOR, "invalid query locator")
    return _page(call, version, resource, cursor, int(offset_text))


def _page(call: Call, version: str, resource: str, cursor: Cursor, start: int) -> Response:
    size = _batch_size(call)
    rows = snapshots.page(call.emulator.store, _table(cursor.locator), start, size)
    done = start + len(rows) >= cursor.total
    body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
    if done:
        _cursors(call.emulator).release(cursor.locator)
    else:
        next_start = start + len(rows)
        body["nextRecordsUrl"] = (
            f"/services/data/v{version}/{resource}/{cursor.locator}-{next_start}"
        )
    body["records"] = [_record(version, cursor.fields, row) for row in rows]
    return json_response(body)


def _batch_size(call: Call) -> int:
    """``Sforce-Query-Options: batchSize=N``, clamped to 200..2000; 2000 without it."""
    options = call.request.headers.get(HEADER_QUERY_OPTIONS, "")
    for option in options.split(","):
        key, _, value = option.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value), REST_QUERY_PAGE_MIN), REST_QUERY_PAGE_MAX)
    return REST_QUERY_PAGE_MAX


def _record(version: str, fields: tuple[Field, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    record_id = row[0]
    record: dict[str, Any] = {
        "attributes": {
            "type": schema.OBJECT_NAME,
            "url": f"/services/data/v{version}/sobjects/{schema.OBJECT_NAME}/{record_id}",
        }
    }
    for field, value in zip(fields, row[1:], strict=True):
        record[field.name] = json_value(field, value)
    return record


def json_value(field: Field, value: Any) -> Any:
    """A column value as Salesforce's REST JSON renders it."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if field.type is FieldType.DOUBLE:
        return float(value)
    return value


def _cursors(emulator: Emulator) -> Cursors:
    service: Cursors = emulator.services[SERVICE]
    return service


# ---------------------------------------------------------------------------------------------
# Describe


def describe_opportunity(call: Call, version: str) -> Response:
    require_version(version)
    return json_response(
        {
            "name": schema.OBJECT_NAME,
            "label": schema.OBJECT_NAME,
            "labelPlural": "Opportunities",
            "keyPrefix": schema.ID_PREFIX,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "custom": False,
            "fields": [_describe_field(f) for f in schema.FIELDS],
        }
    )


def _describe_field(field: Field) -> dict[str, Any]:
    return {
        "name": field.name,
        "label": field.name,
        "type": str(field.type),
        "length": field.length,
        "precision": field.precision,
        "scale": field.scale,
        "nillable": not field.required_on_create and field.type is not FieldType.BOOLEAN,
        "createable": field.createable,
        "updateable": field.updateable,
        "externalId": field.external_id,
        "idLookup": field.external_id or field.type is FieldType.ID,
        "unique": field.external_id,
        "caseSensitive": False,
        "filterable": not (field.type is FieldType.TEXTAREA and field.length > 255),
        "restrictedPicklist": bool(field.restricted_values),
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in field.restricted_values
        ],
    }


RULES: list[Rule] = [
    route("/services/data", ["GET"], "rest.versions", list_versions, auth=Auth.NONE),
    route("/services/data/latest", ["GET"], "rest.resources.latest", latest_resources),
    route("/services/data/v<version>", ["GET"], "rest.resources", resources),
    route("/services/data/v<version>/limits", ["GET"], "rest.limits", get_limits),
    route("/services/data/v<version>/query", ["GET"], "rest.query", query),
    route("/services/data/v<version>/query/<locator>", ["GET"], "rest.query.more", query_more),
    route("/services/data/v<version>/queryAll", ["GET"], "rest.queryAll", query_all),
    route(
        "/services/data/v<version>/queryAll/<locator>",
        ["GET"],
        "rest.queryAll.more",
        query_all_more,
    ),
    route(
        "/services/data/v<version>/sobjects/Opportunity/describe",
        ["GET"],
        "rest.describe",
        describe_opportunity,
    ),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    with emulator.store.cursor() as cur:
        cur.execute(schema.create_table_sql())
    snapshots.reset(emulator.store)
    limits.install(emulator, app)
    cursors = Cursors(emulator)
    emulator.services[SERVICE] = cursors
    emulator.on_reset(lambda _emulator: cursors.reset())
