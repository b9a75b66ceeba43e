import ssl

import pytest
import requests

from emulator.server import EmulatorServer

pytestmark = pytest.mark.emulator


def test_serves_tls_on_loopback_with_its_own_ca(
    emulator_server: EmulatorServer, https: requests.Session
) -> None:
    assert emulator_server.url.startswith("https://127.0.0.1:")
    response = https.get(f"{emulator_server.url}/no/such/route", timeout=10)
    assert response.status_code == 404
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_refuses_clients_that_do_not_trust_its_ca(emulator_server: EmulatorServer) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(
            f"{emulator_server.url}/services/data",
            timeout=10,
            verify=ssl.get_default_verify_paths().cafile or True,
        )
