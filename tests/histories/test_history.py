"""The history: every generation recorded, searchable, across kernel restarts, notebooks and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic import config as tm_config
from together_magic.errors import OptionError
from together_magic.histories.search import clear_history, history, parse_since

from ..kernel import PRELUDE, Kernel
from ..shells import magic_shell


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "store") as shell:
        yield shell


def test_generations_are_recorded_and_searchable(ip: InteractiveShell, tmp_path: Path) -> None:
    ip.run_cell("%%imagine -n 2 --seed 5 --size 256x256\na red fox in the snow")
    ip.run_cell("%%imagine --seed 9 --size 256x256 -m black-forest-labs/FLUX.1-kontext-pro\nan owl at night")
    settings = tm_config.current()
    everything = history(config=settings)
    assert [r.generation.source for r in everything] == ["magic"] * 3
    foxes = history("RED FOX", config=settings)
    assert sorted(r.response.data[0].seed for r in foxes) == [5, 6]  # type: ignore[index]
    assert all(r.request is not None and r.request.n == 1 for r in foxes)  # each part reproduces alone
    assert [
        r.generation.model for r in history(model="black-forest-labs/FLUX.1-kontext-pro", config=settings)
    ] == ["black-forest-labs/FLUX.1-kontext-pro"]
    assert len(history(last=1, config=settings)) == 1
    with capture_output() as shown:
        result = ip.run_cell("%imagine_history fox --last 5")
    # no kernel here (a terminal, a plain shell): the text and the static page, no widgets
    (output,) = shown.outputs
    assert result.success and sorted(output.data) == ["text/html", "text/plain"]
    assert output.data["text/plain"].startswith("2 generations matching 'fox'\n")
    html = output.data["text/html"]
    assert html.count("<img ") == 2 and html.count("copy as code") == 2 and "%%imagine --model" in html
    assert html == result.result._repr_mimebundle_()[0]["text/html"]


def test_clear_needs_a_confirmation_and_deletes_only_what_matches(ip: InteractiveShell) -> None:
    ip.run_cell("%%imagine --seed 1 --size 256x256\nkeep this fox")
    ip.run_cell("%%imagine --seed 2 --size 256x256\ndrop this owl")
    settings = tm_config.current()
    assert clear_history("owl", config=settings) == (1, False)
    assert len(history(config=settings)) == 2  # nothing deleted without --yes
    with capture_output() as shown:
        ip.run_cell("%imagine_history --clear owl --yes")
    assert "deleted 1 generation" in shown.stdout
    assert [r.generation.prompt for r in history(config=settings)] == ["keep this fox"]
    images = list((Path(settings.cache_dir) / "images").iterdir())
    assert len(images) == 1


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("3h", 3 * 3600), ("2d", 2 * 86400), ("90m", 90 * 60), ("1w", 7 * 86400)],
)
def test_since_takes_ages(text: str, seconds_ago: int) -> None:
    assert parse_since(text, now=1_000_000.0) == 1_000_000.0 - seconds_ago


def test_since_takes_dates_and_refuses_nonsense() -> None:
    assert parse_since("2026-11-20") is not None and parse_since("today") is not None
    with pytest.raises(OptionError, match="--since must be a date"):
        parse_since("last tuesday")
    # Real dates the platform cannot turn into a local timestamp are still dates, not "nonsense".
    assert parse_since("0001-01-01") == 0.0  # "everything": nothing was made before 1970
    assert parse_since("20261120") == parse_since("2026-11-20")


def test_the_cli_lists_the_same_history(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    cli = [sys.executable, "-m", "together_magic"]
    made = subprocess.run(
        [
            *cli,
            "generate",
            "a lighthouse at dusk",
            "-s",
            "4",
            "--size",
            "256x256",
            "--save",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([*cli, "history", "--json"], capture_output=True, text=True, env=env, timeout=60)
    (line,) = listed.stdout.strip().splitlines()
    record = json.loads(line)
    assert (record["source"], record["prompt"], record["seeds"]) == ("cli", "a lighthouse at dusk", [4])
    assert listed.stderr == ""


def test_history_survives_a_kernel_restart(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    try:
        kernel.ok(PRELUDE)
        kernel.ok("%%imagine --seed 12 --size 256x256 -o r_before\na fox before the restart")
        kernel.manager.restart_kernel(now=True)
        kernel.client.wait_for_ready(timeout=60)
        kernel.ok(PRELUDE)
        found = kernel.ok(
            "h = %imagine_history restart\n"
            "print(len(h), h[0].response.data[0].seed, h[0].response.data[0].size, 'r_before' in dir())"
        )
        assert found.text.split() == ["1", "12", "(256,", "256)", "False"]
    finally:
        kernel.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "together_magic", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_store_that_cannot_be_opened_is_one_line_in_the_magic_and_the_cli(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("the user's own file, where a cache folder was expected")
    ip.run_line_magic("config", f"Imagine.cache_dir = {str(in_the_way)!r}")
    for line in ("", "fox --last 3", "--clear --yes", "--clear owl"):
        with capture_output() as shown:
            result = ip.run_cell(f"%imagine_history {line}")
        assert type(result.error_in_exec).__name__ == "UsageError", (line, result.error_in_exec)
        assert str(in_the_way) in str(result.error_in_exec) and "Traceback" not in shown.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(in_the_way)
    for args in (["history"], ["history", "fox", "--json"], ["history", "--clear", "--yes"]):
        listed = _cli(env, *args)
        assert listed.returncode == 1 and listed.stdout == "", (args, listed.stderr)
        (message,) = listed.stderr.splitlines()
        assert message.startswith("together-magic: error: ") and str(in_the_way) in message
    assert in_the_way.read_text().startswith("the user's own file")


def test_the_history_shows_what_is_left_when_image_files_are_gone_or_damaged(
    ip: InteractiveShell, tmp_path: Path
) -> None:
    for seed, prompt in ((1, "a fox kept"), (2, "a fox deleted"), (3, "a fox damaged")):
        assert ip.run_cell(f"%%imagine --seed {seed} --size 256x256\n{prompt}").success
    settings = tm_config.current()
    by_prompt = {r.generation.prompt: r.generation.images[0].path for r in history(config=settings)}
    by_prompt["a fox deleted"].unlink()  # a disk clean-up tool, or a user tidying ~/.cache
    damaged = by_prompt["a fox damaged"]
    damaged.write_bytes(bytes(b ^ 0xFF for b in damaged.read_bytes()))  # same size, other bytes
    shown = history("fox", config=settings)
    assert [r.generation.prompt for r in shown] == ["a fox kept"]
    assert repr(shown).splitlines()[0] == "1 generation matching 'fox' (2 not shown: image files missing)"
    with capture_output() as out:
        result = ip.run_cell("%imagine_history fox")
    assert result.success and out.outputs[0].data["text/html"].count("<img ") == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cli-cache")
    made = _cli(env, "generate", "an owl", "-s", "4", "--size", "256x256", "--save", str(tmp_path / "o"))
    assert made.returncode == 0, made.stderr
    store_images = tmp_path / "cli-cache" / "together-magic" / "images"
    for image in store_images.iterdir():
        image.unlink()
    listed = _cli(env, "history", "--json")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")
    listed = _cli(env, "history")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert listed.stdout.startswith("0 generations (1 not shown: image files missing)")


def test_saved_paths_join_the_history(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "saved"
    ip.run_cell(f"%%imagine -n 2 --seed 30 --size 256x256 --save {out}\na heron in the reeds")
    found = sorted(history("heron", config=tm_config.current()), key=lambda r: r.response.data[0].seed)  # type: ignore[index]
    assert [r.generation.saved_paths for r in found] == [
        (str(out / "a-heron-in-the-reeds-s30.jpg"),),
        (str(out / "a-heron-in-the-reeds-s31.jpg"),),
    ]


def test_history_off_records_only_what_the_cache_needs(ip: InteractiveShell, tmp_path: Path) -> None:
    """``%config Imagine.history = False``: an unseeded cell (never a cache hit) leaves no row and no file;
    a seeded one keeps only its cache entry (README: "records only what the cache needs")."""
    ip.run_line_magic("config", "Imagine.history = False")
    try:
        assert ip.run_cell("%%imagine -n 2 --size 256x256\nan unseeded secret fox").success
        settings = tm_config.current()
        assert len(history(config=settings)) == 0
        images = tmp_path / "store" / "images"
        assert not images.exists() or not any(images.iterdir())
        assert ip.run_cell("%%imagine --seed 4 --size 256x256\na seeded owl").success
        (kept,) = history(config=settings)
        assert kept.generation.cache_key is not None and "owl" in (kept.generation.prompt or "")
    finally:
        ip.run_line_magic("config", "Imagine.history = True")


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """``together-magic history | head -1``: the reader leaves after one line, while the list is longer than
    a pipe holds; the command ends quietly, with nothing on stderr."""
    from together_magic.store import Store

    from ..store.test_store import gen

    with Store(tmp_path / "together-magic") as store:
        store.record_many([gen(i, prompt=f"a lighthouse number {i} " + "at dusk " * 20) for i in range(1200)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    for args in (["history", "--json", "--last", "1200"], ["history", "--last", "1200"]):
        reader = subprocess.Popen(
            [sys.executable, "-m", "together_magic", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.readline()  # one line, then the reader goes away
        reader.stdout.close()
        assert reader.wait(timeout=60) == 0, args
        assert reader.stderr.read() == b"", args
        reader.stderr.close()


HOSTILE_PROMPTS = [
    "a title \x1b]0;pwned\x07 change",
    "clear \x1b[2J\x1b[H the screen",
    "an 8-bit CSI \x9b31m red",
    "carriage \r return over the line",
    "bidi \u202eevil\u202c override",
    "a bell \x07 and a DEL \x7f",
]


def _record_hostile(folder: Path) -> None:
    import io

    from PIL import Image

    from together_magic.store.store import NewGeneration, NewImage, Store

    picture = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(picture, "JPEG")
    with Store(folder) as store:
        for seed, prompt in enumerate(HOSTILE_PROMPTS):
            store.record(
                NewGeneration(
                    source="gateway",
                    request={"prompt": prompt, "model": "x/\x1b[31mmodel", "seed": seed},
                    images=[NewImage(picture.getvalue(), seed=seed)],
                    backend="offline",
                )
            )


def _obeyed(text: str) -> list[str]:
    """Characters a terminal would act on (anything but tab and newline below space, DEL, C1, bidi)."""
    return [
        c for c in text if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u202c"
    ]


def test_stored_prompts_cannot_drive_the_terminal(ip: InteractiveShell, tmp_path: Path) -> None:
    """``together-magic history`` (text and --json) and ``%imagine_history`` show a stored prompt's escape
    sequences as visible escapes, never raw: a store can hold anyone's text (a class gateway's does)."""
    _record_hostile(tmp_path / "together-magic")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    cli = [sys.executable, "-m", "together_magic", "history"]
    for extra in ([], ["--json"]):
        shown = subprocess.run([*cli, *extra], capture_output=True, text=True, env=env, timeout=60)
        assert shown.returncode == 0 and shown.stderr == "", shown.stderr
        assert not _obeyed(shown.stdout), (extra, _obeyed(shown.stdout))
        assert "\\x1b]0;pwned" in shown.stdout or "\\u001b]0;pwned" in shown.stdout
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert sorted(r["prompt"] for r in records) == sorted(HOSTILE_PROMPTS)  # JSON still says exactly what
    _record_hostile(tmp_path / "store")
    listed = repr(ip.run_line_magic("imagine_history", ""))
    assert not _obeyed(listed) and "\\x9b31m" in listed and "\\u202eevil" in listed
