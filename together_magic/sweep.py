"""--vary sweeps (placeholder: the capability lands in its own change)."""

from __future__ import annotations

from typing import Any

from .errors import OptionError
from .options import ImagineOptions

__all__ = ["sweep_cell"]


async def sweep_cell(magics: Any, options: ImagineOptions, namespace: dict[str, Any], *, live: bool) -> Any:
    """Run a ``%%imagine`` cell with --vary for the magic."""
    raise OptionError("--vary is not available in this version")
