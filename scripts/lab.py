"""Open JupyterLab on the project's notebooks (README command (1), via ``scripts/start``).

    .venv/bin/python scripts/lab.py [--no-browser] [--port N] [--dir FOLDER] [--notebook NAME]

Runs JupyterLab from this interpreter (so its kernel has together-magic), bound to 127.0.0.1 with a fresh
token, prints one URL to open, and runs until Ctrl-C. Without TOGETHER_API_KEY the notebooks use the
offline backend; the key, when set, is passed to the kernel through the environment and never printed.
JupyterLab's own chatter (access logs such as a stale tab's ``403 GET /api/status``, trust notices, the
kernels' transport warnings) goes to a log file, not the newcomer's screen: only its errors are shown,
and its last lines if it stops unexpectedly. Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 180


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port(first: int = 8888) -> int:
    for port in range(first, first + 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("lab: no free port between 8888 and 8987; pass --port")


def backend_line() -> str:
    base = os.environ.get("TOGETHER_BASE_URL", "").strip()
    if base == "offline" or not (os.environ.get("TOGETHER_API_KEY") or base):
        return "offline backend (no TOGETHER_API_KEY set): procedural pictures, nothing is paid"
    if base:
        return f"the API at {base}"
    return "Together AI (TOGETHER_API_KEY is set): generations are billed to that key"


def can_open_browser() -> bool:
    """A display to open a browser on (never a text browser taking over this terminal)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def ready(port: int, token: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def quiet_news() -> None:
    """No "get notified about Jupyter news?" popup over the notebook (--LabApp.news_url=None stops the
    fetching, not the question): a settings override in this virtual environment, never the user's own."""
    if sys.prefix == sys.base_prefix:
        return
    folder = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "together-magic.json").write_text(
            '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}\n'
        )


SHOWN = re.compile(rb"^\[[EC] |\b(ERROR|CRITICAL) \||^Traceback|^\w+Error: ")
"""The lines of JupyterLab (and of its kernels, which share its output) a user must see: errors."""


def relay(server: subprocess.Popen[bytes], log_path: Path, recent: list[bytes]) -> threading.Thread:
    """Copy every line of JupyterLab's output to ``log_path``; show only its errors on our stderr."""

    def run() -> None:
        assert server.stdout is not None
        with log_path.open("wb") as log:
            for line in server.stdout:
                log.write(line)
                log.flush()
                recent.append(line)
                del recent[:-20]
                if SHOWN.search(line):
                    sys.stderr.buffer.write(line)
                    sys.stderr.flush()

    thread = threading.Thread(target=run, name="jupyterlab-log", daemon=True)
    thread.start()
    return thread


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="only print the URL (headless machines)")
    parser.add_argument("--port", type=int, default=0, help="port (default: 8888 or the next free)")
    parser.add_argument("--dir", default=str(ROOT / "notebooks"), help="folder JupyterLab shows")
    parser.add_argument("--notebook", default="01-quickstart.ipynb", help="notebook to open first")
    args = parser.parse_args(argv)
    folder = Path(args.dir).resolve()
    if not (folder / args.notebook).is_file():
        print(f"lab: no notebook {args.notebook} in {folder}", file=sys.stderr)
        return 2
    quiet_news()
    token = secrets.token_hex(24)
    for attempt in range(1 if args.port else 5):
        # A port seen free can be taken before JupyterLab binds it (another server starting at the same
        # moment): with no --port given, such a start is simply tried again on the next free port.
        port = args.port or free_port()
        code = run(port, token, folder, args)
        if code != PORT_TAKEN:
            return code
        print(
            f"lab: port {port} was taken meanwhile; trying another (attempt {attempt + 2})", file=sys.stderr
        )
    return 1


PORT_TAKEN = -1


def run(port: int, token: str, folder: Path, args: argparse.Namespace) -> int:
    """Start JupyterLab on ``port`` and wait for it; PORT_TAKEN if it could not bind."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={folder}",
        "--ServerApp.answer_yes=True",
        "--ServerApp.log_level=WARN",
        "--LabApp.log_level=WARN",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI run as root; JupyterLab refuses otherwise
    # The token travels in the environment, not on the command line other users can list.
    env = {**os.environ, "JUPYTER_TOKEN": token}
    log_path = Path(tempfile.gettempdir()) / f"together-magic-jupyterlab-{port}.log"
    server = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    recent: list[bytes] = []
    relay(server, log_path, recent)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a terminated wrapper stops its server too
    try:
        deadline = time.monotonic() + START_SECONDS
        while not ready(port, token):
            if server.poll() is not None:
                if not args.port and port_in_use(port):
                    return PORT_TAKEN
                time.sleep(0.2)  # its last lines reach the log
                sys.stderr.buffer.write(b"".join(recent))
                print(
                    f"lab: JupyterLab exited with code {server.returncode}; its last lines are above, "
                    f"all of them in {log_path}",
                    file=sys.stderr,
                )
                return 1
            if time.monotonic() > deadline:
                print(f"lab: JupyterLab did not answer within {START_SECONDS} s", file=sys.stderr)
                return 1
            time.sleep(0.25)
        # "reset": a fresh workspace, so only this notebook (and its one kernel) opens, not also the ones
        # a previous session left open (say 01-quickstart, when a teacher starts on 03-panel)
        url = f"http://127.0.0.1:{port}/lab/tree/{args.notebook}?token={token}&reset"
        print(f"\nJupyterLab is running on {folder.name}/, with the {backend_line()}.")
        print(f"  open:  {url}")
        print("  stop:  Ctrl-C\n", flush=True)
        if not args.no_browser:
            if can_open_browser():
                with contextlib.suppress(Exception):
                    webbrowser.open(url)
            else:
                print("(no display found: open the URL above in a browser)", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        print("\nstopping JupyterLab…", flush=True)
        return 0
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
