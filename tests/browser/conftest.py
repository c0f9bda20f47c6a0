"""A real headless Chromium (Debian's ``/usr/bin/chromium``) driven by playwright.

Skipped with the reason when playwright or chromium is missing, unless
``RECAUDIT_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns the skip into a failure.
Never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REQUIRE = os.environ.get("RECAUDIT_REQUIRE_BROWSER") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}; RECAUDIT_REQUIRE_BROWSER=1 requires the browser tests to run",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; the tests drive "
                     "the system chromium, no browser download needed)")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        except Exception as exc:  # a broken install: say what happened
            _unavailable(f"chromium at {exe} did not start: {str(exc).splitlines()[0]}")
        yield b
        b.close()


@dataclass
class Loaded:
    """A page opened from a file, with everything it logged, requested or tried to pop up."""

    page: Any
    url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        return [f"{t}: {m}" for t, m in self.console if t == "error"] + [
            f"pageerror: {e}" for e in self.page_errors]


@pytest.fixture
def open_page(browser):
    """``open_page(path, javascript=True) -> Loaded``; contexts are closed after the test."""
    contexts = []

    def _open(path: Path, *, javascript: bool = True) -> Loaded:
        ctx = browser.new_context(java_script_enabled=javascript,
                                  viewport={"width": 1200, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        loaded = Loaded(page, Path(path).resolve().as_uri())
        page.on("console", lambda m: loaded.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: loaded.page_errors.append(str(e)))
        page.on("request", lambda r: loaded.requests.append(r.url))

        def _dialog(d):
            loaded.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", _dialog)
        page.goto(loaded.url, wait_until="load")
        page.wait_for_timeout(200)  # let any late handler (onerror, timers) fire
        return loaded

    yield _open
    for ctx in contexts:
        ctx.close()
