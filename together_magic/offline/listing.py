"""What the offline backend lists at ``GET /v1/models`` and which ids its generations take.

By default: the catalogue's listed models in Together's ``ModelInfo`` shape (a retired model is not listed,
as the cloud no longer lists it, though it still renders, marked retired). ``serve --models FILE`` (a JSON
array in the same shape) simulates a cloud whose list differs: the server lists the file as given, takes
the file's image models (one the catalogue lacks takes the common parameters only) and answers a listed
catalogue id the file leaves out with the cloud's 404 ``model_not_available``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import MODELS, ModelSpec, find_model
from ..models.feed import FeedError, model_info, parse_feed

__all__ = ["Listing", "ListingError", "read_listing"]


class ListingError(ValueError):
    """A ``--models`` file that cannot be a model list (``serve`` says it in one line naming the flag)."""


@dataclass(frozen=True)
class Listing:
    """A model list to serve; ``Listing()`` is the catalogue's own."""

    entries: tuple[dict[str, Any], ...] = ()
    models: dict[str, ModelSpec] = field(default_factory=dict)
    """The ids a simulated list serves (empty: the catalogue's)."""
    simulated: bool = False

    def body(self) -> list[dict[str, Any]]:
        if not self.simulated:
            return [model_info(spec) for spec in MODELS.values() if spec.listed]
        return [dict(entry) for entry in self.entries]

    def find(self, model_id: str) -> ModelSpec | None:
        """The model generations answer for this id; None: the 404 the cloud gives."""
        if not self.simulated:
            return find_model(model_id)
        spec = self.models.get(model_id)
        if spec is not None:
            return spec
        known = find_model(model_id)
        return known if known is not None and known.retired else None  # retired: answered as ever, marked


def read_listing(path: str) -> Listing:
    """The list in ``path``; a ``ListingError`` saying why when it cannot be one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ListingError(f"cannot read {path!r}: {reason}") from None
    try:
        data = json.loads(text)
        live = parse_feed(data)
    except json.JSONDecodeError as exc:
        raise ListingError(f"{path!r} is not JSON (line {exc.lineno}: {exc.msg})") from None
    except FeedError as exc:
        raise ListingError(f"{path!r}: {exc}") from None
    if isinstance(data, dict):
        data = data["data"]
    entries = tuple(
        {**entry, "object": entry.get("object", "model"), "created": entry.get("created", 0)}
        for entry in data
    )
    return Listing(entries, {model.id: model.spec() for model in live}, simulated=True)
