"""How ``sfload load`` runs ranges and how ``sfload stop`` ends them, with a stand-in job whose load
sleeps (no Salesforce): runs recorded in the instance, the pool limit honoured, progress reported,
and running runs terminated as CANCELED with their ranges remembered for ``restart``."""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration import operations as ops

pytestmark = pytest.mark.dagster

KEYS = ["!b", "b!d", "d!f", "f!"]
fake_ranges = dg.DynamicPartitionsDefinition(name="opportunity_ranges")


@dg.asset(name="salesforce_opportunities", partitions_def=fake_ranges)
def sleepy_load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Writes when it started and ended, so the test can measure how many ran at once."""
    marks = Path(os.environ["FAKE_LOAD_DIR"])
    seconds = float(os.environ["FAKE_LOAD_SECONDS"])
    name = context.run_id
    (marks / f"{name}.start").write_text(str(time.time()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    (marks / f"{name}.end").write_text(str(time.time()))
    return dg.MaterializeResult(metadata={"rows_read": 10})


def fake_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[sleepy_load],
        jobs=[dg.define_asset_job(ops.JOB_NAME, selection=[sleepy_load])],
    )
    return defs.resolve_job_def(ops.JOB_NAME)


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "home"
    ops.prepare_home(home)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FAKE_LOAD_DIR", str(marks))
    with dg.DagsterInstance.get() as inst:
        inst.add_dynamic_partitions("opportunity_ranges", KEYS)
        yield inst


def max_overlap(marks: Path) -> int:
    spans = [
        (float(start.read_text()), float(start.with_suffix(".end").read_text()))
        for start in marks.glob("*.start")
    ]
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def test_load_runs_every_range_as_a_recorded_run_within_the_pool_limit(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "3")
    seen: list[ops.Progress] = []
    loader = ops.RangeLoader(
        instance,
        KEYS,
        limit=2,
        source_rows=dict.fromkeys(KEYS, 10),
        poll_s=0.3,
        on_progress=seen.append,
        job_ref=f"{__name__}:fake_job",
    )

    result = loader.run()

    assert [r.key for r in result.ranges] == KEYS
    assert [r.status for r in result.ranges] == ["SUCCESS"] * 4
    assert [r.rows_read for r in result.ranges] == [10] * 4
    assert max_overlap(Path(os.environ["FAKE_LOAD_DIR"])) == 2
    runs = instance.get_runs(dg.RunsFilter(tags={ops.LOAD_TAG: result.load_id}))
    assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(KEYS)
    assert seen[-1].rows_done == seen[-1].rows_total == 40
    assert seen[-1].ranges_done == 4
    assert max(p.ranges_running for p in seen) == 2


def test_runs_started_elsewhere_count_against_the_pool(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.test_utils import create_run_for_test

    monkeypatch.setenv("FAKE_LOAD_SECONDS", "1")
    create_run_for_test(  # a run of the asset launched by the daemon, still going
        instance,
        job_name=ops.JOB_NAME,
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "elsewhere"},
    )
    loader = ops.RangeLoader(
        instance, KEYS[:3], limit=2, poll_s=0.3, job_ref=f"{__name__}:fake_job"
    )
    result = loader.run()
    assert [r.status for r in result.ranges] == ["SUCCESS"] * 3
    assert max_overlap(Path(os.environ["FAKE_LOAD_DIR"])) == 1


def test_stop_terminates_running_runs_and_leaves_the_rest_to_restart(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "120")
    loader = ops.RangeLoader(instance, KEYS, limit=2, poll_s=0.3, job_ref=f"{__name__}:fake_job")
    outcome: list[ops.LoadResult] = []
    thread = threading.Thread(target=lambda: outcome.append(loader.run()))
    thread.start()
    deadline = time.monotonic() + 120
    while len([p for p in Path(os.environ["FAKE_LOAD_DIR"]).glob("*.start")]) < 2:
        assert time.monotonic() < deadline, "the loads did not start"
        time.sleep(0.2)

    report = ops.stop(instance, None, timeout_s=60, poll_s=0.3)
    thread.join(timeout=60)

    assert len(report.runs_terminated) == 2
    assert report.runs_forced == []
    assert ops.in_flight_runs(instance) == []
    statuses = {r.key: r.status for r in outcome[0].ranges}
    assert statuses == {"!b": "CANCELED", "b!d": "CANCELED", "d!f": "STOPPED", "f!": "STOPPED"}
    assert ops.stop_state(instance)["ranges"] == sorted(KEYS)
    assert not list(Path(os.environ["FAKE_LOAD_DIR"]).glob("*.end"))
    restarted = ops.restart(instance)
    assert restarted.ranges == sorted(KEYS)
