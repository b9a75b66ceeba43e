"""Resource wiring from environment variables, resolved when a run starts (never at import)."""

from __future__ import annotations

import os

import dagster as dg

from resources.data_cloud import DataCloudResource
from resources.salesforce import SalesforceResource

ENV_VARS = (
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_CLIENT_ID",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_CA_BUNDLE",
    "SALESFORCE_API_VERSION",
)
# Optional: the org's Bulk ingest pace in rows/s (default 20,000); sets when a job is first polled.
ORG_PACE_ENV = "SFLOAD_ORG_ROWS_PER_S"


def salesforce_from_env() -> SalesforceResource:
    """Every variable must be defined when a run starts; unused ones may be empty (for example
    SALESFORCE_PRIVATE_KEY_FILE with client credentials, SALESFORCE_CA_BUNDLE for a real org).
    SFLOAD_ORG_ROWS_PER_S is optional: only whether it exists is looked at here."""
    optional = (
        {"expected_rows_per_s": dg.EnvVar.int(ORG_PACE_ENV)} if ORG_PACE_ENV in os.environ else {}
    )
    return SalesforceResource(
        login_url=dg.EnvVar("SALESFORCE_LOGIN_URL"),
        client_id=dg.EnvVar("SALESFORCE_CLIENT_ID"),
        client_secret=dg.EnvVar("SALESFORCE_CLIENT_SECRET"),
        username=dg.EnvVar("SALESFORCE_USERNAME"),
        private_key_file=dg.EnvVar("SALESFORCE_PRIVATE_KEY_FILE"),
        ca_bundle=dg.EnvVar("SALESFORCE_CA_BUNDLE"),
        api_version=dg.EnvVar("SALESFORCE_API_VERSION"),
        **optional,
    )


def build_resources(salesforce: SalesforceResource | None = None) -> dict[str, object]:
    """Resource keys ``salesforce`` and ``data_cloud`` (Data Cloud logs in through Salesforce)."""
    salesforce = salesforce or salesforce_from_env()
    return {"salesforce": salesforce, "data_cloud": DataCloudResource(salesforce=salesforce)}
