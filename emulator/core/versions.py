"""REST API versions the emulated org serves (31.0 to 66.0) and the version check every route uses."""

from __future__ import annotations

import re
from typing import Final

from emulator.errors import EmulatorHttpError, not_found, rest_error

OLDEST_MAJOR: Final = 31
NEWEST_MAJOR: Final = 66
LATEST: Final = f"{NEWEST_MAJOR}.0"
_VERSION: Final = re.compile(r"(\d{1,3})\.(\d)")
_SEASONS: Final = ("Summer", "Winter", "Spring")  # v31.0 was Summer '14, then three a year


def label(major: int) -> str:
    steps = major - OLDEST_MAJOR
    year = 14 + (steps + 2) // 3
    return f"{_SEASONS[steps % 3]} '{year:02d}"


def versions() -> list[dict[str, str]]:
    """The ``GET /services/data`` body, oldest first."""
    return [
        {"label": label(major), "url": f"/services/data/v{major}.0", "version": f"{major}.0"}
        for major in range(OLDEST_MAJOR, NEWEST_MAJOR + 1)
    ]


def require_version(version: str) -> str:
    """``"59.0"`` for a served version; raises 410 for retired (<=30.0) and 404 for unknown ones.

    Routes capture the text after ``/services/data/v``; pass it here first thing in the handler.
    """
    match = _VERSION.fullmatch(version)
    if match is None:
        raise EmulatorHttpError(not_found())
    major, minor = int(match.group(1)), int(match.group(2))
    if major < OLDEST_MAJOR:
        raise EmulatorHttpError(
            rest_error(410, "GONE", "The requested resource has been retired or removed.")
        )
    if minor != 0 or major > NEWEST_MAJOR:
        raise EmulatorHttpError(not_found())
    return f"{major}.0"
