"""The Data Cloud tenant's HTTP surface: token exchange, Query API V2, metadata.

Reference: data-cloud-api.md sections 2.2 (exchange), 4 (Query API V2), 7 (metadata).
The exchange lives on the core host; the tenant answers on the same host and port, which the
exchange returns as a bare ``host:port`` (no scheme), as Salesforce does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import duckdb
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator.datacloud import schema
from emulator.datacloud.backend import BatchNotFound, DataCloudBackend, Page, PageFormat
from emulator.datacloud.sql import QueryRefused
from emulator.errors import JSON, datacloud_error, json_response, oauth_error
from emulator.routing import Auth, Call, route
from emulator.tokens import TokenKind

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

SERVICE: Final = "datacloud"
EXCHANGE_GRANT: Final = "urn:salesforce:grant-type:external:cdp"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ISSUED_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
DATA_SPACES: Final = ("default",)
ARROW_HEADER: Final = "enable-arrow-stream"


def backend_of(emulator: Emulator) -> DataCloudBackend:
    backend = emulator.services[SERVICE]
    assert isinstance(backend, DataCloudBackend)
    return backend


# ---------------------------------------------------------------------------------- exchange


def exchange_token(call: Call) -> Response:
    params = _params(call)
    if params.get("grant_type") != EXCHANGE_GRANT:
        return oauth_error("unsupported_grant_type", "grant type not supported")
    if params.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        return oauth_error("invalid_request", "subject_token_type must be an access token")
    subject = params.get("subject_token", "")
    if not subject:
        return oauth_error("invalid_request", "subject_token is missing")
    dataspace = params.get("dataspace") or "default"
    if dataspace not in DATA_SPACES:
        return oauth_error("invalid_request", f"unknown dataspace: {dataspace}")
    emulator = call.emulator
    core = emulator.tokens.lookup(subject, TokenKind.CORE)
    if core is None:
        return oauth_error("invalid_grant", "subject token is invalid or expired", status=401)
    lifetime = emulator.config.datacloud_token_lifetime_s
    issued = emulator.tokens.issue(TokenKind.DATACLOUD, core.username, core.client_id, lifetime)
    return json_response(
        {
            "access_token": issued.value,
            "instance_url": _tenant_host(emulator.base_url),
            "token_type": "Bearer",
            "issued_token_type": ISSUED_TOKEN_TYPE,
            "expires_in": int(lifetime),
        }
    )


def _params(call: Call) -> MultiDict[str, str]:
    merged: MultiDict[str, str] = MultiDict(call.request.args)
    merged.update(call.request.form)
    return merged


def _tenant_host(base_url: str) -> str:
    return base_url.split("://", 1)[-1].rstrip("/")


# ---------------------------------------------------------------------------------- Query API V2


def submit_query(call: Call) -> Response:
    query = _sql_from_body(call)
    if isinstance(query, Response):
        return query
    return _answer(call, lambda backend, fmt: backend.submit(query, fmt))


def next_batch(call: Call, batch_id: str) -> Response:
    return _answer(call, lambda backend, fmt: backend.next_page(batch_id, fmt))


def _sql_from_body(call: Call) -> str | Response:
    try:
        body = json.loads(call.request.get_data(as_text=True) or "null")
    except ValueError:
        return datacloud_error(400, "BAD_REQUEST", "Request body is not valid JSON")
    query = body.get("sql") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        return datacloud_error(400, "BAD_REQUEST", 'Request body must be {"sql": "..."}')
    return query


def _answer(call: Call, run: Any) -> Response:
    backend = backend_of(call.emulator)
    page_format = (
        PageFormat.ARROW
        if call.request.headers.get(ARROW_HEADER, "").strip().lower() == "true"
        else PageFormat.JSON
    )
    try:
        page: Page = run(backend, page_format)
    except QueryRefused as exc:
        return datacloud_error(400, "INVALID_QUERY", str(exc))
    except BatchNotFound:
        return datacloud_error(
            404, "NOT_FOUND", "The batch id is unknown, was already used, or has expired"
        )
    except duckdb.Error as exc:
        return datacloud_error(400, "QUERY_FAILED", _first_line(str(exc)))
    stats = call.emulator.stats
    stats.incr("datacloud.query.pages")
    stats.incr("datacloud.query.rows", page.row_count)
    return Response(_page_body(page), status=200, content_type=JSON)


def _page_body(page: Page) -> bytes:
    envelope = {
        "startTime": page.start_time,
        "endTime": page.end_time,
        "rowCount": page.row_count,
        "queryId": page.query_id,
        "nextBatchId": page.next_batch_id,
        "done": page.done,
        "metadata": page.metadata,
    }
    rest = json.dumps(envelope).encode()[1:]
    if page.format is PageFormat.ARROW:
        parts = (b'{"arrowStream":"', page.payload, b'",', rest)
    else:
        parts = (b'{"data":[', page.payload, b"],", rest)
    return b"".join(parts)  # one copy of a page that may hold tens of MB


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "Query failed"


# ---------------------------------------------------------------------------------- metadata


def metadata(call: Call) -> Response:
    entity = schema.entity_metadata()
    filters = {
        "entityName": entity["name"],
        "entityCategory": entity["category"],
        "entityType": entity["entityType"],
    }
    args = call.request.args
    matches = all(args.get(param) in (None, "", value) for param, value in filters.items())
    return json_response({"metadata": [entity] if matches else []})


RULES: list[Rule] = [
    route("/services/a360/token", ["POST"], "datacloud.token", exchange_token, auth=Auth.NONE),
    route("/api/v2/query", ["POST"], "datacloud.query", submit_query, auth=Auth.DATACLOUD),
    route(
        "/api/v2/query/<batch_id>",
        ["GET"],
        "datacloud.query.next",
        next_batch,
        auth=Auth.DATACLOUD,
    ),
    route("/api/v1/metadata", ["GET"], "datacloud.metadata", metadata, auth=Auth.DATACLOUD),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    backend = DataCloudBackend(emulator.config)
    emulator.services[SERVICE] = backend
    emulator.on_reset(lambda e: backend_of(e).drop_cursors())
    if emulator.config.records > 0 and backend.row_count() == 0:
        backend.regenerate(emulator.config.records, emulator.config.seed)
