"""The input transformer that lets a top-level ``%%imagine`` cell run as an ``await`` in ipykernel.

Kept apart from ``generation.loop`` so that ``%load_ext`` installs it without importing asyncio machinery.
"""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = ["CellRewriter"]

_CELL = re.compile(r"^%%imagine(?=\s|$)(.*)$")


class CellRewriter:
    """A cleanup input transformer: top-level ``%%imagine`` cells in ipykernel become an ``await``.

    ``has_side_effects`` keeps IPython from running it in ``check_complete`` (otherwise a bare
    ``%%imagine`` header would be submitted before its body). ``depth`` counts running cells so that a
    cell nested in ``%%capture`` or ``%%time`` is left to the ordinary magic.
    """

    has_side_effects = True

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.depth = 0

    def __call__(self, lines: list[str]) -> list[str]:
        if not lines:
            return lines
        match = _CELL.match(lines[0].rstrip("\n"))
        if match is None or not self.may_await():
            return lines
        line, cell = match.group(1).strip(), "".join(lines[1:])
        entry = "__import__('together_magic.notebook.magic', fromlist=['_']).run_cell_async"
        return [f"await {entry}({line!r}, {cell!r})\n"]

    def may_await(self) -> bool:
        if self.depth > 0 or not getattr(self.shell, "autoawait", False):
            return False
        zmqshell = sys.modules.get("ipykernel.zmqshell")
        if zmqshell is None or not isinstance(self.shell, zmqshell.ZMQInteractiveShell):
            return False
        from IPython.core.async_helpers import _asyncio_runner

        if self.shell.loop_runner is not _asyncio_runner:
            return False
        import asyncio  # loaded already wherever this can return True (ipykernel runs on asyncio)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def pre_run_cell(self, info: object = None) -> None:
        self.depth += 1

    def post_run_cell(self, result: object = None) -> None:
        self.depth = max(0, self.depth - 1)
