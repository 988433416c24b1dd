"""``%imagine`` in the real terminal IPython: one line per image, and Ctrl-C cancels."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect

IPYTHON = [
    sys.executable,
    "-m",
    "IPython",
    "--quick",
    "--no-banner",
    "--colors=nocolor",
    "--HistoryManager.hist_file=:memory:",
]


def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    return {**clean, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_one_line_per_image_with_saved_paths(tmp_path: Path) -> None:
    code = f"%load_ext together_magic\n%imagine 'a fox' -n 2 -s 1 --size 256x256 --save {tmp_path / 'out'}\n"
    result = subprocess.run(
        [*IPYTHON, "-c", code], capture_output=True, text=True, timeout=120, env=env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("#")]
    assert len(lines) == 2
    for index, line in enumerate(lines):
        assert line.startswith(f"#{index} · seed {1 + index} · 256x256 · FLUX.2-dev")
        assert line.endswith(f"saved {tmp_path / 'out' / f'a-fox-s{1 + index}.jpg'}")
    assert "<img" not in result.stdout
    assert result.stderr == ""  # success writes nothing to stderr (the offline notice is information)


def test_ctrl_c_cancels_in_terminal_ipython(tmp_path: Path) -> None:
    child = pexpect.spawn(
        IPYTHON[0],
        [*IPYTHON[1:], "--TerminalInteractiveShell.simple_prompt=True"],
        env=env(tmp_path),
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect(r"In \[1\]: ")
        child.sendline("%load_ext together_magic")
        child.expect(r"In \[2\]: ")
        child.sendline(
            "import together_magic.offline as o, together_magic.offline.backend as b; "
            "o.shared_backend().options = b.BackendOptions(latency=30)"
        )
        child.expect(r"In \[3\]: ")
        child.sendline("%imagine 'fox' --size 256x256 -o r")
        time.sleep(1.0)
        sent = time.monotonic()
        child.sendintr()
        child.expect("generation cancelled")
        assert time.monotonic() - sent < 2
        child.expect(r"In \[\d+\]: ")
        child.sendline("print('R-IS-' + str('r' in dir()))")  # the echo of this line cannot match below
        child.expect(r"R-IS-(True|False)")
        assert child.match.group(1) == "False"
        child.sendline("o.shared_backend().options = b.BackendOptions()")
        child.expect(r"In \[\d+\]: ")
        child.sendline("%imagine 'fox' --size 256x256 -s 2 -o r")
        child.expect(r"#0 · seed 2 · 256x256")
    finally:
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
