"""Auth, REST SOQL, limits, SOQL quoting and the Dagster resource against the emulator."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sf_support import client_config

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer
from resources.salesforce import (
    AuthError,
    BadRequestError,
    ClientAuthMethod,
    SalesforceClient,
    SalesforceResource,
    quote_string,
)

pytestmark = pytest.mark.emulator


def test_client_credentials_form_and_basic(fresh_emulator: EmulatorServer) -> None:
    for method in ClientAuthMethod:
        with SalesforceClient(client_config(fresh_emulator, client_auth=method)) as sf:
            token = sf.access_token()
            assert token.instance_url == fresh_emulator.url
            assert token.value not in repr(token) and token.value not in str(token)


def test_bad_secret_raises_auth_error_without_the_secret(fresh_emulator: EmulatorServer) -> None:
    config = client_config(fresh_emulator, client_secret="wrong-secret-value")
    with SalesforceClient(config) as sf, pytest.raises(AuthError) as caught:
        sf.access_token()
    assert caught.value.error in ("invalid_client", "invalid_client_id")
    assert "wrong-secret-value" not in str(caught.value) + caught.value.body
    assert "wrong-secret-value" not in repr(config)


def test_jwt_bearer_flow(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "key.pem"
    public = tmp_path / "pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = EmulatorConfig(data_dir=tmp_path / "emu", jwt_public_key_file=public)
    with EmulatorServer(config) as server:
        info = server.ready_info()
        sf_config = client_config(
            server, client_secret="", username=info["username"], private_key_file=str(private)
        )
        with SalesforceClient(sf_config) as sf:
            assert sf.limits().daily_api_requests.max > 0


def test_concurrent_refreshes_collapse_into_one(
    fresh_emulator: EmulatorServer,
) -> None:
    with SalesforceClient(client_config(fresh_emulator)) as sf:
        sf.limits()
        fresh_emulator.emulator.tokens.expire_all()
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def work() -> None:
            barrier.wait()
            try:
                sf.limits()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sf.auth.fetch_count == 2


def test_rest_query_count_limits_and_errors(sf: SalesforceClient) -> None:
    assert sf.count("SELECT COUNT() FROM Opportunity") == 0
    page = sf.query("SELECT Id FROM Opportunity")
    assert page["totalSize"] == 0 and page["records"] == []
    limits = sf.limits()
    assert limits.daily_api_requests.remaining <= limits.daily_api_requests.max
    with pytest.raises(BadRequestError) as caught:
        sf.query("SELECT Bogus FROM Opportunity")
    assert caught.value.error_code == "INVALID_FIELD"
    with pytest.raises(ValueError):
        sf.count("SELECT Id FROM Opportunity")


def test_request_limit_exceeded_is_typed_and_names_the_allowance(
    sf: SalesforceClient, fresh_emulator: EmulatorServer
) -> None:
    from resources.salesforce import RequestLimitExceededError

    sf.limits()
    fresh_emulator.emulator.services["limits"].set_max("DailyApiRequests", 0)
    before = sf.api_calls
    with pytest.raises(RequestLimitExceededError) as caught:
        sf.limits()
    assert caught.value.allowance == "TotalRequests"
    assert sf.api_calls == before + 1  # not retried


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from test_bulk_emulator import SPEC, opportunities

    from resources.salesforce import BulkIngest

    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("soql"))
    ids = ["a", "b'c", 'd"e', "f\\g", "h\nI", "j%k_l", "m\tn", "o -- p", "é😀", "Z"]
    with EmulatorServer(config) as server, SalesforceClient(client_config(server)) as sf:
        from sf_support import fast_ingest

        report = BulkIngest(sf, SPEC, fast_ingest()).run(opportunities(ids).to_batches())
        assert report.created == len(ids)
        yield sf, ids


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_soql_quoting_selects_exactly_the_quoted_id(seeded, data) -> None:  # type: ignore[no-untyped-def]
    sf, ids = seeded
    probe = data.draw(
        st.sampled_from(ids) | st.text(st.characters(blacklist_characters="\x00"), max_size=8)
    )
    soql = f"SELECT External_Id__c FROM Opportunity WHERE External_Id__c = {quote_string(probe)}"  # noqa: S608
    found = [r["External_Id__c"] for r in sf.query_all(soql)]
    expected = [i for i in ids if i.lower() == probe.lower()]  # External ID: case-insensitive
    assert found == expected


def test_resource_setup_teardown_and_no_secret_in_repr(fresh_emulator: EmulatorServer) -> None:
    info = fresh_emulator.ready_info()
    resource = SalesforceResource(
        login_url=info["login_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        ca_bundle=info["ca_bundle"],
    )
    assert info["client_secret"] not in repr(resource)
    with dg.build_resources({"salesforce": resource}) as built:
        sf = built.salesforce
        token = sf.core_token()
        assert token.instance_url == fresh_emulator.url
        assert sf.count("SELECT COUNT() FROM Opportunity") == 0
