"""No secret in Dagster's stores nor in the ``sfload`` CLI's output, after runs that fail in many ways.

Secrets reach the runs only through ``dg.EnvVar`` (``orchestration.resources.build_resources``). The
tests materialize in a temporary ``DAGSTER_HOME`` (SQLite run, event and schedule storage, compute
logs), make runs fail in different ways, then grep every byte under ``DAGSTER_HOME`` for the client
secret, the private key and every token the emulator issued.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
from click.testing import CliRunner
from security_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    USERNAME,
    WRONG_SECRET,
    CredentialEcho,
    KeyPair,
    SecretRecorder,
    files_containing,
    leaks,
    rsa_key_pair,
)

from emulator.config import EmulatorConfig
from emulator.control import faults_of
from emulator.faults import parse_plan
from emulator.server import EmulatorServer
from orchestration import operations as ops
from orchestration.resources import build_resources
from resources.data_cloud import DataCloudResource
from resources.salesforce import ObjectSpec, SalesforceResource

pytestmark = [pytest.mark.dagster, pytest.mark.emulator]

ROWS = 60
SPEC = ObjectSpec(object_name="Opportunity", external_id_field="External_Id__c")


@dataclass
class Stack:
    server: EmulatorServer
    recorder: SecretRecorder
    echo: CredentialEcho
    key: KeyPair
    home: Path

    def needles(self) -> set[str]:
        return {CLIENT_SECRET, WRONG_SECRET, *self.key.needles, *self.recorder.seen}

    def faults(self, plan: dict[str, Any]) -> None:
        faults_of(self.server.emulator).apply(parse_plan(plan))


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    key = rsa_key_pair(tmp_path / "keys", "integration")
    config = EmulatorConfig(
        data_dir=tmp_path / "emulator",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USERNAME,
        jwt_public_key_file=key.public_key_file,
        records=ROWS,
    )
    home = tmp_path / "dagster_home"
    ops.prepare_home(home)
    with EmulatorServer(config) as server:
        recorder, echo = SecretRecorder(), CredentialEcho()
        server.app.interceptors += [recorder, echo]
        env = {**ops.env_for_emulator(server.ready_info()), "DAGSTER_HOME": str(home)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Stack(server, recorder, echo, key, home)
        echo.arm("", 0, 0)


@dg.asset
def secret_probe(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    data_cloud: DataCloudResource,
) -> dg.MaterializeResult:
    """Touches every authenticated surface; whatever fails, fails as the real asset would."""
    limits = salesforce.limits()
    context.log.info(f"limits: {len(limits.by_name)} allowances; salesforce={salesforce!r}")
    stats = data_cloud.key_stats()
    context.log.info(f"data cloud: {stats}; data_cloud={data_cloud!r}")
    ids = [f"P{i}" for i in range(4)]
    table = pa.table(
        {
            "External_Id__c": ids,
            "Name": ids,
            "StageName": ["Prospecting"] * 4,
            "CloseDate": ["2025-01-31"] * 4,
        }
    )
    report = salesforce.upsert(table.to_batches(), SPEC)
    print(f"report: {report!r}")  # lands in the compute logs
    return dg.MaterializeResult(
        metadata={"created": report.created, "rejected": report.rejected_count}
    )


def materialize_probe(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [secret_probe], instance=instance, resources=build_resources(), raise_on_error=False
    )


def test_instance_storage_holds_no_secret_after_failing_runs(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: dict[str, bool] = {}
    with dg.DagsterInstance.get() as instance:
        outcomes["clean"] = materialize_probe(instance).success
        stack.server.emulator.tokens.expire_all()
        outcomes["tokens expired between runs"] = materialize_probe(instance).success
        stack.echo.arm("rest.limits", 401)
        outcomes["401 quoting the token"] = materialize_probe(instance).success
        stack.echo.arm("datacloud.token", 500)  # not retried: one exchange per call
        outcomes["exchange 500 quoting the core token"] = materialize_probe(instance).success
        stack.echo.arm("oauth.token", 400)
        outcomes["login 400 quoting the form"] = materialize_probe(instance).success
        stack.echo.arm("", 0, 0)
        stack.faults({"limits": {"DailyApiRequests": 0}})
        outcomes["allowance spent"] = materialize_probe(instance).success
        stack.faults({"ingest": {"fail_after_rows": 1, "clock": "immediate"}})
        outcomes["Failed job"] = materialize_probe(instance).success
        stack.faults({})
        monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", WRONG_SECRET)
        outcomes["wrong secret"] = materialize_probe(instance).success
        monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", "")
        monkeypatch.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(stack.key.private_key_file))
        outcomes["jwt login"] = materialize_probe(instance).success
        runs = instance.get_runs()

    assert outcomes == {
        "clean": True,
        "tokens expired between runs": True,
        "401 quoting the token": False,
        "exchange 500 quoting the core token": False,
        "login 400 quoting the form": False,
        "allowance spent": False,
        "Failed job": True,  # reported as rejected rows, not a crash
        "wrong secret": False,
        "jwt login": True,
    }
    assert len(runs) == len(outcomes)
    assert any(t.startswith("eyJ") for t in stack.recorder.seen)
    stored = sorted(p.name for p in stack.home.rglob("*") if p.is_file())
    assert any(name.endswith(".db") for name in stored), stored
    assert not files_containing(stack.home, stack.needles())


def test_storage_grep_would_see_a_planted_secret(stack: Stack) -> None:
    with dg.DagsterInstance.get() as instance:
        run = dg.materialize(
            [secret_probe], instance=instance, resources=build_resources(), raise_on_error=False
        )
        instance.report_engine_event(f"planted {CLIENT_SECRET}", instance.get_run_by_id(run.run_id))
    assert files_containing(stack.home, {CLIENT_SECRET})


# -- the real code location through the sfload CLI -------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(__import__("orchestration.cli").cli.main, list(args))
    return result.exit_code, result.output


def test_cli_and_real_asset_runs_leak_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: dict[str, tuple[int, str]] = {}
    outputs["plan"] = invoke("plan", "--partitions", "2", "--json")
    assert outputs["plan"][0] == 0, outputs["plan"][1]
    stack.server.emulator.tokens.expire_all()
    outputs["load"] = invoke("load", "--all", "--json")
    assert outputs["load"][0] == 0, outputs["load"][1]
    outputs["status"] = invoke("status", "--json")
    outputs["diagnose"] = invoke("diagnose")
    stack.echo.arm("oauth.token", 400)
    outputs["status, login quoting the form"] = invoke("status")
    stack.echo.arm("", 0, 0)
    stack.faults({"limits": {"DailyApiRequests": 0}})
    outputs["diagnose, allowance spent"] = invoke("diagnose")
    stack.faults({})
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", WRONG_SECRET)
    outputs["plan, wrong secret"] = invoke("plan", "--dry-run")
    outputs["status, wrong secret"] = invoke("status")

    loaded = json.loads(outputs["load"][1])
    assert loaded, outputs["load"][1]
    assert outputs["plan, wrong secret"][0] != 0
    assert "counts unavailable: AuthError" in outputs["status, login quoting the form"][1]
    assert "counts unavailable: AuthError" in outputs["status, wrong secret"][1]
    assert "REQUEST_LIMIT_EXCEEDED" in outputs["diagnose, allowance spent"][1]
    texts = [out for _, out in outputs.values()]
    assert not leaks(texts, stack.needles())
    assert not files_containing(stack.home, stack.needles())
