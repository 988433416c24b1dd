"""The panel in Jupyter Notebook 7 (the `notebook` package), in Debian's headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..conftest import free_port
from .support import (
    ARTIFACTS,
    PANEL_CELL,
    PROMPT,
    Server,
    browser,
    dropdown,
    generate,
    jupyter_env,
    no_stderr,
    open_notebook,
    run_first_cell,
    stop,
    write_notebook,
)

__all__ = ["browser"]


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("nb7")
    folder = home / "notebooks"
    folder.mkdir()
    write_notebook(folder / "panel.ipynb", [PANEL_CELL])
    port, token = free_port(), "together-magic-notebook7"
    env = {**jupyter_env(home), "JUPYTER_TOKEN": token}
    command = [sys.executable, "-m", "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    command += [f"--ServerApp.root_dir={folder}", "--ServerApp.answer_yes=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (ARTIFACTS / "notebook7.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{base}/api/status?token={token}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Notebook 7 did not start; see {ARTIFACTS / 'notebook7.log'}")
            time.sleep(0.25)
        yield Server(f"{base}/notebooks/panel.ipynb?token={token}", folder, process, started)
    finally:
        stop(process)
        log.close()


def test_panel_generates_in_notebook7(notebook7: Server, browser: Any) -> None:
    """(b) The same panel in Jupyter Notebook 7 (the `notebook` package)."""
    page = open_notebook(browser, notebook7.url, (1280, 900))
    panel = run_first_cell(page, notebook7, "panel.ipynb")
    panel.locator("textarea").first.fill(PROMPT)
    dropdown(panel, "Size").select_option(label="landscape 1024x768")
    generate(page, panel, 1, 0)
    caption = panel.locator(".together-magic-card .together-magic-caption").first.get_attribute("title") or ""
    assert re.search(r"seed \d+", caption) and "1024x768" in caption, caption
    size = panel.locator(".together-magic-card img").first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert size == [256, 192]  # the 1024x768 image's thumbnail
    assert "done: 1 image" in panel.locator(".together-magic-status").inner_text()
    no_stderr(page)
    page.screenshot(path=str(ARTIFACTS / "panel-notebook7.png"))
