"""``sfload``: the operations CLI. Subcommand groups from other packages plug in by entry point.

The commands parse options and print; the logic is in ``orchestration/operations.py``. Exit codes:
0 success, 1 the operation found a problem (a range failed or has unexplained missing records, the
plan does not fit the quota), 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import dagster as dg

    from orchestration import operations as ops

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEM = 1
EXIT_USAGE = 2


@click.group(help="sfload: keep Salesforce Opportunities in step with Data Cloud.")
def main() -> None:
    # Beta/preview notices about our own definitions are for developers, not for operators.
    warnings.filterwarnings("ignore", message=".*(beta|preview).*", category=Warning)


def _register_plugins() -> None:
    # The emulator registers itself this way, so orchestration never imports it.
    for entry in entry_points(group="sfload.commands"):
        main.add_command(entry.load(), name=entry.name)


# -- plumbing -----------------------------------------------------------------------------------


class Failure(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"sfload: {self.format_message()}", err=True)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(
        func
    )


@contextmanager
def _instance() -> Iterator[dg.DagsterInstance]:
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise Failure(
            "DAGSTER_HOME is not set: point it at the instance folder (the Makefile uses "
            "var/dagster_home, e.g. `export DAGSTER_HOME=$PWD/var/dagster_home`)."
        )
    if not Path(home).is_dir():
        raise Failure(
            f"DAGSTER_HOME ({home}) does not exist: create it (`make demo` does, with the local "
            "instance template) or point DAGSTER_HOME at your instance."
        )
    with dg.DagsterInstance.get() as instance:
        yield instance


@contextmanager
def _operation() -> Iterator[None]:
    """Turn known failures into one clear line (never a traceback, never a secret)."""
    from orchestration import operations as ops

    try:
        yield
    except ops.OperationError as exc:
        raise Failure(str(exc)) from exc
    except (click.ClickException, click.exceptions.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise click.ClickException(ops.describe_error(exc)) from exc


@contextmanager
def _connections(required: bool = True) -> Iterator[ops.Connections | None]:
    from orchestration import operations as ops

    if not required and ops.missing_environment():
        yield None
        return
    connections = ops.connections_from_environment()
    try:
        yield connections
    finally:
        connections.close()


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain text table: numbers right-aligned with thousands separators, None as '-'."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _bound(value: str | None) -> str:
    return "(open)" if value is None else repr(value)


# -- plan ---------------------------------------------------------------------------------------


@main.command(help="Plan the ExternalId ranges and forecast the load against /limits.")
@click.option("--dry-run", is_flag=True, help="Show the plan without changing the partitions.")
@click.option("--partitions", default=10, show_default=True, help="Target number of ranges.")
@click.option(
    "--reserve",
    default=0.1,
    show_default=True,
    help="Fraction of each daily allowance the load must leave untouched.",
)
@json_option
def plan(dry_run: bool, partitions: int, reserve: float, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance, _connections() as connections:
        assert connections is not None
        result = ops.make_plan(
            instance, connections, target_partitions=partitions, reserve_fraction=reserve
        )
        if not dry_run:
            ops.apply_plan(instance, result)
    if as_json:
        _print_json({**result.to_json(), "applied": not dry_run})
    else:
        click.echo(render_plan(result, applied=not dry_run))
    if not result.fits_quota:
        sys.exit(EXIT_PROBLEM)


def render_plan(result: ops.Plan, applied: bool) -> str:
    rows = [
        [
            r.key,
            _bound(r.lo),
            _bound(r.hi),
            r.rows,
            r.forecast.jobs,
            r.forecast.internal_batches,
            r.forecast.api_calls,
            r.change,
        ]
        for r in result.ranges
    ]
    total = result.total
    rows.append(
        ["total", "", "", total.rows, total.jobs, total.internal_batches, total.api_calls, ""]
    )
    lines = [
        format_table(
            ["range", "from (incl.)", "to (excl.)", "rows", "jobs", "batches", "api calls", "plan"],
            rows,
        ),
        "",
        f"Jobs hold at most {result.rows_per_job:,} rows; Salesforce counts one batch per 10,000 "
        "rows (DailyBulkApiBatches).",
    ]
    if result.delete:
        lines.append(f"Ranges replaced: {', '.join(result.delete)}")
    if result.allowances:
        lines.append("")
        lines.append(
            format_table(
                ["limit", "max", "remaining", "this load", "left after"],
                [
                    [name, a.max, a.remaining, need, a.remaining - need]
                    for name, a, need in _needs(result)
                ],
            )
        )
    lines.append("")
    lines.append(f"Verdict: {result.verdict}")
    if applied:
        lines.append(f"Partitions updated: {len(result.ranges)} range(s) in the instance.")
    else:
        lines.append("Dry run: partitions unchanged (run `sfload plan` to apply).")
    return "\n".join(lines)


def _needs(result: ops.Plan) -> list[tuple[str, Any, int]]:
    total = result.total
    wanted = {"DailyBulkApiBatches": total.internal_batches, "DailyApiRequests": total.api_calls}
    return [(n, result.allowances[n], need) for n, need in wanted.items() if n in result.allowances]


# -- load ---------------------------------------------------------------------------------------


@main.command(help="Load ranges through Dagster (recorded in the instance), then reconcile.")
@click.argument("keys", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Load every current range.")
@click.option("--limit", type=int, help="At most this many runs at once (default: the pool limit).")
@json_option
def load(keys: tuple[str, ...], every: bool, limit: int | None, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance, _connections() as connections:
        assert connections is not None
        selected = ops.resolve_keys(instance, keys, every)
        result = run_load(instance, connections, selected, limit=limit, quiet=as_json)
    if as_json:
        _print_json(result.to_json())
    else:
        click.echo(render_load(result))
    if not result.ok:
        sys.exit(EXIT_PROBLEM)


def run_load(
    instance: dg.DagsterInstance,
    connections: ops.Connections,
    keys: Sequence[str],
    *,
    limit: int | None = None,
    quiet: bool = False,
) -> ops.LoadResult:
    from orchestration import operations as ops

    pool, source = ops.pool_limit(instance)
    chosen = limit or pool
    if not quiet:
        click.echo(
            f"Loading {len(keys)} range(s), at most {chosen} at once "
            f"(pool {ops.POOL} limit {pool}, from {source})."
        )
    bar = ProgressBar(enabled=not quiet)
    try:
        return ops.load(instance, connections, keys, on_progress=bar.update, limit=chosen)
    finally:
        bar.close()


class ProgressBar:
    """One redrawn line on a terminal; a line every ``every_s`` seconds otherwise (CI logs)."""

    def __init__(self, enabled: bool = True, width: int = 30, every_s: float = 10.0) -> None:
        self.enabled = enabled
        self.width = width
        self.every_s = every_s
        self.tty = sys.stderr.isatty()
        self._last_print = -every_s
        self._drawn = False

    def update(self, progress: ops.Progress) -> None:
        if not self.enabled:
            return
        if not self.tty and progress.seconds - self._last_print < self.every_s:
            return
        self._last_print = progress.seconds
        text = self.render(progress)
        if self.tty:
            click.echo("\r" + text + "\x1b[K", nl=False, err=True)
            self._drawn = True
        else:
            click.echo(text, err=True)

    def render(self, p: ops.Progress) -> str:
        fraction = min(1.0, p.rows_done / p.rows_total) if p.rows_total else 0.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        rate = p.rows_done / p.seconds if p.seconds else 0.0
        failed = f", {p.ranges_failed} failed" if p.ranges_failed else ""
        return (
            f"[{bar}] {p.rows_done:,}/{p.rows_total:,} rows sent  "
            f"{p.ranges_done}/{p.ranges_total} ranges done, {p.ranges_running} running{failed}  "
            f"{p.seconds:.0f}s  {rate:,.0f} rows/s"
        )

    def close(self) -> None:
        if self._drawn:
            click.echo("", err=True)


def render_load(result: ops.LoadResult) -> str:
    rows = [
        [
            r.key,
            r.status,
            r.rows_source,
            r.rows_read,
            r.created,
            r.updated,
            r.rejected,
            r.quarantined,
            r.missing_unexplained,
            r.check,
        ]
        for r in result.ranges
    ]
    table = format_table(
        [
            "range",
            "run",
            "source",
            "read",
            "created",
            "updated",
            "rejected",
            "quarantined",
            "missing",
            "check",
        ],
        rows,
    )
    lines = ["Reconciliation:", table, ""]
    for r in result.ranges:
        if r.error:
            lines.append(f"{r.key}: {r.error}")
        if r.run_id and not r.ok:
            lines.append(f"{r.key}: run {r.run_id}")
    rate = result.rows_read / result.seconds if result.seconds else 0.0
    lines.append(
        f"{result.rows_read:,} rows read in {result.seconds:.1f}s ({rate:,.0f} rows/s); "
        "'missing' counts ids in Data Cloud but not in Salesforce with no recorded reason."
    )
    bad = [r.key for r in result.ranges if not r.ok]
    if bad:
        lines.append(
            f"PROBLEM: {len(bad)} range(s) failed or have unexplained missing records: "
            f"{', '.join(bad)}. See `sfload diagnose`."
        )
    else:
        lines.append("OK: every range loaded and checked, nothing missing unexplained.")
    return "\n".join(lines)


# -- status and diagnose --------------------------------------------------------------------------


@main.command(help="Per range: bounds, source and target rows, missing, last run, jobs in flight.")
@click.option("--no-counts", is_flag=True, help="Skip the Data Cloud and Salesforce counts.")
@json_option
def status(no_counts: bool, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance, _connections(required=False) as connections:
        result = ops.status(instance, connections, counts=not no_counts)
    if as_json:
        _print_json(result.to_json())
    else:
        click.echo(render_status(result, counts=not no_counts and connections is not None))


def render_status(result: ops.Status, counts: bool = True) -> str:
    rows = [
        [
            r.key,
            _bound(r.lo),
            _bound(r.hi),
            r.source_rows,
            r.target_rows,
            r.missing_unexplained,
            r.check,
            (r.last_run_status or "-") + (f" {r.last_run_started}" if r.last_run_started else ""),
            r.jobs_in_flight if r.in_flight else None,
        ]
        for r in result.ranges
    ]
    lines = [
        format_table(
            [
                "range",
                "from (incl.)",
                "to (excl.)",
                "source",
                "target~",
                "missing",
                "check",
                "last run",
                "jobs in flight",
            ],
            rows,
        ),
        "",
        f"Runs in flight: {result.runs_in_flight}; pool {_pool(result)}. "
        "target~ is a SOQL count (case-insensitive, approximate); 'missing' is the last check's "
        "exact count of unexplained missing ids.",
    ]
    if not counts:
        lines.append("Counts skipped (no SALESFORCE_* environment, or --no-counts).")
    if result.stopped:
        lines.append(
            f"STOPPED since {result.stopped.get('stopped_at')}: schedule and sensors off, loads "
            "refused. `sfload restart` resumes."
        )
    lines.extend(f"Warning: {e}" for e in result.errors)
    return "\n".join(lines)


def _pool(result: ops.Status) -> str:
    from orchestration import operations as ops

    return f"{ops.POOL} limit {result.pool_limit} ({result.pool_limit_source})"


@main.command(help="Status plus limits, rejections by error code and recent errors with causes.")
@click.option("--errors", "error_limit", default=10, show_default=True, help="Recent errors shown.")
@json_option
def diagnose(error_limit: int, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance, _connections(required=False) as connections:
        result = ops.diagnose(instance, connections, error_limit=error_limit)
    if as_json:
        _print_json(result.to_json())
        return
    lines = [render_status(result.status, counts=connections is not None), ""]
    if result.limits:
        lines.append(
            format_table(
                ["limit", "max", "remaining", "used"],
                [
                    [n, v["Max"], v["Remaining"], v["Max"] - v["Remaining"]]
                    for n, v in sorted(result.limits.items())
                    if n.startswith(("Daily", "Hourly"))
                ],
            )
        )
        lines.append("")
    lines.append(_counts_block("Rejected by Salesforce, by error code", result.rejected_by_code))
    lines.append(
        _counts_block("Quarantined before sending, by reason", result.quarantined_by_reason)
    )
    for key, path in result.dead_letter_files.items():
        lines.append(f"  dead letter {key}: {path}")
    lines.append("")
    if result.recent_errors:
        lines.append("Recent errors (newest first):")
        for e in result.recent_errors:
            lines.append(f"  {e.at} {e.key or '-'} run {e.run_id}: {e.message}")
            if e.cause:
                lines.append(f"      cause: {e.cause}")
    else:
        lines.append("No failed or canceled runs recorded.")
    click.echo("\n".join(lines))


def _counts_block(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return f"{title}: none"
    return f"{title}:\n" + "\n".join(f"  {code}: {n:,}" for code, n in counts.items())


# -- stop and restart ---------------------------------------------------------------------------


@main.command(
    help="Emergency stop: schedule and sensors off, queued runs canceled, running runs "
    "terminated, their open Bulk jobs aborted."
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for runs to end.")
@click.option(
    "--all-open-jobs",
    is_flag=True,
    help="Abort every open Opportunity ingest job, not only those of the stopped runs.",
)
@json_option
def stop(timeout: float, all_open_jobs: bool, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance, _connections(required=False) as connections:
        report = ops.stop(instance, connections, timeout_s=timeout, all_open_jobs=all_open_jobs)
    if as_json:
        _print_json(report.to_json())
    else:
        lines = [
            f"Schedule/sensors stopped: {', '.join(report.instigators_stopped) or 'none running'}",
            f"Queued runs canceled: {len(report.runs_canceled)}",
            f"Runs terminated: {len(report.runs_terminated)}"
            + (f" ({len(report.runs_forced)} forced)" if report.runs_forced else ""),
            f"Bulk jobs aborted: {len(report.jobs_aborted)}"
            + (f" ({', '.join(report.jobs_aborted)})" if report.jobs_aborted else ""),
        ]
        if report.checkpoints_rewound:
            lines.append(
                "Checkpoints rewound before aborted jobs: "
                + ", ".join(f"{k} ({n} job(s) kept)" for k, n in report.checkpoints_rewound.items())
            )
        if connections is None:
            lines.append("No SALESFORCE_* environment: Bulk jobs were not checked or aborted.")
        lines.extend(f"Warning: {e}" for e in report.errors)
        lines.append("Stopped. `sfload restart` undoes this and resumes the interrupted ranges.")
        click.echo("\n".join(lines))
    if report.errors:
        sys.exit(EXIT_PROBLEM)


@main.command(help="Undo `sfload stop`: schedule and sensors back on, interrupted ranges resumed.")
@click.option("--all", "every", is_flag=True, help="Load every range, not only the interrupted.")
@click.option("--no-load", is_flag=True, help="Only switch schedule and sensors back on.")
@json_option
def restart(every: bool, no_load: bool, as_json: bool) -> None:
    from orchestration import operations as ops

    with _operation(), _instance() as instance:
        report = ops.restart(instance)
        if not as_json:
            click.echo(
                f"Schedule/sensors started: {', '.join(report.instigators_started) or 'none'}"
                if report.was_stopped
                else "sfload was not stopped."
            )
        keys = ops.current_keys(instance) if every else report.ranges
        result = None
        if keys and not no_load:
            with _connections() as connections:
                assert connections is not None
                result = run_load(instance, connections, keys, quiet=as_json)
    if as_json:
        _print_json(
            {
                "was_stopped": report.was_stopped,
                "instigators_started": report.instigators_started,
                "load": result.to_json() if result else None,
            }
        )
    elif result is not None:
        click.echo(render_load(result))
    elif not keys:
        click.echo("No interrupted ranges to resume.")
    if result is not None and not result.ok:
        sys.exit(EXIT_PROBLEM)


_register_plugins()

if __name__ == "__main__":  # `python -m orchestration.cli` (how demo and dev start the emulator)
    main()
