"""The control plane under ``/__emulator__/``: counters, reset, request log, faults, data changes.

No authentication, no API-limit accounting, never a fault; answered only to loopback clients.

- ``GET /__emulator__/stats``: requests by endpoint and status, API calls counted against limits,
  ingest jobs by state and the most jobs UploadComplete/InProgress at once, rows in Opportunity
  and in Data Cloud, the Data Cloud profile and its messy counts, faults injected by kind.
- ``POST /__emulator__/reset``: forget counters, the request log, ingest jobs, Opportunity rows,
  limit usage and open cursors; the fault plan goes back to the one given at start. Data Cloud
  rows stay (they are the source; change them with ``/datacloud/rows`` or reseed).
- ``GET /__emulator__/requests?since=<epoch s>&endpoint=<name>&limit=<n>``: the request log.
- ``GET /__emulator__/faults``: the active plan and what it injected;
  ``POST /__emulator__/faults``: a plan (JSON object, see ``emulator.faults``) or a plan name as a
  JSON string (``"storm"``) replaces the active plan.
- ``POST /__emulator__/datacloud/rows``: insert, update or delete source rows while serving (body
  documented on ``emulator.profiles.RowChanges``).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final

import duckdb
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from emulator import profiles
from emulator.errors import json_response, rest_error
from emulator.faults import SERVICE, FaultInterceptor, FaultPlanError, Faults, parse_plan
from emulator.routing import Auth, Call, route
from resources.salesforce.protocol import (
    DAILY_API_REQUESTS,
    DAILY_BULK_API_BATCHES,
    DAILY_BULK_V2_QUERY_JOBS,
)

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

LOOPBACK: Final = ("127.0.0.1", "::1", "localhost")
COUNTED_LIMITS: Final = (DAILY_API_REQUESTS, DAILY_BULK_API_BATCHES, DAILY_BULK_V2_QUERY_JOBS)


def _loopback_only(handler: Any) -> Any:
    def guarded(call: Call, **kwargs: Any) -> Response:
        if call.request.remote_addr not in LOOPBACK:
            return rest_error(403, "FORBIDDEN", "The control plane answers loopback clients only")
        response: Response = handler(call, **kwargs)
        return response

    guarded.__name__ = handler.__name__
    return guarded


def faults_of(emulator: Emulator) -> Faults:
    service: Faults = emulator.services[SERVICE]
    return service


# ---------------------------------------------------------------------------------- stats


def stats(call: Call) -> Response:
    return json_response(stats_body(call.emulator))


def stats_body(emulator: Emulator) -> dict[str, Any]:
    snapshot = emulator.stats.snapshot()
    return {
        "uptime_s": round(time.time() - emulator.started_at, 3),
        "requests": snapshot["requests"],
        "counters": snapshot["counters"],
        "api_calls": _api_calls(emulator),
        "ingest": _ingest(emulator, snapshot),
        "rows": {
            "Opportunity": _opportunity_rows(emulator),
            "datacloud": _datacloud_rows(emulator),
        },
        "datacloud": {
            "profile": profiles.read_report(emulator.config.data_dir),
            "open_cursors": _open_cursors(emulator),
        },
        "faults": {
            "plan": faults_of(emulator).plan.as_json(),
            "injected": _injected(emulator, snapshot),
        },
    }


def _api_calls(emulator: Emulator) -> dict[str, dict[str, int]]:
    limits = emulator.services.get("limits")
    if limits is None:
        return {}
    return {
        name: {"used": limits.used(name), "max": limits.maximum(name)} for name in COUNTED_LIMITS
    }


def _ingest(emulator: Emulator, snapshot: dict[str, Any]) -> dict[str, Any]:
    backend = emulator.services.get("ingest")
    jobs = backend.list_jobs(None) if backend is not None else []
    return {
        "jobs_by_state": backend.jobs_by_state() if backend is not None else {},
        "max_active_jobs": snapshot["max"].get("ingest.jobs_active", 0),
        "retries": sum(job.retries for job in jobs),
    }


def _injected(emulator: Emulator, snapshot: dict[str, Any]) -> dict[str, int]:
    """What the plan injected, plus what the backends did because of it."""
    counts = faults_of(emulator).injected_counts()
    backend = emulator.services.get("ingest")
    jobs = backend.list_jobs(None) if backend is not None else []
    counts["unable_to_lock_row"] = sum(job.lock_errors for job in jobs)
    counts["jobs_failed_part_way"] = sum(
        1 for job in jobs if job.state.value == "Failed" and 0 < job.attempted < job.row_count
    )
    counts["batch_retries"] = sum(job.retries for job in jobs)
    counts["request_limit_exceeded"] = _status_total(snapshot, 403)
    counts["unauthorized"] = _status_total(snapshot, 401)
    return dict(sorted(counts.items()))


def _status_total(snapshot: dict[str, Any], status: int) -> int:
    return sum(by_status.get(str(status), 0) for by_status in snapshot["requests"].values())


def _opportunity_rows(emulator: Emulator) -> int:
    try:
        with emulator.store.cursor() as cur:
            row = cur.execute('SELECT count(*) FROM "Opportunity"').fetchone()
    except duckdb.Error:
        return 0
    return int(row[0]) if row else 0


def _datacloud_rows(emulator: Emulator) -> int:
    backend = emulator.services.get("datacloud")
    return int(backend.row_count()) if backend is not None else 0


def _open_cursors(emulator: Emulator) -> int:
    backend = emulator.services.get("datacloud")
    return int(backend.open_cursor_count()) if backend is not None else 0


# ---------------------------------------------------------------------------------- reset, log


def reset(call: Call) -> Response:
    call.emulator.reset()
    return json_response({"reset": True})


def request_log(call: Call) -> Response:
    args = call.request.args
    try:
        since = float(args.get("since", "0"))
        limit = int(args["limit"]) if "limit" in args else None
    except ValueError:
        return rest_error(400, "INVALID_PARAMETER", "since is seconds, limit an integer")
    entries = call.emulator.stats.request_log(since)
    endpoint = args.get("endpoint")
    if endpoint:
        entries = [e for e in entries if e["endpoint"] == endpoint]
    if limit is not None:
        entries = entries[-limit:] if limit > 0 else []
    return json_response({"requests": entries})


# ---------------------------------------------------------------------------------- faults


def get_faults(call: Call) -> Response:
    faults = faults_of(call.emulator)
    return json_response(
        {
            "plan": faults.plan.as_json(),
            "startup": faults.startup.as_json(),
            "injected": faults.injected_counts(),
        }
    )


def set_faults(call: Call) -> Response:
    try:
        body = json.loads(call.request.get_data(as_text=True) or "null")
        plan = parse_plan(body if isinstance(body, dict | str) else "")
    except (ValueError, TypeError) as exc:
        message = str(exc) if isinstance(exc, FaultPlanError) else f"invalid plan: {exc}"
        return rest_error(400, "INVALID_FAULT_PLAN", message)
    faults_of(call.emulator).apply(plan)
    return json_response({"plan": plan.as_json()})


# ---------------------------------------------------------------------------------- data


def change_rows(call: Call) -> Response:
    backend = call.emulator.services.get("datacloud")
    if backend is None:
        return rest_error(404, "NOT_FOUND", "no Data Cloud tenant in this emulator")
    try:
        changes = profiles.RowChanges.parse(json.loads(call.request.get_data(as_text=True)))
        counts = profiles.apply_changes(backend, changes)
    except (ValueError, duckdb.Error) as exc:
        return rest_error(400, "INVALID_ROWS", str(exc).strip().splitlines()[0])
    call.emulator.stats.incr("datacloud.rows_changed", sum(counts.values()))
    return json_response({**counts, "rows": backend.row_count()})


def _control(path: str, methods: list[str], name: str, handler: Any) -> Rule:
    return route(path, methods, name, _loopback_only(handler), auth=Auth.NONE, api_call=False)


RULES: list[Rule] = [
    _control("/__emulator__/stats", ["GET"], "emulator.stats", stats),
    _control("/__emulator__/reset", ["POST"], "emulator.reset", reset),
    _control("/__emulator__/requests", ["GET"], "emulator.requests", request_log),
    _control("/__emulator__/faults", ["GET"], "emulator.faults.get", get_faults),
    _control("/__emulator__/faults", ["POST"], "emulator.faults.set", set_faults),
    _control("/__emulator__/datacloud/rows", ["POST"], "emulator.datacloud.rows", change_rows),
]


def install(emulator: Emulator, app: EmulatorApp) -> None:
    startup = parse_plan(emulator.config.extra.get("faults", "none"))  # type: ignore[arg-type]
    faults = Faults(emulator, startup)
    emulator.services[SERVICE] = faults
    faults.apply(startup)
    # First in line: an injected error answers before the API-limit counter sees the call.
    app.interceptors.insert(0, FaultInterceptor(faults))
    emulator.on_reset(lambda _emulator: faults.restore_startup())
