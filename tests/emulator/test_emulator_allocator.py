"""The emulator server process takes Arrow buffers from jemalloc unless the environment chooses."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from emulator.cli import prefer_returning_allocator

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_jemalloc_when_the_environment_does_not_choose(
    restored_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    prefer_returning_allocator()
    assert pa.default_memory_pool().backend_name == "jemalloc"


def test_the_environment_wins(restored_pool: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    pa.set_memory_pool(pa.system_memory_pool())
    prefer_returning_allocator()
    assert pa.default_memory_pool().backend_name == "system"
