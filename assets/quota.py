"""Quota guard: forecast what loading a range costs and refuse to eat into the daily reserve.

Pure functions over plain values. The forecast is deliberately pessimistic (every job polled
``polls_per_job`` times, every result file fetched), so the guard errs on the side of stopping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resources.salesforce.protocol import (
    DAILY_API_REQUESTS,
    DAILY_BULK_API_BATCHES,
    INTERNAL_BATCH_ROWS,
)

# create + one PUT + UploadComplete + three result files (successful, failed, unprocessed).
CALLS_PER_JOB_WITHOUT_POLLS = 6
# The read-back query of the checks: create, a few polls, result pages of this many rows.
READBACK_CALLS_FIXED = 5
READBACK_ROWS_PER_PAGE = 50_000


class QuotaExceeded(Exception):
    """The run would use more of a daily Salesforce allowance than may be spent."""


@dataclass(frozen=True)
class LoadForecast:
    rows: int
    jobs: int
    internal_batches: int
    api_calls: int


@dataclass(frozen=True)
class Allowance:
    name: str
    max: int
    remaining: int


def forecast_load(rows: int, rows_per_job: int, polls_per_job: int = 10) -> LoadForecast:
    """Jobs, internal 10k-row batches (DailyBulkApiBatches) and API calls for loading ``rows``."""
    if rows <= 0:
        return LoadForecast(rows=0, jobs=0, internal_batches=0, api_calls=0)
    full_jobs, last_job_rows = divmod(rows, rows_per_job)
    jobs = full_jobs + (1 if last_job_rows else 0)
    batches = full_jobs * math.ceil(rows_per_job / INTERNAL_BATCH_ROWS) + math.ceil(
        last_job_rows / INTERNAL_BATCH_ROWS
    )
    readback_calls = READBACK_CALLS_FIXED + math.ceil(rows / READBACK_ROWS_PER_PAGE)
    calls = jobs * (CALLS_PER_JOB_WITHOUT_POLLS + polls_per_job) + readback_calls
    return LoadForecast(rows=rows, jobs=jobs, internal_batches=batches, api_calls=calls)


def allowances_from_limits(limits: Mapping[str, Any]) -> dict[str, Allowance]:
    """``GET /limits`` JSON (``{"Name": {"Max": m, "Remaining": r}, ...}``) as allowances."""
    out: dict[str, Allowance] = {}
    for name, value in limits.items():
        if isinstance(value, Mapping) and "Max" in value and "Remaining" in value:
            out[name] = Allowance(name, int(value["Max"]), int(value["Remaining"]))
    return out


def quota_violations(
    forecast: LoadForecast, allowances: Mapping[str, Allowance], reserve_fraction: float
) -> list[str]:
    """One human sentence per allowance the forecast would push below its reserve."""
    needs = {
        DAILY_BULK_API_BATCHES: forecast.internal_batches,
        DAILY_API_REQUESTS: forecast.api_calls,
    }
    problems = []
    for name, needed in needs.items():
        allowance = allowances.get(name)
        if allowance is None or needed == 0:
            continue
        reserve = math.ceil(allowance.max * reserve_fraction)
        left_after = allowance.remaining - needed
        if left_after < reserve:
            problems.append(
                f"{name}: the run needs about {needed:,} of {allowance.remaining:,} remaining "
                f"(max {allowance.max:,}), which would leave {left_after:,}, below the reserve of "
                f"{reserve:,} ({reserve_fraction:.0%} of max)"
            )
    return problems


def guard_quota(
    forecast: LoadForecast, allowances: Mapping[str, Allowance], reserve_fraction: float
) -> None:
    """Raise ``QuotaExceeded`` with a clear message when the forecast eats into the reserve."""
    problems = quota_violations(forecast, allowances, reserve_fraction)
    if problems:
        raise QuotaExceeded(
            "Quota guard stopped the load before anything was sent. "
            + "; ".join(problems)
            + ". Wait for the rolling 24-hour window to free allowance, load fewer ranges, "
            "or lower quota_reserve_fraction on purpose."
        )
