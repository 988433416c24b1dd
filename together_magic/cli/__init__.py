"""The ``together-magic`` command: ``generate``, ``batch``, ``history``, ``info``, ``serve``, ``class``.

The face hands on ``main`` (the ``together-magic`` entry point, ``together_magic.cli:main``). Owns:
``main`` (the parser and every subcommand but one) and ``batch`` (``together-magic batch``). May import
every wing below it, ``offline`` and ``gateway`` included.
"""

from __future__ import annotations

TYPE_CHECKING = False
"""As in the package's face: nothing is imported before ``main`` can catch a Ctrl-C."""
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``together-magic``: the command's entry point. Loading the command takes a moment (httpx, pydantic,
    PIL, then its parser); a Ctrl-C at any point, loading or running, ends it quietly with status 130."""
    try:
        from .main import main as run

        return run(argv)
    except KeyboardInterrupt:
        return 130
