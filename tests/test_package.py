"""``import together_magic`` stays cheap: nothing heavy is imported until a public name is used."""

from __future__ import annotations

import subprocess
import sys

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

    from together_magic.gallery import models_markdown

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
        "for name in ('panelapp', 'histories', 'history_view', 'sweepapi', 'sweeps', 'batch', 'gallery'):\n"
        "    importlib.import_module('together_magic.' + name)\n"
        "print([callable(getattr(tm, n)) and not isinstance(getattr(tm, n), type(tm)) "
        "for n in ('panel', 'history', 'sweep', 'asweep', 'compare', 'generate_many', 'list_models')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str([True] * 7), out.stderr
    assert importlib.import_module("together_magic").__all__  # the table builds __all__
