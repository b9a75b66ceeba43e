"""A wrong CA is refused: our clients trust exactly the configured bundle, whatever the environment.

This machine (and many CI images) export ``REQUESTS_CA_BUNDLE``; in ``requests`` that variable silently
replaces ``session.verify``. These tests point it at the *emulator's* CA while the client is configured
with an unrelated one, and the other way round, to show that configuration, not the environment, decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.server import EmulatorServer
from emulator.tls import ensure_tls_files
from resources.data_cloud import DataCloudAuthError, DataCloudClient, SalesforceCoreAuth
from resources.http import HttpSettings
from resources.salesforce import ConnectionFailedError, SalesforceClient, SalesforceConfig

pytestmark = pytest.mark.emulator

CA_ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@pytest.fixture(scope="module")
def unrelated_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second, unrelated private CA (same generator as the emulator's, different key)."""
    return str(ensure_tls_files(tmp_path_factory.mktemp("unrelated-ca")).ca_cert)


@pytest.fixture
def env_trusts(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def point_at(bundle: str) -> None:
        for name in CA_ENV_VARS:
            monkeypatch.setenv(name, bundle)

    yield point_at


def config(server: EmulatorServer, ca_bundle: str | None) -> SalesforceConfig:
    info = server.ready_info()
    return SalesforceConfig(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=ca_bundle,
        connect_timeout_s=5.0,
        read_timeout_s=10.0,
        max_retries=3,
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
    )


def test_the_unrelated_ca_really_differs(
    emulator_server: EmulatorServer, unrelated_ca: str
) -> None:
    assert Path(unrelated_ca).read_bytes() != Path(str(emulator_server.ca_bundle)).read_bytes()


@pytest.mark.parametrize("env_points_at", ["emulator CA", "unset"])
def test_salesforce_client_with_a_wrong_ca_is_refused_at_once(
    emulator_server: EmulatorServer,
    unrelated_ca: str,
    env_trusts: object,
    monkeypatch: pytest.MonkeyPatch,
    env_points_at: str,
) -> None:
    if env_points_at == "emulator CA":
        env_trusts(str(emulator_server.ca_bundle))  # type: ignore[operator]
    else:
        for name in CA_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
    with SalesforceClient(config(emulator_server, unrelated_ca)) as client:
        with pytest.raises(ConnectionFailedError) as refused:
            client.limits()
        assert "SSLError" in str(refused.value)
        assert client.api_calls == 1  # a certificate problem is not retried


def test_system_trust_store_does_not_trust_the_emulator_even_if_the_env_does(
    emulator_server: EmulatorServer, env_trusts: object
) -> None:
    env_trusts(str(emulator_server.ca_bundle))  # type: ignore[operator]
    with (
        SalesforceClient(config(emulator_server, None)) as client,
        pytest.raises(ConnectionFailedError, match="SSLError"),
    ):
        client.access_token()


def test_the_configured_ca_wins_over_a_wrong_environment(
    emulator_server: EmulatorServer, unrelated_ca: str, env_trusts: object
) -> None:
    env_trusts(unrelated_ca)  # type: ignore[operator]
    with SalesforceClient(config(emulator_server, str(emulator_server.ca_bundle))) as client:
        assert "DailyApiRequests" in client.limits().by_name


def test_data_cloud_client_with_a_wrong_ca_is_refused(
    emulator_server: EmulatorServer, unrelated_ca: str, env_trusts: object
) -> None:
    env_trusts(str(emulator_server.ca_bundle))  # type: ignore[operator]
    with SalesforceClient(config(emulator_server, str(emulator_server.ca_bundle))) as core:
        wrong = HttpSettings(connect_timeout_s=5.0, read_timeout_s=10.0, ca_bundle=unrelated_ca)
        with (
            DataCloudClient.connect(SalesforceCoreAuth(core.auth), http=wrong) as client,
            pytest.raises(DataCloudAuthError, match="SSLError"),
        ):
            client.key_stats()
        right = HttpSettings(
            connect_timeout_s=5.0, read_timeout_s=10.0, ca_bundle=str(emulator_server.ca_bundle)
        )
        with DataCloudClient.connect(SalesforceCoreAuth(core.auth), http=right) as client:
            assert client.key_stats().row_count >= 0
