"""What the backend hands back to the ways in (ASGI app, httpx transports): a reply to send as it is."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .apierror import OfflineAPIError

__all__ = ["Reply", "error_reply", "json_reply"]


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    """Transport-level misbehaviour to act out: ``drop``, ``truncated`` or ``slow``."""
    delay: float = 0.0


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})


def error_reply(request_id: str, err: OfflineAPIError) -> Reply:
    return json_reply(err.status, err.body(request_id), err.headers)
