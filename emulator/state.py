"""The emulator's state: configuration, database, tokens, counters and hooks, with no HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from emulator.config import EmulatorConfig
from emulator.stats import Stats
from emulator.store import Store
from emulator.tokens import TokenStore

# Feature modules register a reset hook so POST /__emulator__/reset can clear their state.
ResetHook = Callable[["Emulator"], None]


class Emulator:
    """Everything a handler may touch. Feature backends hang their own state off ``services``."""

    def __init__(self, config: EmulatorConfig, base_url: str = "") -> None:
        self.config = config
        self.base_url = base_url
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.data_dir / "emulator.duckdb")
        self.tokens = TokenStore()
        self.stats = Stats()
        self.started_at = time.time()
        self.services: dict[str, Any] = {}
        self._reset_hooks: list[ResetHook] = []

    def on_reset(self, hook: ResetHook) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        self.stats.reset()
        for hook in self._reset_hooks:
            hook(self)

    def close(self) -> None:
        for service in self.services.values():
            close = getattr(service, "close", None)
            if callable(close):
                close()
        self.store.close()
