"""The sfload CLI without Salesforce: output helpers, errors that say what to do, checkpoint rewind,
and stop/restart of schedule, sensors and runs on a real (temporary) instance."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster._core.test_utils import create_run_for_test, in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from assets.checkpoint import Checkpoint
from assets.partitions import PARTITIONS_NAME
from orchestration import operations as ops
from orchestration.cli import ProgressBar, format_table, main
from orchestration.resources import ENV_VARS, ORG_PACE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.unit
def test_table_right_aligns_numbers_and_shows_missing_values_as_dash() -> None:
    text = format_table(["range", "rows"], [["a", 1234567], ["bb", None]])
    assert text.splitlines() == [
        "range       rows",
        "-----  ---------",
        "a      1,234,567",
        "bb             -",
    ]


@pytest.mark.unit
def test_progress_line_shows_rows_ranges_and_rate() -> None:
    line = ProgressBar(width=10).render(
        ops.Progress(
            rows_done=500,
            rows_total=1000,
            ranges_done=1,
            ranges_failed=1,
            ranges_running=2,
            ranges_total=4,
            seconds=10.0,
        )
    )
    assert line.startswith("[#####.....] 500/1,000 rows sent")
    assert "1/4 ranges done, 2 running, 1 failed" in line
    assert line.endswith("50 rows/s")


def _chain(*states: Checkpoint) -> list[Checkpoint]:
    return list(reversed(states))  # history is newest first


@pytest.mark.unit
def test_rewind_keeps_the_jobs_before_the_first_aborted_one() -> None:
    after_1 = Checkpoint().with_submitted("J1", "id-100", 100, 2)
    after_2 = after_1.with_submitted("J2", "id-200", 100, 0)
    after_3 = after_2.with_submitted("J3", "id-300", 100, 1).with_finished("J1", "id-100")
    history = _chain(after_1, after_2, after_3)

    rewound = ops.rewound_checkpoint(history, aborted={"J2"})

    assert rewound is not None
    assert rewound.submitted_jobs == ("J1",)
    assert rewound.finished_jobs == ("J1",)
    assert rewound.last_submitted_id == "id-100"
    assert (rewound.rows_read, rewound.rows_quarantined) == (100, 2)
    assert rewound.is_resumable


@pytest.mark.unit
def test_rewind_starts_afresh_when_the_first_job_was_aborted_and_is_a_noop_otherwise() -> None:
    after_1 = Checkpoint().with_submitted("J1", "id-100", 100, 0)
    after_2 = after_1.with_submitted("J2", "id-200", 100, 0)
    history = _chain(after_1, after_2)
    fresh = ops.rewound_checkpoint(history, aborted={"J1", "J2"})
    assert fresh == Checkpoint()
    assert not fresh.is_resumable
    assert ops.rewound_checkpoint(history, aborted={"other"}) is None
    assert ops.rewound_checkpoint([], aborted={"J1"}) is None


@pytest.mark.unit
def test_missing_environment_is_named_with_what_to_do() -> None:
    with pytest.raises(ops.OperationError) as raised:
        ops.require_environment({"SALESFORCE_LOGIN_URL": "https://x"})
    message = str(raised.value)
    for name in ENV_VARS[1:]:
        assert name in message
    assert "SALESFORCE_LOGIN_URL," not in message
    assert "sfload emulator serve" in message
    ops.require_environment(dict.fromkeys(ENV_VARS, ""))  # empty is allowed: defined is enough


@pytest.mark.unit
def test_emulator_ready_line_becomes_the_seven_variables_and_the_org_pace() -> None:
    env = ops.env_for_emulator(
        {
            "login_url": "https://127.0.0.1:1",
            "client_id": "cid",
            "client_secret": "cs",
            "username": "u",
            "ca_bundle": "/ca.pem",
        }
    )
    assert sorted(env) == sorted([*ENV_VARS, ORG_PACE_ENV])
    assert env[ORG_PACE_ENV] == "25000"
    assert env["SALESFORCE_PRIVATE_KEY_FILE"] == ""
    assert env["SALESFORCE_API_VERSION"] == "66.0"


# -- commands on a temporary instance -------------------------------------------------------------


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    ops.prepare_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with dg.DagsterInstance.get() as inst:
        yield inst


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


pytestmark = pytest.mark.dagster


@pytest.mark.parametrize("command", ["plan", "load", "status", "diagnose", "stop", "restart"])
def test_every_command_has_help(command: str) -> None:
    code, out = invoke(command, "--help")
    assert code == 0
    assert "Usage: main " + command in out or f"Usage: sfload {command}" in out or "Usage:" in out
    if command in ("plan", "load", "status", "diagnose", "stop", "restart"):
        assert "--json" in out


def test_without_dagster_home_the_error_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, out = invoke("status")
    assert code == 2
    assert "DAGSTER_HOME is not set" in out


def test_status_before_any_plan_says_to_plan(instance: dg.DagsterInstance) -> None:
    code, out = invoke("status", "--no-counts")
    assert code == 2
    assert "run `sfload plan`" in out


def test_load_without_salesforce_environment_names_the_variables(
    instance: dg.DagsterInstance,
) -> None:
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["a!"])
    code, out = invoke("load", "--all")
    assert code == 2
    assert "SALESFORCE_LOGIN_URL" in out
    assert "Traceback" not in out


def test_load_refuses_unknown_keys_and_both_forms(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["!m", "m!"])
    with pytest.raises(ops.OperationError, match=r"Unknown range key\(s\): zzz"):
        ops.resolve_keys(instance, ["zzz"], every=False)
    with pytest.raises(ops.OperationError, match="not both"):
        ops.resolve_keys(instance, ["!m"], every=True)
    with pytest.raises(ops.OperationError, match="--all"):
        ops.resolve_keys(instance, [], every=False)
    assert ops.resolve_keys(instance, ["m!", "!m"], every=False) == ["!m", "m!"]


def test_pool_limit_is_read_from_the_instance(instance: dg.DagsterInstance) -> None:
    assert ops.explicit_pool_limit(instance) is None
    assert ops.ensure_pool_limit(instance) == 10
    instance.event_log_storage.set_concurrency_slots("salesforce_bulk", 3)
    assert ops.pool_limit(instance) == (3, "instance")
    assert ops.ensure_pool_limit(instance) == 3  # an explicit limit is never overwritten


def _start_instigators(instance: dg.DagsterInstance) -> None:
    origin = LoadableTargetOrigin(
        executable_path=sys.executable,
        python_file=None,
        module_name="orchestration.definitions",
        working_directory=str(REPO_ROOT),
    )
    with in_process_test_workspace(instance, origin) as workspace:
        location = next(iter(workspace.get_code_location_entries().values())).code_location
        assert location is not None
        repo = location.get_repository("__repository__")
        instance.start_schedule(repo.get_schedule("opportunities_nightly_schedule"))
        instance.start_sensor(repo.get_sensor("opportunity_drift_sensor"))


def _status_by_name(instance: dg.DagsterInstance) -> dict[str, InstigatorStatus]:
    return {s.name: s.status for s in instance.all_instigator_state()}


def test_stop_switches_off_schedule_and_sensors_cancels_runs_and_restart_undoes_it(
    instance: dg.DagsterInstance,
) -> None:
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["!m", "m!"])
    _start_instigators(instance)
    queued = create_run_for_test(
        instance,
        job_name=ops.JOB_NAME,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={"dagster/partition": "!m"},
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    orphan = create_run_for_test(
        instance,
        job_name=ops.JOB_NAME,
        status=dg.DagsterRunStatus.STARTED,
        tags={
            "dagster/partition": "m!",
            ops.PID_TAG: dead.stdout.decode().strip(),  # a worker that no longer exists
            ops.HOST_TAG: os.uname().nodename,
        },
    )
    unrelated = create_run_for_test(
        instance, job_name="other_job", status=dg.DagsterRunStatus.NOT_STARTED
    )

    code, out = invoke("stop", "--timeout", "5")

    assert code == 0, out
    assert "opportunities_nightly_schedule" in out and "opportunity_drift_sensor" in out
    assert "Queued runs canceled: 1" in out
    assert "No SALESFORCE_* environment" in out
    statuses = _status_by_name(instance)
    assert statuses["opportunities_nightly_schedule"] == InstigatorStatus.STOPPED
    assert statuses["opportunity_drift_sensor"] == InstigatorStatus.STOPPED
    assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.CANCELED
    assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.CANCELED
    assert instance.get_run_by_id(unrelated.run_id).status == dg.DagsterRunStatus.NOT_STARTED
    assert ops.stop_state(instance)["ranges"] == ["!m", "m!"]

    code, out = invoke("status", "--no-counts")
    assert code == 0, out
    assert "STOPPED since" in out
    assert "CANCELED" in out
    with pytest.raises(ops.OperationError, match="sfload restart"):
        ops.load(instance, None, ["!m"])  # type: ignore[arg-type]

    code, out = invoke("restart", "--no-load")
    assert code == 0, out
    assert "opportunities_nightly_schedule" in out
    statuses = _status_by_name(instance)
    assert statuses["opportunities_nightly_schedule"] == InstigatorStatus.RUNNING
    assert statuses["opportunity_drift_sensor"] == InstigatorStatus.RUNNING
    assert ops.stop_state(instance) is None

    code, out = invoke("restart", "--no-load")
    assert "sfload was not stopped" in out


def test_diagnose_lists_failed_runs_with_their_error(instance: dg.DagsterInstance) -> None:
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["!m", "m!"])
    failed = create_run_for_test(
        instance,
        job_name=ops.JOB_NAME,
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "m!"},
    )
    instance.report_run_failed(failed, message="boom: Salesforce said no")
    code, out = invoke("diagnose")
    assert code == 0, out
    assert "Recent errors" in out
    assert failed.run_id in out
    assert "boom: Salesforce said no" in out
