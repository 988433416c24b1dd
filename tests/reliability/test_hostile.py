"""Hostile input through the magic and the CLI: one line naming the problem, never a traceback.

Each case is something a user (or a curious student) can type. The figures line at the end of the suite
counts them by outcome; a traceback anywhere fails the test that met it.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

_OUTCOMES: Counter[str] = Counter()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, *, whole: bool = False) -> bytes:
    """A PNG declaring its size; ``whole`` adds a small compressed body and the end (a decompression bomb)."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if not whole:
        return head
    return head + _chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9)) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("hostile-files")
    (folder / "a-folder.png").mkdir()
    (folder / "bomb.png").write_bytes(png_header(30000, 30000, whole=True))
    (folder / "truncated.png").write_bytes(png_header(64, 64))
    (folder / "text.png").write_text("not an image")
    (folder / "plain").write_text("a file used as a folder")
    huge = folder / "huge.png"
    with huge.open("wb") as handle:  # 2 GB, sparse: nothing is written to disk
        handle.truncate(2 * 10**9)
    return {
        name: str(folder / name)
        for name in ("a-folder.png", "bomb.png", "truncated.png", "text.png", "huge.png")
    } | {
        "under-a-file": str(folder / "plain" / "x.png"),
        "plain": str(folder / "plain"),
    }


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "together_magic")
    ip.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path_factory.mktemp('hostile-cache'))!r}")
    ip.run_line_magic("config", "Imagine.size = '256x256'")
    ip.user_ns["bad_text"] = chr(0xD800)
    yield ip
    ip.run_line_magic("unload_ext", "together_magic")
    ip.config.pop("Imagine", None)


KONTEXT = "-m black-forest-labs/FLUX.1-kontext-pro"
MAGIC_CASES: list[tuple[str, str, dict[str, str]]] = [
    ("-p foo=nan", "not a number JSON can carry", {}),
    ("-p foo=-Infinity", "not a number JSON can carry", {}),
    ("-p x=" + "[" * 50_000, "nested too deeply", {}),
    ("-p 'x=" + '{"a":' * 40 + "1" + "}" * 40 + "'", "nested more than 32 levels", {}),
    ("--negative {{ bad_text }}", "U+D800", {}),
    ("-p note={{ bad_text }}", "U+D800", {}),
    ("--seed {{ 1/0 }}", "ZeroDivisionError", {}),
    ("--seed {{ exit() }}", "{{ exit() }} in the %%imagine line failed", {}),
    ("--seed {{ __import__('sys').exit(3) }}", "SystemExit", {}),
    ("--seed {{ }}", "empty {{ }}", {}),
    ("--from {a-folder.png}", "--from:", {}),
    ("--from {truncated.png}", "--from:", {}),
    ("--from {text.png}", "--from:", {}),
    ("--from {under-a-file}", "--from:", {}),
    (f"{KONTEXT} --image {{a-folder.png}}", "is a folder", {}),
    (f"{KONTEXT} --image {{bomb.png}}", "30000", {}),
    (f"{KONTEXT} --image {{truncated.png}}", "--image:", {}),
    (f"{KONTEXT} --image {{huge.png}}", "--image:", {}),
    (f"{KONTEXT} --image {{under-a-file}}", "--image:", {}),
    ("--save {plain}", "--save:", {}),
    ("-s 1", "TOGETHER_BASE_URL has port 99999", {"TOGETHER_BASE_URL": "http://127.0.0.1:99999"}),
    ("-s 1", "TOGETHER_BASE_URL is not a usable URL", {"TOGETHER_BASE_URL": "http://[::1"}),
    ("-s 1", "must be an http(s) URL", {"TOGETHER_BASE_URL": "ftp://x"}),
    ("-s 1", "cannot be sent in an HTTP header", {"TOGETHER_API_KEY": "k\u00e9y"}),
    ("--seed 99999999999999999999999", "--seed must be between 0 and 4294967295", {}),
    ("-W 1e400", "--width must be a whole number", {}),
    ("--size 0x0", "--size 0x0", {}),
    ("--size 99999x99999", "try 1920x1920", {}),
    ("-n 0", "--n must be between 1 and 4", {}),
    ("--steps -1", "--steps must be between 1 and 50", {}),
    ("--aspect-ratio 0:0", "--aspect-ratio must be one of", {}),
    (
        "-m black-forest-labs/FLUX.1-dev-lora --size 512x512 --lora a:5",
        "--lora a must be between 0 and 2",
        {},
    ),
    ("--size 512x512 --lora a:0.8", "--lora: LoRA image generation is no longer available", {}),
    ("-m openai/gpt-image-2 --steps 4", "does not take steps", {}),
    ("-m black-forest-labs/FLUX.2-pro --size 512x512 --negative x", "does not take negative_prompt", {}),
    ("-m openai/gpt-image-2 --reference x.png", "does not take reference_images", {}),
    ('-m ""', "--model is empty", {}),
    ("-o class", "--out must be a Python variable name", {}),
    ("--vary", "expected one argument", {}),
    ("-p 'x=[1, {\"y\": 1e999}]'", "-p x: inf at [1].y is not a number JSON can carry", {}),
    ("--from ''", "--from needs a path", {}),
    ("--each prompts --out o --rpm 1e-9", "--rpm 1e-09 would wait", {}),
]


@pytest.mark.parametrize(("line", "expected", "env"), MAGIC_CASES, ids=[c[0][:40] for c in MAGIC_CASES])
def test_hostile_magic_input_is_one_line(
    shell: InteractiveShell,
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    expected: str,
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, path in files.items():
        line = line.replace("{" + name + "}", path)
    started = time.perf_counter()
    with capture_output() as captured:
        result = shell.run_cell(f"%%imagine {line}\na fox in the snow", store_history=False)
    took = time.perf_counter() - started
    shown = (captured.stdout + captured.stderr).strip()
    _OUTCOMES["magic traceback" if "Traceback" in shown else "magic one line"] += 1
    assert "Traceback" not in shown, shown
    assert not result.success and len(shown.splitlines()) == 1, shown
    assert expected in shown, shown
    assert took < 5, f"{line[:60]} took {took:.1f} s"  # a 2 GB file is refused, not read


CLI_CASES: list[tuple[list[str], int, str, dict[str, str]]] = [
    (["generate", "x", "-p", "foo=nan"], 2, "not a number JSON can carry", {}),
    (["generate", "x", "--size", "500x500"], 2, "try 496x496 or 504x504", {}),
    (["generate", "x", "-n", "0"], 2, "--n must be between 1 and 4", {}),
    (["generate", "x", "--from", "{a-folder.png}"], 2, "--from:", {}),
    (["generate", "x", KONTEXT.split()[0], KONTEXT.split()[1], "--image", "{huge.png}"], 2, "--image:", {}),
    (
        ["generate", "x", "-s", "1"],
        1,
        "TOGETHER_BASE_URL has port 99999",
        {"TOGETHER_BASE_URL": "http://127.0.0.1:99999"},
    ),
    (["generate", "x", "-s", "1"], 1, "could not talk to", {"TOGETHER_BASE_URL": "http://127.0.0.1:9"}),
    (["generate", "x", "--timeout", "-1"], 2, "--timeout must be more than 0", {}),
    (["history", "--since", "nope"], 2, "--since must be a date", {}),
    (["history", "--last", "0"], 2, "--last must be 1 or more", {}),
    (["generate", "{{ x }}"], 2, "{{ }} needs a notebook namespace", {}),
    (["generate", "x", "-p", "x=[1e999]"], 2, "-p x: inf at [0] is not a number JSON can carry", {}),
    (["generate", "x", "--from", ""], 2, "--from needs a path", {}),
    (["batch", "{twice.csv}", "--out", "o"], 2, "names the column 'prompt' twice", {}),
    (["batch", "{twice.csv}", "--out", "o", "--rpm", "1e-9"], 2, "--rpm 1e-09 would wait", {}),
]


@pytest.mark.parametrize(
    ("args", "code", "expected", "env"), CLI_CASES, ids=[" ".join(c[0])[:40] for c in CLI_CASES]
)
def test_hostile_cli_input_is_one_line(
    files: dict[str, str], tmp_path: Path, args: list[str], code: int, expected: str, env: dict[str, str]
) -> None:
    args = [
        arg.replace("{huge.png}", files["huge.png"]).replace("{a-folder.png}", files["a-folder.png"])
        for arg in args
    ]
    if "{twice.csv}" in args:
        (tmp_path / "twice.csv").write_text("prompt,seed,prompt\na fox,1,an owl\n")  # kept the owl, silently
        args = [str(tmp_path / "twice.csv") if arg == "{twice.csv}" else arg for arg in args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    environment.update({"XDG_CACHE_HOME": str(tmp_path), **env})
    result = subprocess.run(
        [sys.executable, "-m", "together_magic", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=60,
    )
    _OUTCOMES["cli traceback" if "Traceback" in result.stderr else f"cli exit {result.returncode}"] += 1
    assert "Traceback" not in result.stderr, result.stderr
    errors = result.stderr.strip().splitlines()
    assert result.returncode == code and len(errors) == 1 and expected in errors[0], result.stderr


def test_hostile_input_figures(figures: Callable[[str], None]) -> None:
    """Runs after the cases above in this module: reports them by outcome."""
    assert sum(_OUTCOMES.values()) == len(MAGIC_CASES) + len(CLI_CASES)
    tracebacks = _OUTCOMES["magic traceback"] + _OUTCOMES["cli traceback"]
    figures(
        f"hostile inputs to the magic and the CLI: {dict(sorted(_OUTCOMES.items()))}; "
        f"tracebacks: {tracebacks}"
    )
    assert tracebacks == 0
