"""README command (1)'s screen: ``scripts/lab.py`` shows only our lines while JupyterLab starts and works.

A tab left open from yesterday's session polls ``/api/status`` with its old token (JupyterLab answers 403
and logs it), a notebook is opened and its kernel started (trust notices, the kernel's transport warning):
none of it reaches the newcomer's terminal; all of it is in the log file the script names on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from .conftest import ROOT


def test_the_start_screen_shows_only_our_lines(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "01-quickstart.ipynb", folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOGETHER", "JUPYTER"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        HOME=str(tmp_path),
    )
    port = 18000 + os.getpid() % 1000
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "lab.py"),
            "--no-browser",
            "--dir",
            str(folder),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stale = threading.Event()

    def stale_tab() -> None:  # yesterday's tab, polling with yesterday's token
        while not stale.is_set():
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(
                    f"http://127.0.0.1:{port}/api/status", headers={"Authorization": "token old"}, timeout=2
                )
            time.sleep(0.2)

    poller = threading.Thread(target=stale_tab, daemon=True)
    poller.start()
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip().startswith("stop:"):
                break
        url = next(re.search(r"http://\S+", line).group(0) for line in lines if "open:" in line)  # type: ignore[union-attr]
        token = url.rsplit("token=", 1)[1].split("&")[0]  # the URL ends "&reset": a fresh workspace
        auth = {"Authorization": f"token {token}"}
        session = httpx.post(
            f"http://127.0.0.1:{port}/api/sessions",
            json={"path": "01-quickstart.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            headers=auth,
            timeout=30,
        )
        assert session.status_code == 201, session.text
        time.sleep(4)  # the kernel starts and says its warnings; the stale tab keeps polling
    finally:
        stale.set()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        out, err = process.communicate(timeout=30)
    lines += out.splitlines()
    assert err == "", err
    ours = [line for line in lines if line.strip()]
    assert ours[0].startswith("JupyterLab is running on notebooks/, with the offline backend")
    assert [line.split(":")[0].strip() for line in ours[1:3]] == ["open", "stop"]
    assert ours[3:] == ["stopping JupyterLab…"], ours
    log = (Path(tempfile.gettempdir()) / f"together-magic-jupyterlab-{port}.log").read_text()
    assert "403 GET /api/status" in log  # it happened, and it is in the log, not on the screen


def test_the_start_command_installs_notebook_7_which_the_readme_offers() -> None:
    """README command (1) installs the ``lab`` extra; the README offers Notebook 7 beside JupyterLab."""
    (lab,) = re.findall(r"^lab = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)  # tomllib: 3.11+
    names = {re.split(r"[<>=\[]", requirement.strip(' "'))[0] for requirement in lab.split(",")}
    assert {"jupyterlab", "notebook", "ipykernel"} <= names, lab
    assert "scripts/setup lab" in (ROOT / "scripts" / "start").read_text()
    assert ".venv/bin/jupyter notebook notebooks/03-panel.ipynb" in (ROOT / "README.md").read_text()
