"""The in-process IPython shell with ``%load_ext together_magic``, as the magic's tests share it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

__all__ = ["magic_shell"]


@contextlib.contextmanager
def magic_shell(
    cache: Path, *, forget: tuple[str, ...] = (), save: Path | None = None
) -> Iterator[InteractiveShell]:
    """The shared shell with the extension loaded and its store in ``cache`` (and ``save`` as
    ``Imagine.save_dir``); afterwards the extension is unloaded, ``%config``'s settings dropped (they live
    in the shared shell's config) and the names a test bound that start with ``forget`` deleted."""
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "together_magic")
    shell.run_line_magic("config", f"Imagine.cache_dir = {str(cache)!r}")
    if save is not None:
        shell.run_line_magic("config", f"Imagine.save_dir = {str(save)!r}")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
        shell.config.pop("Imagine", None)
        for name in [n for n in shell.user_ns if forget and n.startswith(forget)]:
            del shell.user_ns[name]
