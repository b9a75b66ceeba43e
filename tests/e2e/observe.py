"""Watching runs from the outside: run-storage sampling, overlap from run timestamps, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.e2e.graphql_client import FINISHED, RunInfo
from tests.e2e.stack import DagsterStack


@dataclass
class ConcurrencySamples:
    """How many runs the run storage showed in progress, sampled while waiting."""

    counts: list[int] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


def wait_sampling(
    stack: DagsterStack,
    done: Callable[[], bool],
    timeout_s: float,
    what: str,
    interval_s: float = 0.25,
) -> ConcurrencySamples:
    samples = ConcurrencySamples()
    deadline = time.monotonic() + timeout_s
    last_done_check = 0.0
    while True:
        samples.counts.append(len(stack.in_progress_run_ids()))
        now = time.monotonic()
        if now - last_done_check > 2.0:  # GraphQL is heavier than one run-storage query
            last_done_check = now
            stack.assert_children_alive()
            if done():
                return samples
        if now > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def max_overlap(runs: Sequence[RunInfo]) -> int:
    """Largest number of runs whose [start, end] intervals overlap, from the stored timestamps."""
    edges: list[tuple[float, int]] = []
    for run in runs:
        if run.start_time is None or run.end_time is None:
            continue
        edges += [(run.start_time, 1), (run.end_time, -1)]
    current = peak = 0
    for _, delta in sorted(
        edges, key=lambda edge: (edge[0], edge[1])
    ):  # ends before starts on ties
        current += delta
        peak = max(peak, current)
    return peak


def all_finished(runs: Sequence[RunInfo]) -> bool:
    return bool(runs) and all(run.status in FINISHED for run in runs)


def latest_run_per_partition(runs: Sequence[RunInfo]) -> dict[str, RunInfo]:
    """The newest attempt for every partition (retries are newer than the runs they retry)."""
    latest: dict[str, RunInfo] = {}
    for run in sorted(runs, key=lambda r: r.creation_time):
        if run.partition is not None:
            latest[run.partition] = run
    return latest
