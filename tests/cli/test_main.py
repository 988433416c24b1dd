"""The ``together-magic`` command, run as users run it: a real process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ..conftest import ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "together_magic", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_demo_makes_images_without_a_key(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path / "demo"), "--size", "256")
    assert result.returncode == 0, result.stderr
    images = sorted((tmp_path / "demo").glob("*.jpg"))
    assert len(images) == 4
    for path in images:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.size == (256, 256)
    assert str((tmp_path / "demo").resolve()) in result.stdout
    assert "offline backend" in result.stdout and result.stderr == ""  # success writes nothing to stderr
    before = {p: (p.stat().st_ino, p.read_bytes()) for p in images}
    again = run("demo", "--out", str(tmp_path / "demo"), "--size", "256")
    assert again.returncode == 0
    # the same pictures again are found, not copied; and nothing was rewritten
    assert {p: (p.stat().st_ino, p.read_bytes()) for p in (tmp_path / "demo").glob("*.jpg")} == before


def test_info_never_prints_the_key() -> None:
    key = "sentinel-cli-key-4242424242"
    result = run("info", env={"TOGETHER_API_KEY": key})
    assert result.returncode == 0
    assert key not in result.stdout + result.stderr
    assert "api key: set" in result.stdout and "api.together.ai" in result.stdout
    assert "Imagine.model = " in result.stdout
    offline = run("info")
    assert "offline" in offline.stdout and "api key: not set" in offline.stdout


def test_bad_arguments_are_one_line_errors() -> None:
    for args in (
        ["serve", "--fail-rate", "2"],
        ["serve", "--faults", "meltdown"],
        ["serve", "--latency", "-1"],
        ["bogus"],
    ):
        result = run(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("together-magic"), result.stderr


def test_generate_shares_the_magic_options(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = run(
        "generate",
        "a red fox",
        "-n",
        "2",
        "-s",
        "3",
        "--size",
        "320x256",
        "--format",
        "png",
        "-m",
        "black-forest-labs/FLUX.1.1-pro",  # the model that takes a negative prompt
        "--negative",
        "blurry, text",
        "--save",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    head, *lines = result.stdout.strip().splitlines()
    assert head == "generating 2 image(s) with black-forest-labs/FLUX.1.1-pro, seed 3"
    assert [line.split(" · ")[0] for line in lines] == ["#0", "#1"]
    assert [line.split(" · ")[1] for line in lines] == ["seed 3", "seed 4"]  # each image's own seed
    assert all("320x256" in line and "saved" in line for line in lines)
    saved = sorted(out.iterdir())
    assert [p.name for p in saved] == ["a-red-fox-s3.png", "a-red-fox-s4.png"]
    import together_magic as tm

    request = tm.read_parameters(saved[0])
    assert (request.negative_prompt, request.seed, request.width, request.height) == (
        "blurry, text",
        3,
        320,
        256,
    )
    again = run("generate", "--from", str(saved[1]), "--save", str(out), "--negative", "fog")
    assert again.returncode == 0 and len(list(out.iterdir())) == 3  # one image: its own request, n=1
    assert (out / "a-red-fox-s4-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    cases = [
        (["generate", "x", "-n", "9"], 2, "--n must be between 1 and 4"),
        (["generate", "x", "--seeed", "3"], 2, "did you mean --seed?"),
        (["generate", "   "], 2, "the prompt is empty"),
        (["generate", "x", "-m", "no/such-model", "--save", str(tmp_path)], 1, "404"),
    ]
    for args, code, fragment in cases:
        result = run(*args)
        assert result.returncode == code, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("together-magic: error")]
        assert len(errors) == 1 and fragment in errors[0], result.stderr
        assert "Traceback" not in result.stderr


def test_a_terminal_that_cannot_show_unicode_gets_the_output_not_a_traceback(tmp_path: Path) -> None:
    """An ASCII-only terminal (PYTHONIOENCODING=ascii, an old locale): captions use '·' and prompts may
    hold any character; the image is made and saved, and the lines are printed with replacements."""
    env = {"PYTHONIOENCODING": "ascii", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    prompts = tmp_path / "p.txt"
    prompt = "un café à Zürich 🦊"
    prompts.write_text(f"{prompt}\n", encoding="utf-8")
    for args in (
        ["generate", prompt, "--seed", "3", "--size", "256x256", "--save", str(tmp_path / "g")],
        ["generate", "a fox", "--vary", "steps=1,2", "--size", "256x256", "--save", str(tmp_path / "v")],
        ["batch", str(prompts), "--out", str(tmp_path / "b"), "--size", "256x256"],
        ["history", "café"],
        ["history", "--json"],
        ["class", "add", "zoë", "--data", str(tmp_path / "class")],
        ["class", "list", "--data", str(tmp_path / "class")],
    ):
        result = run(*args, env=env)
        assert (result.returncode, result.stderr) == (0, ""), (args, result.stderr)
    assert result.stdout.count("zo?") == 1  # the class list, with the character it cannot show replaced
    assert len(list((tmp_path / "g").glob("un-cafe-a-zurich-s3.jpg"))) == 1


@pytest.mark.parametrize(
    "args",
    [["info", "--models"], ["history", "--json"], ["generate", "a fox", "-s", "1", "--size", "256x256"]],
)
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    if args[0] == "history":  # something to list
        first = ["generate", "a fox", "-s", "2", "--size", "256x256"]
        subprocess.run([sys.executable, "-m", "together_magic", *first], env=env, cwd=tmp_path, check=True)
    read, write = os.pipe()
    os.close(read)  # like `| head -1` once it has its line: every write meets a closed pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "together_magic", *args],
            stdout=write, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr  # the output is lost, quietly; not the work
    if args[0] == "generate":
        assert [p.name for p in (tmp_path / "images").iterdir()] == ["a-fox-s1.jpg"]


@pytest.mark.parametrize("where", ["closed", "/dev/full"])
def test_a_stdout_that_cannot_be_written_costs_the_output_not_the_work(tmp_path: Path, where: str) -> None:
    """Started with stdout closed (``>&-``) or on a full disk (``>/dev/full``): the image is still made and
    saved; no traceback; a full disk is said once on stderr (a closed stdout is the caller's choice)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "together_magic", "generate", "a fox", "-s", "4", "--size", "256x256"]
    for args in (command, [sys.executable, "-m", "together_magic", "info", "--models"]):
        with open("/dev/full", "w") if where == "/dev/full" else contextlib.nullcontext() as full:
            done = subprocess.run(
                args, stdout=full if full is not None else None, stderr=subprocess.PIPE, text=True, env=env,
                cwd=tmp_path, timeout=60, pass_fds=(), close_fds=True,
                preexec_fn=None if full is not None else (lambda: os.close(1)),
            )  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected = "together-magic: stdout: No space left on device; the rest of the output is dropped\n"
        assert done.stderr == (expected if where == "/dev/full" else ""), done.stderr
    assert [p.name for p in (tmp_path / "images").iterdir()] == ["a-fox-s4.jpg"]


def test_ctrl_c_while_the_command_loads_ends_quietly_with_130() -> None:
    """SIGINT at random moments of the first 0.6 s (while httpx, pydantic and PIL load, then while it
    runs): status 130 and no traceback, each time. Before about 50 ms Python itself is still starting,
    and its own rules apply."""
    import random
    import signal
    import time

    command = str(Path(sys.executable).with_name("together-magic"))
    rng = random.Random(22)
    outcomes = []
    for _ in range(10):
        delay = rng.uniform(0.06, 0.6)
        process = subprocess.Popen(
            [command, "info", "--models"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        outcomes.append((round(delay, 2), process.returncode, err))
    # -SIGINT: the signal came as the interpreter was exiting, which a shell reports as 130 too
    assert all(code in (130, 0, -signal.SIGINT) and not err for _, code, err in outcomes), outcomes
    assert sum(code == 130 for _, code, _ in outcomes) >= 5, outcomes  # most landed while it was loading
