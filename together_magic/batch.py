"""--each batches (placeholder: the capability lands in its own change)."""

from __future__ import annotations

from typing import Any

from .errors import OptionError
from .options import ImagineOptions

__all__ = ["batch_cell"]


async def batch_cell(magics: Any, options: ImagineOptions, namespace: dict[str, Any], *, live: bool) -> Any:
    """Run a ``%%imagine`` cell with --each for the magic."""
    raise OptionError("--each is not available in this version")
