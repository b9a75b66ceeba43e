"""Placeholder: filled in by the feature that owns it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.routing import Rule

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.state import Emulator

RULES: list[Rule] = []


def install(emulator: Emulator, app: EmulatorApp) -> None:
    pass
