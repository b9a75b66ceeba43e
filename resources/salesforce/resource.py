"""``SalesforceResource`` (resource key ``salesforce``): the Dagster shell around SalesforceClient."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import dagster as dg
import pyarrow as pa
from pydantic import PrivateAttr

from resources.salesforce import protocol
from resources.salesforce.auth import AccessToken, ClientAuthMethod
from resources.salesforce.bulk import (
    BulkIngest,
    IngestReport,
    IngestSettings,
    JobFinished,
    JobSubmitted,
    ObjectSpec,
)
from resources.salesforce.client import SalesforceClient, SalesforceConfig
from resources.salesforce.csv_encoding import CsvOptions, NullPolicy
from resources.salesforce.jobs import PollSettings
from resources.salesforce.models import Limits


class SalesforceResource(dg.ConfigurableResource["SalesforceResource"]):
    """Salesforce core org. Feed ``client_secret`` with ``dg.EnvVar``; it never appears in repr,
    logs or errors. Client credentials unless ``private_key_file`` is set (then JWT bearer)."""

    login_url: str
    client_id: str
    client_secret: str = ""
    username: str = ""
    private_key_file: str = ""
    client_auth: str = ClientAuthMethod.FORM.value
    ca_bundle: str | None = None
    api_version: str = protocol.DEFAULT_API_VERSION
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_retries: int = 5
    jobs_in_flight: int = 4
    max_job_rows: int = 1_000_000
    max_resubmits: int = 3
    poll_initial_s: float = 1.0
    poll_max_s: float = 20.0
    poll_deadline_s: float = 4 * 3600.0
    # The org's Bulk ingest pace: a job's first poll waits rows / this. Each range reports the pace
    # its jobs showed as ``org_rows_per_second``; set this from it to poll neither early nor late.
    expected_rows_per_s: int = 20_000
    null_policy: str = NullPolicy.SET_NULL.value

    _client: SalesforceClient | None = PrivateAttr(default=None)

    def __repr__(self) -> str:
        return f"SalesforceResource(login_url={self.login_url!r}, client_id={self.client_id!r})"

    __str__ = __repr__

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = SalesforceClient(self.client_config())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client_config(self) -> SalesforceConfig:
        return SalesforceConfig(
            login_url=self.login_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            private_key_file=self.private_key_file,
            client_auth=ClientAuthMethod(self.client_auth),
            ca_bundle=self.ca_bundle or None,
            api_version=self.api_version,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_retries=self.max_retries,
        )

    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(
            max_job_rows=self.max_job_rows,
            jobs_in_flight=self.jobs_in_flight,
            max_resubmits=self.max_resubmits,
            expected_rows_per_s=float(self.expected_rows_per_s),
            poll=PollSettings(
                initial_s=self.poll_initial_s,
                max_s=self.poll_max_s,
                deadline_s=self.poll_deadline_s,
            ),
            csv=CsvOptions(null_policy=NullPolicy(self.null_policy)),
        )

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:  # used outside a run (tests, CLI): open lazily
            self._client = SalesforceClient(self.client_config())
        return self._client

    def core_token(self) -> AccessToken:
        """Core access token + instance URL, for the Data Cloud token exchange."""
        return self.client.access_token()

    def refresh_core_token(self, stale: AccessToken | None = None) -> AccessToken:
        return self.client.auth.refresh(stale)

    def upsert(
        self,
        batches: Iterable[pa.RecordBatch] | None,
        spec: ObjectSpec,
        *,
        resume_job_ids: Iterable[str] = (),
        on_job_submitted: JobSubmitted | None = None,
        on_job_finished: JobFinished | None = None,
    ) -> IngestReport:
        return BulkIngest(
            self.client,
            spec,
            self.ingest_settings(),
            on_job_submitted=on_job_submitted,
            on_job_finished=on_job_finished,
        ).run(batches, resume_job_ids)

    def bulk_query(self, soql: str, max_records: int = 50_000) -> Iterator[pa.RecordBatch]:
        return self.client.bulk_query(soql, max_records=max_records)

    def count(self, soql: str) -> int:
        return self.client.count(soql)

    def limits(self) -> Limits:
        return self.client.limits()
