"""``together-magic batch`` as a user runs it: a real process, a real server, exit codes and streams."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from ..conftest import Server

pytestmark = pytest.mark.server


def cli(server: Server, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["TOGETHER_BASE_URL"] = server.base_url
    return subprocess.run(
        [sys.executable, "-m", "together_magic", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_csv_batch_then_the_same_command_again(tmp_path: Path, server: Server) -> None:
    rows = tmp_path / "animals.csv"
    rows.write_text("animal,place,seed\nfox,forest,1\nowl,barn,2\ncat,sofa,3\n")
    out = tmp_path / "out"
    template = "a {{ item.animal }} in the {{ item.place }}"
    first = cli(server, rows, "--out", out, "--prompt", template, "--size", "256x256", "--steps", "2")
    assert first.returncode == 0 and first.stderr == ""  # nothing on stderr when it is not a terminal
    assert "3 of 3 done" in first.stdout and "3 made now" in first.stdout
    names = sorted(p.name for p in out.glob("*.jpg"))
    assert names == ["a-cat-in-the-sofa-s3.jpg", "a-fox-in-the-forest-s1.jpg", "a-owl-in-the-barn-s2.jpg"]
    before = server.stats()["requests"]
    again = cli(server, rows, "--out", out, "--prompt", template, "--size", "256x256", "--steps", "2")
    assert again.returncode == 0 and again.stderr == "" and server.stats()["requests"] == before
    changed = cli(server, rows, "--out", out, "--prompt", template, "--size", "256x256", "--steps", "3")
    assert changed.returncode == 2
    assert (
        changed.stderr.count("\n") == 1
        and "steps was 2, now 3" in changed.stderr
        and "--new" in changed.stderr
    )
    new = cli(server, rows, "--out", out, "--prompt", template, "--size", "256x256", "--steps", "3", "--new")
    assert new.returncode == 0 and len(list(out.glob("*.jpg"))) == 6  # the first three are still there


def test_failures_exit_1_and_retry_failed_completes_them(tmp_path: Path, server: Server) -> None:
    sick = tmp_path / "sick.jsonl"
    healthy = tmp_path / "healthy.jsonl"
    lines = [{"prompt": f"a teapot {i}", "seed": i} for i in range(4)]
    sick.write_text(
        "\n".join(
            json.dumps({**row, "extra_headers": {"x-together-magic-fault": "500"}} if i == 1 else row)
            for i, row in enumerate(lines)
        )
    )
    healthy.write_text("\n".join(json.dumps(row) for row in lines))
    out = tmp_path / "out"
    first = cli(server, sick, "--out", out, "--size", "256x256")
    assert first.returncode == 1 and first.stderr == ""
    assert "3 of 4 done, 1 failed" in first.stdout and "1 x 500 server_error" in first.stdout
    assert "--retry-failed" in first.stdout
    fixed = cli(server, healthy, "--out", out, "--size", "256x256", "--retry-failed")
    assert fixed.returncode == 0 and "4 of 4 done" in fixed.stdout and "1 made now" in fixed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt", "--out", "o"], "items: no file"),
        (["items.txt"], "the following arguments are required: -o/--out"),
        (["items.txt", "--out", "o", "--rpm", "0"], "--rpm: must be more than 0"),
        (["items.txt", "--out", "o", "--steps", "99"], "line 1 of items.txt: --steps must be between"),
        (["items.txt", "--out", "o", "--concurrency", "x"], "--concurrency: must be a whole number"),
        (["items.txt", "--out", "items.txt"], "--out: "),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, server: Server, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "items.txt").write_text("a fox\n")
    monkeypatch.chdir(tmp_path)
    result = cli(server, *args)
    assert result.returncode == 2, result
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_terminal_gets_a_progress_bar(tmp_path: Path, server: Server) -> None:
    (tmp_path / "items.txt").write_text("".join(f"a kite {i}\n" for i in range(6)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["TOGETHER_BASE_URL"] = server.base_url
    child = pexpect.spawn(
        sys.executable,
        ["-m", "together_magic", "batch", "items.txt", "--out", "out", "--size", "256x256"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "img" in (child.before or "") and "6 of 6 done" in (child.before or "")


def test_ctrl_c_keeps_what_finished_and_the_same_command_continues(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    slow = start_server("--latency", "0.2")
    (tmp_path / "items.txt").write_text("".join(f"a slow kite {i}\n" for i in range(200)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["TOGETHER_BASE_URL"] = slow.base_url
    command = [sys.executable, "-m", "together_magic", "batch", "items.txt", "--out", "out"]
    command += ["--size", "256x256"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while len(list((tmp_path / "out").glob("*.jpg"))) < 10:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    kept = len(list((tmp_path / "out").glob("*.jpg")))
    assert 10 <= kept < 200
    assert err.decode().startswith("together-magic: interrupted: ") and "run it again" in err.decode()
    before = slow.stats()["status_200"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "200 of 200 done" in done.stdout
    assert slow.stats()["status_200"] - before <= 200 - kept + 16  # the rest, and the few cut off in flight
