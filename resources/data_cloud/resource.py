"""``DataCloudResource`` (resource key ``data_cloud``): the Dagster shell around DataCloudClient.

It logs in through the ``salesforce`` resource (the token exchange needs no credentials of its
own), so the only secrets stay in ``SalesforceResource`` as ``dg.EnvVar``s.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pyarrow as pa
from pydantic import PrivateAttr

from resources.data_cloud.auth import SalesforceCoreAuth
from resources.data_cloud.client import DataCloudClient, KeyStats
from resources.data_cloud.queries import DEFAULT_KEY_COLUMN, DEFAULT_OBJECT, KeyedObject
from resources.http import HttpSettings
from resources.salesforce.resource import SalesforceResource


class DataCloudResource(dg.ConfigurableResource["DataCloudResource"]):
    """Salesforce Data Cloud, read with Query API V2 as Arrow pages."""

    salesforce: SalesforceResource
    object_name: str = DEFAULT_OBJECT
    key_column: str = DEFAULT_KEY_COLUMN
    prefer_arrow: bool = True
    dataspace: str | None = None
    token_renew_margin_s: float = 60.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0
    max_retries: int = 5
    # A lost V2 cursor mid-range is resumed by keyset (exact, see resume.py) this many times.
    range_restarts: int = 3

    _client: DataCloudClient | None = PrivateAttr(default=None)

    def __repr__(self) -> str:
        return (
            f"DataCloudResource(object_name={self.object_name!r}, key_column={self.key_column!r}, "
            f"salesforce={self.salesforce!r})"
        )

    __str__ = __repr__

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = self._open()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> DataCloudClient:
        if self._client is None:  # used outside a run (tests, CLI): open lazily
            self._client = self._open()
        return self._client

    def _open(self) -> DataCloudClient:
        return DataCloudClient.connect(
            SalesforceCoreAuth(self.salesforce.client.auth),
            http=HttpSettings(
                connect_timeout_s=self.connect_timeout_s,
                read_timeout_s=self.read_timeout_s,
                max_retries=self.max_retries,
                ca_bundle=self.salesforce.ca_bundle or None,
            ),
            obj=KeyedObject(name=self.object_name, key=self.key_column),
            prefer_arrow=self.prefer_arrow,
            dataspace=self.dataspace or None,
            renew_margin_s=self.token_renew_margin_s,
            max_restarts=self.range_restarts,
        )

    # The operations, delegated (see DataCloudClient for the contracts).

    def key_stats(self) -> KeyStats:
        return self.client.key_stats()

    def quantile_boundaries(self, fractions: Sequence[float]) -> list[str | None]:
        return self.client.quantile_boundaries(fractions)

    def count_ranges(self, boundaries: Sequence[str]) -> list[int]:
        return self.client.count_ranges(boundaries)

    def rows(
        self,
        lo: str | None,
        hi: str | None,
        after: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        return self.client.rows(lo, hi, after=after, columns=columns)

    def ids(self, lo: str | None, hi: str | None, after: str | None = None) -> pa.RecordBatchReader:
        return self.client.ids(lo, hi, after=after)

    def query_arrow(self, sql: str) -> pa.RecordBatchReader:
        return self.client.query_arrow(sql)
