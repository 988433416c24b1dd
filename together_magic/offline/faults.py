"""Fault injection, to test clients (ours, the official SDK, a student's own code) against a bad day.

A fraction of requests (``--fail-rate``), or every request carrying ``x-together-magic-fault:
KIND[;times=N][;retry-after-ms=M][;should-retry=true|false]``, gets a 5xx, a 429, a dropped connection, a
truncated or invalid body, an HTML proxy page, a response without ``data`` or with invalid base64. With
``times=N`` only the first N attempts fail; the attempt number is read from our client's
``x-together-magic-retry-count`` or from the official SDKs' ``x-stainless-retry-count`` (both count from 0),
and for a client that sends neither (SDK 1.x, curl, requests) the backend counts the requests that carried
that same fault header, so ``times=2`` recovers on the third for them too. The kinds are the statuses
Together answers with (408, 409, 429 ``dynamic_request_limited``, 503 when the model is overloaded, 504...)
and the ways a connection goes wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .reply import Reply, error_reply
from .validate import OfflineAPIError

__all__ = [
    "DEFAULT_FAULTS",
    "FAULTS",
    "FAULT_HEADER",
    "RETRY_COUNT_HEADERS",
    "FaultPlan",
    "attempt_number",
    "fault_reply",
    "parse_fault_header",
]

FAULT_HEADER = "x-together-magic-fault"
RETRY_COUNT_HEADERS = ("x-together-magic-retry-count", "x-stainless-retry-count")
FAULTS = (
    "500",
    "502",
    "503",
    "504",
    "408",
    "409",
    "429",
    "402",
    "403",
    "422",
    "html502",
    "drop",
    "slow",
    "truncated",
    "badjson",
    "nodata",
    "badbase64",
)
DEFAULT_FAULTS = ("500", "503")
RENDERED_FAULTS = ("nodata", "badbase64", "slow")
"""Faults acted out on a real rendered answer (the others answer before the body is read)."""
_CLIENT_FAULTS = {
    "402": ("Credit limit exceeded. Please add credits to your account to continue.", "payment_required"),
    "403": ("You do not have access to this model.", "permission_denied"),
    "422": ("The image was flagged by the safety checker. Try a different prompt or seed.", "safety_checker"),
}
RATE_LIMITED = "Request was rejected due to request rate limiting. Your dynamic rate limit was exceeded."
"""Together's 429 above an account's dynamic rate: type ``dynamic_request_limited`` (its rate-limit docs)."""
_SERVER_FAULTS = {
    "500": ("Internal server error", "server_error"),
    "502": ("Bad gateway", "server_error"),
    "503": ("The model is overloaded; please try again shortly.", "service_unavailable"),
    "504": ("The request timed out upstream; please try again.", "timeout"),
    "408": ("The request took too long to arrive; send it again.", "request_timeout"),
    "409": ("Another request with the same idempotency key is in progress.", "conflict"),
}
"""At or below the dynamic rate an overloaded model answers 503 (not 429), per Together's rate-limit docs."""
_BIG = 10**6
"""Ceiling for numbers in fault headers (times, retry-after-ms): no header makes us sleep forever."""


@dataclass(frozen=True)
class FaultPlan:
    kind: str
    times: int | None = None
    retry_after_ms: int | None = None
    should_retry: str | None = None


def _small_int(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 7:
        return None
    return min(int(text), _BIG)


def parse_fault_header(value: str) -> FaultPlan | None:
    """``KIND[;times=N][;retry-after-ms=M][;should-retry=true|false]``; anything unreadable is ignored."""
    kind, *options = [part.strip() for part in value.split(";")]
    if kind not in FAULTS:
        return None
    settings = dict(opt.partition("=")[::2] for opt in options)
    should_retry = settings.get("should-retry")
    return FaultPlan(
        kind,
        _small_int(settings.get("times")),
        _small_int(settings.get("retry-after-ms")),
        should_retry if should_retry in ("true", "false") else None,
    )


def attempt_number(headers: Mapping[str, str]) -> int:
    """0 for a first attempt, 1 for the first retry...: the highest count any client header gives."""
    counts = [_small_int(headers.get(name)) for name in RETRY_COUNT_HEADERS]
    return max((c for c in counts if c is not None), default=0)


def fault_reply(fault: FaultPlan, request_id: str) -> Reply:
    """The answer for a fault that needs no rendering."""
    retry_headers = {"retry-after-ms": str(fault.retry_after_ms)} if fault.retry_after_ms is not None else {}
    if fault.should_retry is not None:
        retry_headers["x-should-retry"] = fault.should_retry
    kind = fault.kind
    if kind in _CLIENT_FAULTS:
        message, code = _CLIENT_FAULTS[kind]
        return error_reply(request_id, OfflineAPIError(int(kind), message, code=code, headers=retry_headers))
    if kind in _SERVER_FAULTS:
        message, type_ = _SERVER_FAULTS[kind]
        return error_reply(request_id, OfflineAPIError(int(kind), message, type=type_, headers=retry_headers))
    if kind == "429":
        headers = {"retry-after": "1", "x-ratelimit-reset": "1", **retry_headers}
        err = OfflineAPIError(429, RATE_LIMITED, type="dynamic_request_limited", headers=headers)
        return error_reply(request_id, err)
    if kind == "html502":
        # a proxy's page, as a CDN or nginx in front of the API would send it
        page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body>"
        return Reply(502, page, {"content-type": "text/html", **retry_headers})
    if kind == "badjson":
        return Reply(
            200, b'{"id": "x", "data": [{"index": 0, "b64_json": ', {"content-type": "application/json"}
        )
    body = json.dumps({"id": request_id, "object": "list", "data": []}).encode()
    return Reply(200, body, {"content-type": "application/json"}, fault=kind)  # drop / truncated
