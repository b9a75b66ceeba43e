"""``SalesforceClient``: authenticated calls, REST SOQL, ``/limits``, Bulk 2.0 jobs. No Dagster here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa
import requests

from resources.http import HttpClient, HttpSettings
from resources.salesforce import protocol
from resources.salesforce.auth import AccessToken, Authenticator, Credentials
from resources.salesforce.errors import (
    ConnectionFailedError,
    SalesforceError,
    error_from_response,
)
from resources.salesforce.jobs import read_csv_response
from resources.salesforce.models import JobInfo, Limits


@dataclass(frozen=True)
class SalesforceConfig(Credentials):
    """The org's ``Credentials`` (same fields, same order) plus connection settings."""

    ca_bundle: str | None = None
    api_version: str = protocol.DEFAULT_API_VERSION
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0

    def credentials(self) -> Credentials:
        return Credentials(**{f.name: getattr(self, f.name) for f in fields(Credentials)})

    def http_settings(self) -> HttpSettings:
        return HttpSettings(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            ca_bundle=self.ca_bundle,
        )


class SalesforceClient:
    """One org connection: a shared token, one HTTP session, typed errors."""

    def __init__(self, config: SalesforceConfig, http: HttpClient | None = None) -> None:
        self.config = config
        self.http = http or HttpClient(config.http_settings())
        self.auth = Authenticator(config.credentials(), self.http)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def api_calls(self) -> int:
        return self.http.calls.total

    def access_token(self) -> AccessToken:
        """The core token and instance URL (the Data Cloud resource exchanges this)."""
        return self.auth.token()

    def data_url(self, path: str = "") -> str:
        base = f"{self.auth.token().instance_url}/services/data/v{self.config.api_version}"
        return f"{base}/{path.lstrip('/')}" if path else base

    def call(
        self,
        method: str,
        path: str,
        *,
        expected: Iterable[int] = (200,),
        idempotent: bool | None = None,
        label: str = "",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """An authenticated call to ``path`` (relative to ``/services/data/vXX.X/``, or absolute
        ``/services/...``). On 401 INVALID_SESSION_ID the token is refreshed once and the call
        repeated; any other non-expected status raises the mapped ``SalesforceError``."""
        expected_statuses = set(expected)
        token = self.auth.token()
        response = self._send(method, path, token, idempotent, label, headers, kwargs)
        if response.status_code == 401 and protocol.INVALID_SESSION_ID in response.text:
            response.close()
            token = self.auth.refresh(token)
            response = self._send(method, path, token, idempotent, label, headers, kwargs)
        if response.status_code not in expected_statuses:
            error = error_from_response(response, f"{method} {label or path}")
            response.close()
            raise error
        return response

    def get_csv(
        self,
        path: str,
        *,
        label: str,
        params: dict[str, Any] | None = None,
        columns: list[str] | None = None,
    ) -> tuple[Mapping[str, str], pa.Table]:
        """GET a CSV resource (job results, query result pages: all re-readable) into Arrow with
        the response headers. A body cut off mid-transfer is fetched again, like any idempotent
        call whose answer was lost."""
        attempt = 0
        while True:
            response = self.call(
                "GET", path, params=params, headers={"Accept": "text/csv"}, stream=True, label=label
            )
            try:
                return response.headers, read_csv_response(response, columns)
            except requests.RequestException as exc:
                response.close()
                self.http.retry_read(attempt, exc)
                attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        token: AccessToken,
        idempotent: bool | None,
        label: str,
        headers: dict[str, str] | None,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        url = self._url(path, token)
        all_headers = {"Authorization": f"Bearer {token.value}", "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            return self.http.request(
                method,
                url,
                idempotent=idempotent,
                label=label or path,
                headers=all_headers,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ConnectionFailedError(
                f"{method} {label or path} failed after retries: {type(exc).__name__}"
            ) from None

    def _url(self, path: str, token: AccessToken) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        if path.startswith("/services/"):
            return token.instance_url + path
        return f"{token.instance_url}/services/data/v{self.config.api_version}/{path.lstrip('/')}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- REST ----------------------------------------------------------------------------------

    def limits(self) -> Limits:
        return Limits.from_json(self.call("GET", "limits", label="limits").json())

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The first page of a REST SOQL query (``totalSize``, ``done``, ``records``...)."""
        resource = "queryAll" if include_deleted else "query"
        return dict(self.call("GET", resource, params={"q": soql}, label=resource).json())

    def query_all(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a REST SOQL query, following ``nextRecordsUrl``."""
        page = self.query(soql, include_deleted=include_deleted)
        while True:
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.call("GET", str(next_url), label="query_more").json()

    def count(self, soql: str) -> int:
        """``SELECT COUNT() FROM ...`` -> the count (``totalSize``)."""
        if "count()" not in soql.lower():
            raise ValueError("count() expects a SELECT COUNT() query")
        return int(self.query(soql)["totalSize"])

    # -- Bulk 2.0 jobs -------------------------------------------------------------------------

    def get_job(self, job_id: str, kind: str = "ingest") -> JobInfo:
        response = self.call("GET", f"jobs/{kind}/{job_id}", label=f"{kind}_job_info")
        return JobInfo.from_json(response.json())

    def abort_job(self, job_id: str, kind: str = "ingest") -> JobInfo:
        """Abort an open/queued/running job; a job already finished is returned as it is."""
        try:
            response = self.call(
                "PATCH",
                f"jobs/{kind}/{job_id}",
                json={"state": protocol.JobState.ABORTED.value},
                idempotent=True,
                label=f"{kind}_abort",
            )
        except SalesforceError as exc:
            if exc.error_code != protocol.INVALIDJOBSTATE:
                raise
            return self.get_job(job_id, kind)
        return JobInfo.from_json(response.json())

    def list_jobs(self, kind: str = "ingest") -> Iterator[JobInfo]:
        """Every Bulk 2.0 job of that kind visible to the user, following ``nextRecordsUrl``."""
        job_type = protocol.JobType.V2_INGEST if kind == "ingest" else protocol.JobType.V2_QUERY
        page = self.call(
            "GET", f"jobs/{kind}", params={"jobType": job_type.value}, label=f"{kind}_list"
        ).json()
        while True:
            for record in page.get("records") or []:
                yield JobInfo.from_json(record)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.call("GET", str(next_url), label=f"{kind}_list").json()

    def list_open_jobs(self, object_name: str | None = None) -> list[JobInfo]:
        """Ingest jobs not yet finished (Open, UploadComplete, InProgress)."""
        return [
            job
            for job in self.list_jobs("ingest")
            if not job.state.is_terminal and (object_name is None or job.object == object_name)
        ]

    def bulk_query(
        self, soql: str, *, max_records: int = 50_000, include_deleted: bool = False, **poll: Any
    ) -> Iterator[pa.RecordBatch]:
        from resources.salesforce.bulk_query import run_bulk_query

        return run_bulk_query(
            self, soql, max_records=max_records, include_deleted=include_deleted, **poll
        )
