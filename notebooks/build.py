"""Re-execute the notebooks in place on the offline backend, so their stored outputs are fresh.

    .venv/bin/python notebooks/build.py [NAME.ipynb ...]

The stored outputs are what nbval compares against (see notebooks/sanitize.cfg for what may differ).
Runs without TOGETHER_API_KEY and with an empty cache, so captions show real timings and no key can leak.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def build(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="together-magic-build-") as cache:
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("TOGETHER")}
        os.environ["XDG_CACHE_HOME"] = cache
        try:
            NotebookClient(
                book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
            ).execute()
        finally:
            os.environ.update(saved)
    # Widget state would store every thumbnail a second time (base64), and renders only with JavaScript
    # from a CDN; the panel keeps a static HTML copy of its gallery in its output instead.
    book.metadata.pop("widgets", None)
    nbformat.write(book, path)
    print(f"{path.name}: {path.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.name for p in HERE.glob("*.ipynb"))
    for name in names:
        build(HERE / name)
