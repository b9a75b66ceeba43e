"""Emulator settings: one frozen value object, built by the CLI or by tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CLIENT_ID = "sfload-emulator-client"
DEFAULT_CLIENT_SECRET = "sfload-emulator-secret"  # noqa: S105 - the emulator's published demo login
DEFAULT_USERNAME = "integration@sfload.emulator"
DEFAULT_PASSWORD = "sfload-emulator-password"  # noqa: S105 - the emulator's published demo login


@dataclass(frozen=True)
class EmulatorConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    jwt_public_key_file: Path | None = None
    token_lifetime_s: float = 7200.0
    datacloud_token_lifetime_s: float = 7200.0
    external_id_case_sensitive: bool = False
    datacloud_page_rows: int = 49_999
    datacloud_page_bytes: int = 32 * 1024 * 1024
    datacloud_cursor_idle_s: float = 180.0  # max gap between two batch calls
    datacloud_cursor_lifetime_s: float = 3600.0  # whole result must be read within this
    records: int = 0
    seed: int = 42
    extra: dict[str, object] = field(default_factory=dict)
