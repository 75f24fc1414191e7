"""Debian's Chromium driven by Playwright, against the UI and the emulator on free 127.0.0.1 ports.

Playwright's own browser download cannot work here, so Chromium is launched by its path with a new,
empty user-data directory per test. Each journey saves screenshots of the pages it passes through:
into ``$SCREENSHOT_DIR`` when set (``scripts/screenshots.py`` points it at ``docs/screenshots``),
otherwise into a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 860}
SCREENSHOT_ENV = "SCREENSHOT_DIR"
TIMEOUT_MS = 15_000


def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium (apt-get install -y chromium)"
        )


@contextmanager
def chromium(
    playwright: Playwright, user_data_dir: Path, *, locale: str | None = None
) -> Iterator[BrowserContext]:
    """A fresh Chromium profile in ``user_data_dir``, sized like a laptop screen; ``locale`` sets the
    browser's language and formats (``nl-NL``), else Chromium's default."""
    require_chromium()
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=LAPTOP,
        accept_downloads=True,
        locale=locale,
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@dataclass
class Shots:
    """Screenshots of each page, named by what they show."""

    folder: Path

    def take(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def screenshot_folder(default: Path) -> Path:
    chosen = os.environ.get(SCREENSHOT_ENV)
    return Path(chosen) if chosen else default
