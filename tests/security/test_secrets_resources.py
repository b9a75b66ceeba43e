"""The client secret, the private key and every token never appear in exceptions, logs or reprs.

The resources are driven through every failure we can cause against the emulator, in both login
flows (client credentials and JWT bearer): a bad secret, a key the org does not know, tokens expired
mid-call, a spent allowance, 5xx (fault injection), a Failed job, and a sloppy server or proxy that
quotes the request's credentials back in its error bodies. Every credential that crossed the wire is
recorded by an interceptor in the emulator, so "every token" means every token actually issued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from security_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    USERNAME,
    WRONG_SECRET,
    CredentialEcho,
    KeyPair,
    SecretRecorder,
    exception_texts,
    leaks,
    rsa_key_pair,
)

from emulator.config import EmulatorConfig
from emulator.control import faults_of
from emulator.faults import parse_plan
from emulator.server import EmulatorServer
from resources.data_cloud import DataCloudResource
from resources.salesforce import IngestReport, ObjectSpec, SalesforceResource

pytestmark = pytest.mark.emulator

SPEC = ObjectSpec(object_name="Opportunity", external_id_field="External_Id__c")


@dataclass
class Secrets:
    server: EmulatorServer
    recorder: SecretRecorder
    echo: CredentialEcho
    key: KeyPair
    stranger_key: KeyPair

    def needles(self) -> set[str]:
        return {
            CLIENT_SECRET,
            WRONG_SECRET,
            *self.key.needles,
            *self.stranger_key.needles,
            *self.recorder.seen,
        }

    def faults(self, plan: dict[str, Any]) -> None:
        faults_of(self.server.emulator).apply(parse_plan(plan))


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secrets]:
    root = tmp_path_factory.mktemp("secrets")
    key = rsa_key_pair(root / "keys", "integration")
    stranger = rsa_key_pair(root / "keys", "stranger")
    config = EmulatorConfig(
        data_dir=root / "emulator",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USERNAME,
        jwt_public_key_file=key.public_key_file,
    )
    with EmulatorServer(config) as server:
        recorder, echo = SecretRecorder(), CredentialEcho()
        server.app.interceptors += [recorder, echo]
        yield Secrets(server, recorder, echo, key, stranger)


@dataclass
class Outcomes:
    """What the caller of a resource can see: exceptions, results, and reprs."""

    texts: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    results: dict[str, object] = field(default_factory=dict)

    def attempt(self, label: str, action: Callable[[], object]) -> None:
        try:
            result = action()
        except Exception as exc:
            self.failures[label] = type(exc).__name__
            self.texts += exception_texts(exc)
        else:
            self.results[label] = result
            self.texts += [repr(result), str(result)]


def salesforce(server: EmulatorServer, **overrides: Any) -> SalesforceResource:
    settings: dict[str, Any] = {
        "login_url": server.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "ca_bundle": str(server.ca_bundle),
        "max_retries": 1,
        "poll_initial_s": 0.05,
        "poll_max_s": 0.2,
        "poll_deadline_s": 30.0,
        "max_resubmits": 0,
    }
    settings.update(overrides)
    return SalesforceResource(**settings)


def jwt_salesforce(server: EmulatorServer, key: KeyPair) -> SalesforceResource:
    return salesforce(
        server, client_secret="", username=USERNAME, private_key_file=str(key.private_key_file)
    )


def opportunities(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "External_Id__c": ids,
            "Name": [f"Deal {i}" for i in ids],
            "StageName": ["Prospecting"] * len(ids),
            "CloseDate": ["2025-01-31"] * len(ids),
        }
    )


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in caplog.records]


def assert_nothing_leaked(
    secrets: Secrets,
    outcomes: Outcomes,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    *resources: object,
) -> None:
    printed = capsys.readouterr()
    texts = [*outcomes.texts, *log_texts(caplog), printed.out, printed.err]
    texts += [repr(r) for r in resources] + [str(r) for r in resources]
    found = leaks(texts, secrets.needles())
    assert not found, found


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "resources", "dagster"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_the_leak_search_finds_a_planted_secret(secrets: Secrets) -> None:
    assert leaks([f"oops {CLIENT_SECRET} here"], secrets.needles())
    assert leaks([secrets.key.pem], secrets.key.needles)


def test_the_echoing_server_really_quotes_credentials(secrets: Secrets) -> None:
    """So the tests below exercise redaction, not a server that happens to be discreet."""
    resource = salesforce(secrets.server, max_retries=0)
    secrets.echo.arm("oauth.token", 500, times=1)
    try:
        with pytest.raises(Exception) as refused:
            resource.limits()
        assert CLIENT_SECRET not in str(refused.value)
        assert "[REDACTED]" in refused.value.body  # type: ignore[attr-defined]
    finally:
        secrets.echo.arm("", 0, 0)
        resource.teardown_after_execution(None)  # type: ignore[arg-type]


def test_client_credentials_flow_leaks_nothing_through_every_failure(
    secrets: Secrets,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, echo, outcomes = secrets.server, secrets.echo, Outcomes()
    good, wrong = salesforce(server), salesforce(server, client_secret=WRONG_SECRET)
    basic = salesforce(server, client_auth="basic", client_secret=WRONG_SECRET)
    try:
        outcomes.attempt("bad secret", lambda: wrong.limits())
        outcomes.attempt("bad secret, basic auth", lambda: basic.limits())
        outcomes.attempt("login", lambda: good.limits())
        server.emulator.tokens.expire_all()
        outcomes.attempt("expired mid-call, refreshed", lambda: good.limits())
        echo.arm("rest.limits", 401)
        outcomes.attempt("401 quoting the token", lambda: good.limits())
        echo.arm("rest.limits", 500)
        outcomes.attempt("500 quoting the token", lambda: good.limits())
        echo.arm("rest.query", 400)
        outcomes.attempt(
            "400 quoting the token", lambda: good.count("SELECT COUNT() FROM Opportunity")
        )
        echo.arm("", 0, 0)
        fresh = salesforce(server)
        echo.arm("oauth.token", 500)
        outcomes.attempt("token endpoint 500 quoting the form", lambda: fresh.limits())
        echo.arm("oauth.token", 400)
        outcomes.attempt("token endpoint 400 quoting the form", lambda: fresh.limits())
        echo.arm("", 0, 0)
        secrets.faults({"http": [{"kind": "error", "status": 503, "endpoints": ["rest.*"]}]})
        outcomes.attempt("injected 503", lambda: good.limits())
        secrets.faults({"limits": {"DailyApiRequests": 0}})
        outcomes.attempt("allowance spent", lambda: good.limits())
        secrets.faults({"ingest": {"fail_after_rows": 2, "clock": "immediate"}})
        outcomes.attempt(
            "Failed job", lambda: good.upsert(opportunities(["S1", "S2", "S3"]).to_batches(), SPEC)
        )
    finally:
        echo.arm("", 0, 0)
        secrets.faults({})
        for resource in (good, wrong, basic):
            resource.teardown_after_execution(None)  # type: ignore[arg-type]

    assert {"bad secret", "401 quoting the token", "500 quoting the token"} <= set(
        outcomes.failures
    ), outcomes.failures
    assert outcomes.failures["allowance spent"] == "RequestLimitExceededError"
    assert outcomes.failures["injected 503"] == "RetryableServerError"
    assert "expired mid-call, refreshed" not in outcomes.failures
    failed_job = outcomes.results["Failed job"]
    assert isinstance(failed_job, IngestReport) and failed_job.rejected_count == 1
    assert len(secrets.recorder.seen) >= 3  # several access tokens really were issued and used
    assert_nothing_leaked(
        secrets, outcomes, debug_logs, capsys, good, wrong, basic, good.client_config()
    )


def test_jwt_flow_and_data_cloud_leak_nothing_through_every_failure(
    secrets: Secrets,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, echo, outcomes = secrets.server, secrets.echo, Outcomes()
    core = jwt_salesforce(server, secrets.key)
    stranger = jwt_salesforce(server, secrets.stranger_key)
    data_cloud = DataCloudResource(salesforce=core, max_retries=1)
    try:
        outcomes.attempt("unknown key", lambda: stranger.limits())
        outcomes.attempt("jwt login", lambda: core.limits())
        outcomes.attempt("data cloud", lambda: data_cloud.key_stats())
        server.emulator.tokens.expire_all()
        outcomes.attempt("both tokens expired mid-run", lambda: data_cloud.key_stats())
        outcomes.attempt("core token expired mid-run", lambda: core.limits())
        echo.arm("datacloud.query", 401)
        outcomes.attempt("tenant 401 quoting the token", lambda: data_cloud.key_stats())
        echo.arm("datacloud.query", 500)
        outcomes.attempt("tenant 500 quoting the token", lambda: data_cloud.key_stats())
        echo.arm("datacloud.query", 400)
        outcomes.attempt("tenant 400 quoting the token", lambda: data_cloud.key_stats())
        server.emulator.tokens.expire_all()
        echo.arm("datacloud.token", 500)
        outcomes.attempt("exchange 500 quoting the core token", lambda: data_cloud.key_stats())
        echo.arm("datacloud.token", 401)
        outcomes.attempt("exchange 401 quoting the core token", lambda: data_cloud.key_stats())
        echo.arm("", 0, 0)
        fresh_core = jwt_salesforce(server, secrets.key)
        echo.arm("oauth.token", 400)
        outcomes.attempt("jwt endpoint 400 quoting the assertion", lambda: fresh_core.limits())
        echo.arm("", 0, 0)
        secrets.faults({"http": [{"kind": "throttle", "rate": 1.0, "retry_after_s": 0}]})
        outcomes.attempt("throttled", lambda: data_cloud.key_stats())
        secrets.faults({"http": [{"kind": "error", "status": 500, "endpoints": ["datacloud.*"]}]})
        outcomes.attempt("injected 500", lambda: data_cloud.key_stats())
    finally:
        echo.arm("", 0, 0)
        secrets.faults({})
        for resource in (data_cloud, core, stranger):
            resource.teardown_after_execution(None)  # type: ignore[arg-type]

    assert outcomes.failures.get("unknown key") == "AuthError", outcomes.failures
    for label in ("jwt login", "data cloud", "both tokens expired mid-run"):
        assert label not in outcomes.failures, outcomes.failures
    for label in ("tenant 401 quoting the token", "exchange 500 quoting the core token"):
        assert label in outcomes.failures, outcomes.failures
    assert any(t.startswith("eyJ") for t in secrets.recorder.seen)  # JWTs and Data Cloud tokens
    assert_nothing_leaked(secrets, outcomes, debug_logs, capsys, core, stranger, data_cloud)


def test_secret_free_reprs_of_everything_that_holds_a_credential(secrets: Secrets) -> None:
    resource = salesforce(secrets.server)
    try:
        token = resource.core_token()
        holders = [resource, resource.client_config(), resource.client_config().credentials()]
        holders += [token, DataCloudResource(salesforce=resource)]
        texts = [repr(h) for h in holders] + [str(h) for h in holders]
        assert not leaks(texts, {CLIENT_SECRET, token.value}), texts
    finally:
        resource.teardown_after_execution(None)  # type: ignore[arg-type]


def test_key_file_path_is_config_but_the_key_never_is(secrets: Secrets, tmp_path: Path) -> None:
    resource = jwt_salesforce(secrets.server, secrets.key)
    assert str(secrets.key.private_key_file) in repr(resource.client_config())
    assert not leaks([repr(resource.client_config()), repr(resource)], secrets.key.needles)
