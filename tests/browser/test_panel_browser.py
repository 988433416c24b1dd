"""The panel in real JupyterLab, in Debian's headless Chromium driven by Playwright (no browser download).

If Chromium or JupyterLab cannot start, this test fails and says why: it never skips quietly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
TOKEN = "together-magic-browser-test"
PROMPT = "a red fox in a snowy forest"
ARTIFACTS = ROOT / "test-artifacts"


def notebook(path: Path) -> None:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "panel",
        "metadata": {},
        "outputs": [],
        "source": ["%load_ext together_magic\n", "%config Imagine.cache = False\n", "%imagine_panel latest"],
    }
    path.write_text(
        json.dumps(
            {
                "cells": [cell],
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("lab")
    notebook(root / "panel.ipynb")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    ):
        env[name] = str(root / ".jupyter" / name.lower())
    env["XDG_CACHE_HOME"] = str(root / ".cache")
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("w")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.token={TOKEN}",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{base}/api/status?token={TOKEN}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start; see {ARTIFACTS / 'jupyterlab.log'}")
            time.sleep(0.25)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_panel_in_jupyterlab(lab: str) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium (scripts/test installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-quic",
                    "--disable-dev-shm-usage",
                ],
            )
        except Exception as exc:
            pytest.fail(f"Chromium did not start: {exc}")
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        try:
            page.goto(f"{lab}/lab/tree/panel.ipynb?token={TOKEN}&reset", timeout=90_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
            page.wait_for_selector(".jp-StatusBar-Widget:has-text('| Idle')", timeout=90_000)
            panel = page.locator(".together-magic-panel")
            for _ in range(3):  # a cold kernel can miss the first Shift+Enter
                page.click(".jp-NotebookPanel .jp-Cell .cm-content")
                page.keyboard.press("Shift+Enter")
                try:
                    panel.wait_for(timeout=30_000)
                    break
                except Exception:
                    continue
            panel.locator("textarea").first.fill(PROMPT)
            panel.get_by_role("button", name="landscape").click()
            panel.get_by_role("button", name="Generate").click()
            image = panel.locator("img.together-magic-image").first
            image.wait_for(timeout=60_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('img.together-magic-image');"
                " return i && i.naturalWidth > 0; }",
                timeout=30_000,
            )
            size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size == [512, 384]  # the 1024x768 image's preview
            caption = panel.locator("code", has_text="seed").first.inner_text()
            seed = re.search(r"seed (\d+)", caption)
            assert seed is not None and "1024x768" in caption
            panel.get_by_role("button", name="copy as code").first.click()
            code_box = panel.locator(".together-magic-code textarea").first
            code_box.wait_for(state="visible", timeout=10_000)
            code = code_box.input_value()
            assert code == (
                "%%imagine --model black-forest-labs/FLUX.1-schnell --n 1 "
                f"--seed {seed.group(1)} --width 1024 --height 768 --guidance 3.5\n{PROMPT}"
            )
            assert panel.locator(".widget-html", has_text="done: 1 image").count() == 1
        finally:
            page.screenshot(path=str(ARTIFACTS / "panel-in-jupyterlab.png"), full_page=True)
            browser.close()
