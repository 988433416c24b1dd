"""Together's error answer, and the strict JSON decoding whose every failure is one of them.

Every way a request can be wrong ends here as an ``OfflineAPIError`` carrying the status, type, param and
message the real API would answer with; nothing a client sends may surface as an exception or a 5xx.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["OfflineAPIError", "invalid", "is_int", "is_number", "parse_body"]


class OfflineAPIError(Exception):
    """An error answer: becomes ``{"id", "error": {message, type, param, code}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "id": request_id,
            "error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code},
        }


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON number")


def parse_body(raw: bytes) -> Any:
    """Decode a request body as strict JSON; anything else is a 400 saying why, never an exception."""
    if not raw.strip():
        raise OfflineAPIError(400, "Request body must be a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OfflineAPIError(400, "Request body is not valid JSON: it is not UTF-8 text.") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except _NotJSON as exc:
        raise OfflineAPIError(400, f"Request body is not valid JSON: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise OfflineAPIError(
            400, f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except RecursionError:
        raise OfflineAPIError(400, "Request body cannot be read: it is nested too deeply.") from None
    except ValueError:  # an integer with more digits than Python converts (sys.get_int_max_str_digits)
        raise OfflineAPIError(400, "Request body cannot be read: a number has too many digits.") from None


def invalid(param: str, detail: str) -> OfflineAPIError:
    """Together's 400 for a bad parameter value: ``Invalid value for '<param>' parameter. <detail>``."""
    return OfflineAPIError(400, f"Invalid value for '{param}' parameter. {detail}", param=param)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A JSON number that is finite (``1e400`` decodes to infinity; bools are not numbers)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value)
