"""A fresh core org for emulator tests: a started server, a logged-in session, Opportunity rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer


def start_org(data_dir: Path, **config: Any) -> tuple[EmulatorServer, requests.Session]:
    server = EmulatorServer(EmulatorConfig(data_dir=data_dir, **config)).start()
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
    session.verify = str(server.ca_bundle)
    token = session.post(
        f"{server.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
        },
        timeout=10,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return server, session


def insert_opportunities(server: EmulatorServer, count: int, deleted_every: int = 0) -> None:
    """``count`` rows with Ids ``006…<n>`` and External Ids ``EXT-<n>`` (n zero-padded), in SQL."""
    deleted = f"(i % {deleted_every} = 0)" if deleted_every else "false"
    with server.emulator.store.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO "Opportunity" ("Id", "External_Id__c", "Name", "StageName", "CloseDate",
                                       "Amount", "IsPrivate", "IsDeleted", "CreatedDate")
            SELECT '006' || lpad(CAST(i AS VARCHAR), 15, '0'),
                   'EXT-' || lpad(CAST(i AS VARCHAR), 7, '0'),
                   'Deal ' || i,
                   CASE WHEN i % 2 = 0 THEN 'Prospecting' ELSE 'Closed Won' END,
                   DATE '2024-01-01' + CAST(i % 365 AS INTEGER),
                   CAST(i AS DECIMAL(18,2)) / 4,
                   false,
                   {deleted},
                   TIMESTAMPTZ '2024-03-04 05:06:07.089+00'
            FROM range(1, {count} + 1) t(i)
            """  # noqa: S608 - test data, integers only
        )
