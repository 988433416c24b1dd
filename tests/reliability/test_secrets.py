"""A sentinel key, used for real against a server that requires it, appears nowhere afterwards: not in
notebook outputs or saved notebooks, images and their metadata, log lines, exception texts, cache entries,
nor in the command line's output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from ..conftest import ROOT, Server

SENTINEL = "tm-secret-SENTINEL-9d2f7c41b6e8"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LOGGING_CELL = (
    "import logging\n"
    "logging.basicConfig(level=logging.DEBUG, filename={log!r}, force=True,\n"
    "                    format='%(asctime)s %(name)s %(levelname)s %(message)s')"
)


def hits_in(folder: Path) -> list[str]:
    """Every file under ``folder`` (text or binary) that contains the sentinel."""
    needle = SENTINEL.encode()
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def run_notebook(path: Path, work: Path, env: dict[str, str]) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    book = nbformat.read(path, as_version=4)
    book.cells.insert(0, nbformat.v4.new_code_cell(LOGGING_CELL.format(log=str(work / f"{path.stem}.log"))))
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(
            book,
            timeout=120,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(work)}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = work / path.name
    nbformat.write(book, out)
    return out


def test_sentinel_key_leaks_nowhere(
    start_server: Callable[..., Server], tmp_path: Path, figures: Callable[[str], None]
) -> None:
    server = start_server("--require-key", SENTINEL, "--log-level", "debug")
    wrong = start_server("--require-key", "some-other-key", "--log-level", "debug")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "TOGETHER_API_KEY": SENTINEL,
        "TOGETHER_BASE_URL": server.base_url,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(work),
    }
    executed = [run_notebook(path, work, env) for path in NOTEBOOKS]
    outputs = [
        o
        for nb in executed
        for c in nbformat.read(nb, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]  # they ran on the key-checking server
    usage = [o for o in outputs if o.output_type == "stream" and "UsageError" in o.text]
    assert len(usage) == 1  # only the parameter tour's planned mistake

    # the same notebook against a server that refuses the key: every error text is scanned too
    run_notebook(
        ROOT / "notebooks" / "01-quickstart.ipynb",
        work / "refused",
        {**env, "TOGETHER_BASE_URL": wrong.base_url},
    )

    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}, **env}
    cli = [sys.executable, "-m", "together_magic"]
    runs = [
        subprocess.run(
            [*cli, "generate", "a fox", "-n", "2", "--save", str(work / "cli")],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        ),
        subprocess.run([*cli, "info"], env=cli_env, capture_output=True, text=True, timeout=60),
        subprocess.run(
            [*cli, "generate", "a fox", "--save", str(work / "cli")],
            env={**cli_env, "TOGETHER_BASE_URL": wrong.base_url},
            capture_output=True,
            text=True,
            timeout=120,
        ),
    ]
    assert runs[0].returncode == 0 and runs[1].returncode == 0 and runs[2].returncode == 1
    assert "401" in runs[2].stderr
    (work / "cli-output.txt").write_text("\n".join(r.stdout + r.stderr for r in runs))

    saved_images = list(work.rglob("*.jpg")) + list(work.rglob("*.png"))
    logs = list(work.rglob("*.log"))
    assert saved_images and logs and any(p.stat().st_size for p in logs)
    assert any("HTTP Request: POST" in p.read_text() for p in logs)  # the logs really saw the requests
    control = work / "control.bin"  # the scan itself must be able to find a leak
    control.write_bytes(b"prefix" + SENTINEL.encode() + b"suffix")
    assert hits_in(work) == [str(control)]
    control.unlink()
    hits = hits_in(work) + hits_in(tmp_path / "cache") + hits_in(server.log.parent)
    assert hits == []
    figures(
        f"sentinel key used for {len(NOTEBOOKS)} notebooks + 1 refused, 3 CLI runs; scanned "
        f"{sum(1 for p in work.rglob('*') if p.is_file())} files in the work folder (notebooks, "
        f"{len(saved_images)} images, {len(logs)} debug logs, CLI output), "
        f"{sum(1 for p in (tmp_path / 'cache').rglob('*') if p.is_file())} cache entries and the server "
        f"logs: {len(hits)} hits"
    )
