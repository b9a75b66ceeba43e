"""Typed views of Salesforce JSON: Bulk JobInfo and ``/limits``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resources.salesforce import protocol
from resources.salesforce.protocol import JobState


@dataclass(frozen=True)
class JobInfo:
    id: str
    state: JobState
    object: str = ""
    operation: str = ""
    number_records_processed: int = 0
    number_records_failed: int = 0
    retries: int = 0
    error_message: str = ""
    created_date: str = ""
    api_version: str = ""
    total_processing_time_ms: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobInfo:
        return cls(
            id=str(body["id"]),
            state=JobState(body["state"]),
            object=str(body.get("object") or ""),
            operation=str(body.get("operation") or ""),
            number_records_processed=int(body.get("numberRecordsProcessed") or 0),
            number_records_failed=int(body.get("numberRecordsFailed") or 0),
            retries=int(body.get("retries") or 0),
            error_message=str(body.get("errorMessage") or ""),
            created_date=str(body.get("createdDate") or ""),
            api_version=str(body.get("apiVersion") or ""),
            total_processing_time_ms=int(body.get("totalProcessingTime") or 0),
        )


@dataclass(frozen=True)
class Limit:
    max: int
    remaining: int

    @property
    def used(self) -> int:
        return self.max - self.remaining


@dataclass(frozen=True)
class Limits:
    """``GET /limits``: every allowance by name, with typed shortcuts for the ones we plan with."""

    by_name: dict[str, Limit]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Limits:
        return cls(
            {
                name: Limit(int(value["Max"]), int(value["Remaining"]))
                for name, value in body.items()
                if isinstance(value, dict) and "Max" in value and "Remaining" in value
            }
        )

    def __getitem__(self, name: str) -> Limit:
        return self.by_name[name]

    @property
    def daily_api_requests(self) -> Limit:
        return self.by_name[protocol.DAILY_API_REQUESTS]

    @property
    def daily_bulk_api_batches(self) -> Limit:
        return self.by_name[protocol.DAILY_BULK_API_BATCHES]

    @property
    def daily_bulk_v2_query_jobs(self) -> Limit:
        return self.by_name[protocol.DAILY_BULK_V2_QUERY_JOBS]
