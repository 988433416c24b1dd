"""The ``together-magic`` command: ``generate``, ``batch``, ``history``, ``info``, ``serve``, ``class``.

The face hands on ``main`` (the ``together-magic`` entry point, ``together_magic.cli:main``). Owns:
``main`` (the parser and every subcommand but one) and ``batch`` (``together-magic batch``). May import
every wing below it, ``offline`` and ``gateway`` included.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
