"""The Data Cloud client: Query API V2 streamed as Arrow, and the key-range operations of the loader.

Paging: ``POST /api/v2/query`` returns the first page and a single-use ``nextBatchId``; each
``GET /api/v2/query/{nextBatchId}`` returns the next. Pages are decoded one at a time and handed
out as ``pyarrow.RecordBatch`` through a ``RecordBatchReader``; at most one page is held.

What is repeated, and what is not:

* submit (POST): read-only, so repeated on 429/503 (after ``Retry-After``), 5xx and connection
  errors, a bounded number of times; on 401 the token is renewed once and the call repeated.
* page (GET): repeated only when the server certainly did not consume the batch id — 429 (throttled)
  and 401 (rejected before the handler; token renewed once). Anything else (5xx, 404, dropped
  connection, timeout) raises :class:`QueryRestartRequiredError`: the cursor is gone and the query
  must be re-run; :meth:`DataCloudClient.rows` callers resume with ``after=<last key received>``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import requests

from resources.data_cloud import queries
from resources.data_cloud.auth import CoreAuth, DataCloudAuth, DataCloudToken
from resources.data_cloud.errors import (
    DataCloudError,
    DataCloudServerError,
    QueryRestartRequiredError,
    error_from_response,
)
from resources.data_cloud.pages import arrow_page_batches, json_page_batch, schema_from_metadata
from resources.data_cloud.queries import KeyedObject
from resources.data_cloud.resume import resuming_batches
from resources.http import HttpClient, HttpSettings

QUERY_PATH = "/api/v2/query"
ARROW_HEADER = "enable-arrow-stream"


@dataclass(frozen=True)
class KeyStats:
    row_count: int  # all rows, including rows with a NULL key
    key_count: int  # rows with a non-NULL key
    min_key: str | None
    max_key: str | None


class DataCloudClient:
    def __init__(
        self,
        auth: DataCloudAuth,
        http: HttpClient,
        obj: KeyedObject | None = None,
        prefer_arrow: bool = True,
        max_restarts: int = 0,
    ) -> None:
        self.auth = auth
        self.http = http
        self.obj = obj or KeyedObject()
        self.prefer_arrow = prefer_arrow
        self.max_restarts = max_restarts  # default for rows()/ids(); 0 = raise on a lost cursor

    @classmethod
    def connect(
        cls,
        core: CoreAuth,
        http: HttpSettings | None = None,
        obj: KeyedObject | None = None,
        prefer_arrow: bool = True,
        dataspace: str | None = None,
        renew_margin_s: float = 60.0,
        max_restarts: int = 0,
    ) -> DataCloudClient:
        client = HttpClient(http or HttpSettings())
        auth = DataCloudAuth(core, client, dataspace=dataspace, renew_margin_s=renew_margin_s)
        return cls(auth, client, obj=obj, prefer_arrow=prefer_arrow, max_restarts=max_restarts)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DataCloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def api_calls(self) -> int:
        return self.http.calls.total

    # -- operations the platform needs ------------------------------------------------------

    def query_arrow(self, sql: str, arrow: bool | None = None) -> pa.RecordBatchReader:
        """Any SELECT, streamed page by page. ``arrow`` overrides the Arrow-page preference."""
        use_arrow = self.prefer_arrow if arrow is None else arrow
        first = self._submit(sql, use_arrow)
        schema = schema_from_metadata(first.get("metadata") or {})
        batches = self._batches([first], schema, use_arrow)
        return pa.RecordBatchReader.from_batches(schema, batches)

    def key_stats(self) -> KeyStats:
        row = _single_row(self.query_arrow(queries.key_stats_sql(self.obj)).read_all())
        return KeyStats(
            row_count=int(row[queries.STATS_ROWS] or 0),
            key_count=int(row[queries.STATS_KEYS] or 0),
            min_key=row[queries.STATS_MIN],
            max_key=row[queries.STATS_MAX],
        )

    def quantile_boundaries(self, fractions: Sequence[float]) -> list[str | None]:
        """The key at each fraction (``percentile_disc``); None when there are no keys."""
        table = self.query_arrow(queries.quantile_sql(self.obj, fractions)).read_all()
        rows = table.to_pylist()
        if not rows:
            return [None] * len(fractions)
        key_at = {int(r[queries.QUANTILE_POSITION]): r[queries.QUANTILE_KEY] for r in rows}
        key_count = int(rows[0][queries.QUANTILE_KEY_COUNT])
        return [key_at[queries.quantile_position(f, key_count)] for f in fractions]

    def count_ranges(self, boundaries: Sequence[str]) -> list[int]:
        """Row counts of the ``len(boundaries) + 1`` half-open ranges, in one query.

        Range 0 is ``(-inf, boundaries[0])`` and also holds NULL keys; range ``i`` is
        ``[boundaries[i-1], boundaries[i])``; the last is ``[boundaries[-1], +inf)``.
        """
        table = self.query_arrow(queries.count_ranges_sql(self.obj, boundaries)).read_all()
        counts = [0] * (len(boundaries) + 1)
        for bucket, count in zip(
            table.column(queries.BUCKET).to_pylist(),
            table.column(queries.BUCKET_ROWS).to_pylist(),
            strict=True,
        ):
            counts[int(bucket)] = int(count)
        return counts

    def rows(
        self,
        lo: str | None,
        hi: str | None,
        after: str | None = None,
        columns: Sequence[str] | None = None,
        arrow: bool | None = None,
        max_restarts: int | None = None,
    ) -> pa.RecordBatchReader:
        """Rows whose key is in ``[lo, hi)`` (None = unbounded) and ``> after``, ordered by key.

        The range unbounded below also holds rows with a NULL key (they sort first). With
        ``max_restarts > 0`` (default: the client's) a lost cursor is resumed by keyset up to that
        many times (see ``resume.py``; the key column must then be selected); else it raises
        :class:`QueryRestartRequiredError`.
        """
        if max_restarts is None:
            max_restarts = self.max_restarts
        sql = queries.range_sql(self.obj, lo, hi, after=after, columns=columns)
        first = self.query_arrow(sql, arrow=arrow)
        if max_restarts <= 0:
            return first
        if first.schema.get_field_index(self.obj.key) < 0:
            raise ValueError(f"resuming needs the key column {self.obj.key!r} among the columns")

        def reopen(from_key: str | None) -> pa.RecordBatchReader:
            if from_key is None:
                return self.query_arrow(sql, arrow=arrow)
            again = queries.range_sql(self.obj, from_key, hi, columns=columns)
            return self.query_arrow(again, arrow=arrow)

        batches = resuming_batches(first, self.obj.key, reopen, max_restarts)
        return pa.RecordBatchReader.from_batches(first.schema, batches)

    def ids(
        self,
        lo: str | None,
        hi: str | None,
        after: str | None = None,
        arrow: bool | None = None,
        max_restarts: int | None = None,
    ) -> pa.RecordBatchReader:
        """Just the keys of ``[lo, hi)``, ordered."""
        return self.rows(
            lo, hi, after=after, columns=[self.obj.key], arrow=arrow, max_restarts=max_restarts
        )

    # -- Query API V2 -------------------------------------------------------------------------

    def _batches(
        self, pages: list[dict[str, Any]], schema: pa.Schema, arrow: bool
    ) -> Iterator[pa.RecordBatch]:
        """``pages`` holds the first page; it is emptied so no decoded page outlives its batches."""
        page = pages.pop()
        query_id = str(page.get("queryId") or "")
        delivered = 0
        while True:
            for batch in _page_batches(page, schema):
                delivered += batch.num_rows
                yield batch
            next_id = page.get("nextBatchId")
            done = page.get("done") is True
            page = {}  # let the decoded page go before the next one arrives
            # Tolerates an empty last page and a spurious done:false without a next id.
            if done or not next_id:
                return
            page = self._next_page(str(next_id), query_id, delivered, arrow)

    def _submit(self, sql: str, arrow: bool) -> dict[str, Any]:
        token = self.auth.token()
        try:
            response = self._post(token, sql, arrow)
            if response.status_code == 401:
                token = self.auth.renew(token)
                response = self._post(token, sql, arrow)
        except requests.RequestException as exc:
            raise DataCloudServerError(f"query submit failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise error_from_response(response, "query submit")
        return _json_page(response, "query submit")

    def _next_page(
        self, batch_id: str, query_id: str, delivered: int, arrow: bool
    ) -> dict[str, Any]:
        token = self.auth.token()
        renewed = False
        throttled = 0
        while True:
            try:
                response = self._get(token, batch_id, arrow)
            except requests.RequestException as exc:
                raise self._restart(
                    f"page fetch failed ({type(exc).__name__})", query_id, delivered
                ) from None
            status = response.status_code
            if status == 200:
                try:
                    return _json_page(response, "page fetch")
                except DataCloudError:
                    raise self._restart(
                        "page fetch returned no JSON", query_id, delivered
                    ) from None
            # 401 and 429 are refusals before the batch id is consumed: safe to ask again.
            if status == 401 and not renewed:
                token, renewed = self.auth.renew(token), True
            elif status == 401:
                raise error_from_response(response, "page fetch")
            elif status == 429 and throttled < self.http.settings.max_retries:
                time.sleep(self.http.retry_after_s(response) or self.http.backoff_s(throttled))
                throttled += 1
            else:
                error = error_from_response(response, "page fetch")
                raise QueryRestartRequiredError(
                    error.message,
                    query_id=query_id,
                    rows_delivered=delivered,
                    status=error.status,
                    error_code=error.error_code,
                    body=error.body,
                )

    def _post(self, token: DataCloudToken, sql: str, arrow: bool) -> requests.Response:
        # A query submit is read-only: repeating it only leaves an unused cursor to expire.
        return self.http.request(
            "POST",
            token.tenant_url + QUERY_PATH,
            headers=_headers(token, arrow),
            json={"sql": sql},
            idempotent=True,
            label="datacloud.query",
        )

    def _get(self, token: DataCloudToken, batch_id: str, arrow: bool) -> requests.Response:
        # The id is opaque: never parsed, only made safe as one path segment.
        url = f"{token.tenant_url}{QUERY_PATH}/{quote(batch_id, safe='')}"
        # Not idempotent: the HttpClient repeats it only when it certainly never reached the server.
        return self.http.request(
            "GET", url, headers=_headers(token, arrow), idempotent=False, label="datacloud.batch"
        )

    @staticmethod
    def _restart(message: str, query_id: str, delivered: int) -> QueryRestartRequiredError:
        return QueryRestartRequiredError(message, query_id=query_id, rows_delivered=delivered)


def _headers(token: DataCloudToken, arrow: bool) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
    if arrow:
        headers[ARROW_HEADER] = "true"
    return headers


def _json_page(response: requests.Response, action: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise DataCloudServerError(f"{action} answered 200 with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise DataCloudServerError(f"{action} answered 200 with an unexpected body")
    return body


def _page_batches(page: Mapping[str, Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """JSON ``data`` or Arrow ``arrowStream``, whichever the server sent (Arrow falls back to JSON)."""
    if "arrowStream" in page:
        yield from arrow_page_batches(page["arrowStream"], schema)
        return
    rows = page.get("data") or []
    if rows:
        yield json_page_batch(rows, schema)


def _single_row(table: pa.Table) -> dict[str, Any]:
    rows: list[dict[str, Any]] = table.to_pylist()
    if len(rows) != 1:
        raise DataCloudError(f"an aggregate query returned {len(rows)} rows instead of 1")
    return rows[0]
