"""``import together_magic`` stays cheap: nothing heavy is imported until a public name is used."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import together_magic

HEAVY = ("httpx", "pydantic", "PIL", "ipywidgets")


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, together_magic\n"
        f"print('before:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "together_magic.Together\n"
        f"print('after:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = out.splitlines()
    assert before == "before:"
    assert "httpx" in after and "pydantic" in after and "ipywidgets" not in after


def test_public_names_resolve() -> None:
    for name in together_magic.__all__:
        assert getattr(together_magic, name) is not None
    assert issubclass(together_magic.RateLimitError, together_magic.TogetherError)


def test_readme_model_table_is_the_catalogue() -> None:
    """README's model table is generated from models.py (`together-magic info --models --markdown`)."""
    from pathlib import Path

    from together_magic.display.gallery import models_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("<!-- models:start")
    body = readme[readme.index("\n", start) + 1 : readme.index("<!-- models:end -->")].strip()
    assert body == models_markdown(), (
        "README's model table is stale: paste `together-magic info --models --markdown`"
    )


def test_public_functions_survive_their_modules_being_imported() -> None:
    """``together_magic.panel()``, ``history()`` and ``sweep()`` stay functions after the magics import the
    modules behind them (a submodule named like a function would replace it on the package)."""
    import importlib
    import subprocess
    import sys

    code = (
        "import together_magic as tm, importlib\n"
        "for name in ('widgets.panel', 'histories.search', 'widgets.history', 'sweeps.api',\n"
        "             'sweeps.result', 'batches.api', 'display.gallery'):\n"
        "    importlib.import_module('together_magic.' + name)\n"
        "print([callable(getattr(tm, n)) and not isinstance(getattr(tm, n), type(tm)) "
        "for n in ('panel', 'history', 'sweep', 'asweep', 'compare', 'generate_many', 'list_models')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str([True] * 7), out.stderr
    assert importlib.import_module("together_magic").__all__  # the table builds __all__


def readme_cli_commands() -> list[list[str]]:
    """README's "Command line" block as a newcomer types it (``[X]``: once without X, once with it)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] != "together-magic" or words[1] == "serve":  # serve runs until Ctrl-C
            continue
        optional = [w for w in words if w.startswith("[") and w.endswith("]")]
        plain = [w for w in words if w not in optional]
        commands.append(plain[1:])
        if optional:
            commands.append([*plain[1:], *(w[1:-1] for w in optional)])
    return commands


README_COMMANDS = readme_cli_commands()


def test_readme_has_the_cli_commands_it_promises() -> None:
    verbs = {c[0] for c in README_COMMANDS}
    assert {"generate", "batch", "history", "info", "demo"} <= verbs, verbs


@pytest.mark.parametrize(
    "command",
    README_COMMANDS,
    ids=lambda c: " ".join(c)[:50],
)
def test_each_readme_cli_command_runs_as_written(command: list[str], tmp_path_factory: Any) -> None:
    """Issue 11: every README example still runs; the commands share one folder, in README's order."""
    folder: Path = tmp_path_factory.getbasetemp() / "readme-cli"
    folder.mkdir(exist_ok=True)
    (folder / "prompts.csv").write_text("prompt\na fox in the snow\nan owl at night\n")  # the batch's input
    if command[:2] == ["generate", "--from"]:  # made by the first command (README's order)
        subprocess.run(
            [sys.executable, "-m", "together_magic", *README_COMMANDS[0]],
            cwd=folder, env=_offline_env(folder), capture_output=True, check=True, timeout=120,
        )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "together_magic", *command],
        cwd=folder, env=_offline_env(folder), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (run.returncode, run.stderr) == (0, ""), run.stderr


def _offline_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    return {**env, "XDG_CACHE_HOME": str(folder / "cache"), "XDG_DATA_HOME": str(folder / "data")}
