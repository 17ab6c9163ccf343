"""Chromium through Playwright, for the tests that drive a page in a real browser.

The machine's own Chromium is used (Debian: `apt-get install chromium`; `.ci/run`
installs it when it can); Playwright's browser download is not. Importing this module
skips the importing test module when the `playwright` package is not installed; mark
the tests `needs_chromium` so that without a Chromium they are skipped, and say why.

    pytestmark = needs_chromium

    @pytest.fixture
    async def browser() -> AsyncIterator[Any]:
        async with launch() as launched:
            yield launched
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (Debian: apt-get install chromium); the browser tests need one",
)


@asynccontextmanager
async def launch() -> AsyncIterator[Any]:
    """A Playwright `Browser` on the machine's Chromium, closed at the end."""
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
