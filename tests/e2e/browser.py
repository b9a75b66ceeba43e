"""A real headless browser (Debian's chromium driven by Playwright) pressing "Materialize"."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 90_000


def chromium_or_skip() -> str:
    """The Debian chromium binary; without it skip, unless CI demands the browser tests run."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "chromium not installed (apt-get install -y chromium); browser test not run"
    if os.environ.get("SFLOAD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SFLOAD_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


@contextmanager
def browser_page(executable: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def materialize_one_partition(
    base_url: str, asset_path: Sequence[str], partition: str, screenshot: Path
) -> None:
    """Asset page -> "Materialize…" -> pick one partition -> "Launch 1 run", as an operator does."""
    executable = chromium_or_skip()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with browser_page(executable) as page:
        try:
            page.goto(f"{base_url}/assets/{'/'.join(asset_path)}", wait_until="networkidle")
            page.get_by_role("button", name="Materialize…").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Select a partition or create one").click()
            # The dropdown renders each key twice (one hidden measuring copy): pick the menu item.
            page.get_by_role("menuitem").filter(has_text=partition).first.click()
            page.keyboard.press("Escape")  # closes the list, keeps the dialog
            launch = dialog.locator("button:has-text('Launch')")
            launch.wait_for()
            page.screenshot(path=str(screenshot.with_suffix(".dialog.png")))
            launch.click()
            dialog.wait_for(state="hidden")
        finally:
            page.screenshot(path=str(screenshot), full_page=True)
