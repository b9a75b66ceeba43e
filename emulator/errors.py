"""Salesforce- and Data Cloud-shaped error responses, built in one place."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

JSON = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type=JSON)


def rest_error(
    status: int, error_code: str, message: str, fields: list[str] | None = None
) -> Response:
    """The core REST envelope: a JSON array of ``{message, errorCode[, fields]}``."""
    item: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        item["fields"] = fields
    return json_response([item], status=status)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status=status)


def datacloud_error(status: int, error: str, message: str) -> Response:
    return json_response({"error": error, "message": message}, status=status)


def invalid_session() -> Response:
    return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found() -> Response:
    return rest_error(404, "NOT_FOUND", "The requested resource does not exist")


class EmulatorHttpError(Exception):
    """Raised inside handlers to answer with a ready-made error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response
