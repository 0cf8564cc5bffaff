"""Render report pages with a headless Chromium: screenshots and the DOM after scripts ran.

Test support, not part of the package: used by the browser tests of the HTML report and by
``python -m scripts.make_readme_screenshot``.
The browser runs with a fresh, throw-away profile and with its background networking
switched off; ``--no-sandbox`` is added only when running as root (Chromium refuses
to start as root otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Executable names tried in order; ``CROPPERHEAD_BROWSER`` overrides them.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """No browser, or the browser failed (one-line message)."""


def find_browser() -> str | None:
    """The path of a Chromium-like browser, or None when none is installed."""
    override = os.environ.get("CROPPERHEAD_BROWSER")
    if override:
        return shutil.which(override)
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    browser = find_browser()
    if browser is None:
        raise BrowserError(f"no headless browser found (tried {', '.join(BROWSER_NAMES)})")
    with tempfile.TemporaryDirectory(prefix="cropperhead-browser-") as profile:
        command = [
            browser,
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--no-sandbox")
        try:
            done = subprocess.run(
                command + args, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"{browser} did not finish within {timeout_s:g} s") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BrowserError(f"{browser} exited with status {done.returncode}: {tail}")
    return done


def page_url(page: Path, fragment: str = "") -> str:
    """The ``file://`` URL of a page, with an optional ``#fragment``."""
    url = Path(page).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def dump_dom(url: str, timeout_s: float = 60) -> str:
    """The page's DOM as HTML after its scripts ran.

    Args:
        url: a ``file://`` (or other) URL; see :func:`page_url`.
        timeout_s: give up after this many seconds.

    Returns:
        The serialised DOM.

    Raises:
        BrowserError: no browser, or it failed or timed out.
    """
    return _run(["--virtual-time-budget=5000", "--dump-dom", url], timeout_s).stdout


def screenshot(
    url: str, out_png: Path, width: int = 1280, height: int = 900, timeout_s: float = 60
) -> Path:
    """Render a page to a PNG of ``width x height`` CSS pixels.

    Raises:
        BrowserError: no browser, or it failed, timed out or wrote no file.
    """
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)
    _run(
        [
            "--virtual-time-budget=5000",
            f"--window-size={width},{height}",
            f"--screenshot={out_png}",
            url,
        ],
        timeout_s,
    )
    if not out_png.is_file():
        raise BrowserError(f"the browser wrote no screenshot to {out_png}")
    return out_png
