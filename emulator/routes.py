"""URL map of the whole emulator: the feature modules' rules, in one place."""

from __future__ import annotations

from types import ModuleType

from werkzeug.routing import Map

from emulator import control, oauth
from emulator.core import bulk_ingest, bulk_query, rest
from emulator.datacloud import handlers as datacloud

FEATURES: tuple[ModuleType, ...] = (oauth, rest, bulk_ingest, bulk_query, datacloud, control)


def build_url_map() -> Map:
    # Fresh copies: a werkzeug Rule binds to one Map, and tests run several servers per process.
    rules = [rule.empty() for feature in FEATURES for rule in feature.RULES]
    return Map(rules, strict_slashes=False, merge_slashes=True)
