"""The resources as a run builds them from the environment, including the optional org pace."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.resources import ENV_VARS, ORG_PACE_ENV, salesforce_from_env

ENVIRONMENT = {name: "" for name in ENV_VARS} | {
    "SALESFORCE_LOGIN_URL": "https://127.0.0.1:1",
    "SALESFORCE_CLIENT_ID": "client",
    "SALESFORCE_CLIENT_SECRET": "secret",
    "SALESFORCE_API_VERSION": "66.0",
}


def _expected_pace(monkeypatch: pytest.MonkeyPatch, pace: str | None) -> float:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    if pace is None:
        monkeypatch.delenv(ORG_PACE_ENV, raising=False)
    else:
        monkeypatch.setenv(ORG_PACE_ENV, pace)
    with dg.build_resources({"salesforce": salesforce_from_env()}) as built:
        return built.salesforce.ingest_settings().expected_rows_per_s


def test_org_pace_comes_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _expected_pace(monkeypatch, "150000") == 150_000.0


def test_org_pace_defaults_to_a_real_orgs_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _expected_pace(monkeypatch, None) == 20_000.0
