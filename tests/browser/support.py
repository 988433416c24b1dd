"""What the browser tests share: Jupyter servers started as a user would, Chromium, and a few page steps.

Nothing downloads a browser: Playwright drives Debian's ``/usr/bin/chromium``. A server or browser that
cannot start fails the test with the reason, never a quiet skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
PROMPT = "a red fox in a snowy forest"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
PANEL_CELL = "%load_ext together_magic\n%imagine_panel latest"
HASH_CELL = "import hashlib\nprint('sha256=' + hashlib.sha256(latest.data[0].image_bytes()).hexdigest())"


def write_notebook(path: Path, cells: list[str]) -> None:
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": None,
                        "id": f"cell{i}",
                        "metadata": {},
                        "outputs": [],
                        "source": source,
                    }
                    for i, source in enumerate(cells)
                ],
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def jupyter_env(home: Path, *, quiet_news: bool = True) -> dict[str, str]:
    """The developer's own Jupyter settings, keys and caches stay out of the test. ``quiet_news=False``
    leaves JupyterLab's news question to the server (``scripts/lab.py`` must silence it itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOGETHER", "JUPYTER"))}
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    ):
        env[name] = str(home / name.lower())
    env["XDG_CACHE_HOME"] = str(home / "cache")
    if quiet_news:  # JupyterLab would ask about its news feed in a popup over the notebook
        settings = home / "jupyterlab_settings_dir" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    return env


@dataclass
class Server:
    url: str
    folder: Path
    process: subprocess.Popen[bytes]
    started: float
    printed: str = ""
    """The URL exactly as ``scripts/lab.py`` printed it (``url`` is its notebook address and token)."""

    @property
    def base(self) -> str:
        return "/".join(self.url.split("/", 3)[:3])

    @property
    def token(self) -> str:
        return self.url.rsplit("token=", 1)[1]

    def kernel_ready(self, notebook: str, timeout: float = 60) -> None:
        """Wait until the notebook's kernel is idle with a browser connected (before Shift+Enter)."""
        headers = {"Authorization": f"token {self.token}"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sessions = httpx.get(f"{self.base}/api/sessions", headers=headers, timeout=5).json()
            for session in sessions:
                kernel = session.get("kernel") or {}
                mine = session.get("path", "").endswith(notebook) and kernel.get("connections", 0) >= 1
                if mine and kernel.get("execution_state") == "idle":
                    return
            time.sleep(0.2)
        pytest.fail(f"the kernel of {notebook} did not become ready in {timeout} s")

    def page_url(self, path: str) -> str:
        return self.url.replace("/lab/tree/01-quickstart.ipynb", path)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium (scripts/test installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            # Playwright hides scrollbars in headless mode; a user's notebook scrollbar takes width (the
            # 1024x768 layout must fit beside it), so the page is laid out as a user's is.
            chromium = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=ARGS, ignore_default_args=["--hide-scrollbars"]
            )
        except Exception as exc:
            pytest.fail(f"Chromium did not start: {exc}")
        yield chromium
        chromium.close()


def open_notebook(browser: Any, url: str, viewport: tuple[int, int], **context: Any) -> Any:
    page = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context).new_page()
    page.goto(url + "&reset", timeout=90_000)  # a fresh workspace: only this notebook is open
    page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content", timeout=90_000)
    return page


def dismiss_dialogs(page: Any) -> None:
    """Close a dialog JupyterLab may raise on its own (say, about the file on disk), saying what it was."""
    for text in page.locator(".jp-Dialog").all_inner_texts():
        print(f"\nJupyter showed a dialog: {' '.join(text.split())[:200]}")
        page.keyboard.press("Escape")


def run_first_cell(page: Any, server: Server, notebook: str) -> Any:
    """Run the panel cell once its kernel is ready (retrying, in case a keypress is lost) -> the panel."""
    server.kernel_ready(notebook)
    panel = page.locator(".together-magic-panel")
    for _ in range(6):
        page.locator(".jp-CodeCell:visible .cm-content").first.click()
        page.keyboard.press("Shift+Enter")
        try:
            panel.wait_for(timeout=8_000)
            return panel
        except Exception:
            continue
    pytest.fail("the panel cell did not run")


def run_all(page: Any) -> None:
    """Run > Run All Cells, as a user does from the menu."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def generate(page: Any, panel: Any, images: int, cards_before: int) -> None:
    panel.locator(".widget-text:has-text('Images') input").fill(str(images))
    panel.locator(".widget-text:has-text('Images') input").press("Tab")
    panel.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "n => { const imgs = [...document.querySelectorAll('.together-magic-card img')];"
        " return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=cards_before + images,
        timeout=60_000,
    )


def newest_card(panel: Any) -> Any:
    """The card shown first: the newest (the gallery appends cards and orders them with CSS)."""
    return panel.locator(".together-magic-card").last


def dropdown(panel: Any, label: str) -> Any:
    """The panel's dropdown with this label (``Model``, ``Size``): by its label, not its place."""
    return panel.locator(f".widget-dropdown:has(> label:text-is('{label}')) select")


def no_stderr(page: Any) -> None:
    shown = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert shown.count() == 0, shown.all_inner_texts()
