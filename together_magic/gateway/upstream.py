"""Where a gateway's images come from: the upstream (with the server's key) or the offline renderer.

The upstream is called with together-magic's own async client, so it gets the client's typed errors and
key redaction, but one attempt per call: the gateway makes the retries itself (``core``), each taking its
own place in the class's pace, since the upstream counts attempts. The gateway always asks for base64 (it
keeps the images: the shared cache, the wall and its own ``/shrt/`` URLs all need the bytes). The key is
held by the client object of each worker and goes nowhere else; every message taken from an upstream error
is redacted once more here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from ..client.clients import AsyncTogether
from ..client.retries import retryable
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    ImageDataError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    redact,
)
from ..imagefiles.bytes import sniff_format
from ..offline.apierror import OfflineAPIError
from ..offline.backend import GENERATIONS, BackendOptions, OfflineBackend, Reply
from ..types import ImageRequest

__all__ = ["Made", "OfflineRenderer", "Upstream", "UpstreamFailure"]

log = logging.getLogger("together_magic.gateway")

_RELAYED = frozenset({400, 404, 413, 415, 422})
"""Upstream statuses that judge the student's request itself: passed on as they are (never a fallback)."""


@dataclass(frozen=True)
class Made:
    images: tuple[bytes, ...]
    model: str


class UpstreamFailure(Exception):
    """The upstream did not make the images; ``error`` is the student's answer, ``fallback`` whether the
    offline renderer may stand in (not when the request itself was wrong), ``refused`` whether the upstream
    judged the request itself wrong (a 4xx: it counts against the student), ``retry`` whether another
    attempt may succeed (a dropped connection, a 5xx)."""

    def __init__(
        self, error: OfflineAPIError, *, fallback: bool, refused: bool = False, retry: bool = False
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.fallback = fallback
        self.refused = refused
        self.retry = retry


def _failure(exc: Exception, key: str | None) -> UpstreamFailure:
    detail = redact(str(exc), key)
    if isinstance(exc, APIStatusError) and exc.status_code in _RELAYED:
        return UpstreamFailure(
            OfflineAPIError(
                exc.status_code,
                redact(exc.message, key),
                type=exc.type or "invalid_request_error",
                param=exc.param,
                code=exc.code,
            ),
            fallback=False,
            refused=True,
        )
    log.warning("together-magic gateway: the upstream failed: %s", detail)
    no_retry = {"x-should-retry": "false"}
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        error = OfflineAPIError(
            502,
            "The image service refused the class gateway's key. Tell your teacher (the gateway's log "
            "says more).",
            type="upstream_error",
            code="upstream_key_refused",
            headers=no_retry,
        )
    elif isinstance(exc, PaymentRequiredError):
        error = OfflineAPIError(
            503,
            "The account behind the class gateway is out of credits or over its spending limit. Tell your "
            "teacher.",
            type="upstream_error",
            code="upstream_out_of_credits",
            headers=no_retry,
        )
    elif isinstance(exc, RateLimitError):
        error = OfflineAPIError(
            429,
            "The image service is rate limiting the class. Try again in a minute.",
            type="rate_limit",
            code="upstream_rate_limit",
            headers={"retry-after": "30"},
        )
    elif isinstance(exc, APIConnectionError):
        error = OfflineAPIError(
            502,
            "The image service behind the class gateway did not answer. Try again in a minute.",
            type="upstream_error",
            code="upstream_unreachable",
        )
    else:
        error = OfflineAPIError(
            502,
            "The image service behind the class gateway failed to make this image. Try again.",
            type="upstream_error",
            code="upstream_failed",
        )
    # A 429 is not tried again at once: the class's pace, not a quick retry, is the answer to it.
    again = (
        isinstance(exc, APIError | ImageDataError) and retryable(exc) and not isinstance(exc, RateLimitError)
    )
    return UpstreamFailure(error, fallback=True, retry=again)


class Upstream:
    """The forwarding client of one worker (created on its event loop at first use)."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url
        self._key = key
        self._client: AsyncTogether | None = None

    def __repr__(self) -> str:
        return f"Upstream({self.base_url!r}, key={'***' if self._key else None})"

    @property
    def client(self) -> AsyncTogether:
        if self._client is None:
            self._client = AsyncTogether(
                api_key=self._key, base_url=self.base_url, announce_offline=False, max_retries=0
            )
        return self._client

    @property
    def endpoint(self) -> str:
        """What the shared cache's keys are made for: the upstream's normalised base URL."""
        return self.client.base_url

    async def generate(self, request: ImageRequest) -> Made:
        """One attempt: the images, checked (strict base64, a real image format), or
        :class:`UpstreamFailure` saying whether another attempt may help."""
        try:
            response = await self.client.images.send(request)
            images = []
            for choice in response.data or []:
                data = await choice.aimage_bytes()
                if sniff_format(data) is None:
                    raise ImageDataError(f"image {choice.index}: not a JPEG, PNG, WebP or GIF image")
                images.append(data)
        except (APIError, ImageDataError) as exc:
            raise _failure(exc, self._key) from None
        if not images:
            raise _failure(ImageDataError("the upstream answered without images"), self._key)
        return Made(tuple(images), response.model or request.model)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class OfflineRenderer:
    """The offline backend, in this worker, for ``--fallback offline`` and ``--upstream offline``."""

    def __init__(self) -> None:
        self.backend = OfflineBackend(BackendOptions(rate_limit=10**9))

    async def generate(self, body: dict[str, Any]) -> Made:
        """Render ``body`` (already validated by the gateway); raises :class:`UpstreamFailure`."""
        payload = {**body, "response_format": "base64"}
        ticket = self.backend.start("POST", GENERATIONS, {}, None)
        work = (
            ticket if isinstance(ticket, Reply) else self.backend.admit(ticket, json.dumps(payload).encode())
        )
        reply = work if isinstance(work, Reply) else await asyncio.to_thread(self.backend.complete, work, "")
        answer = json.loads(reply.body)
        if reply.status != 200:
            error = answer.get("error") or {}
            raise UpstreamFailure(
                OfflineAPIError(
                    reply.status,
                    str(error.get("message") or "The offline renderer could not make this image."),
                    type=str(error.get("type") or "invalid_request_error"),
                    param=error.get("param"),
                    code=error.get("code"),
                ),
                fallback=False,
            )
        images = tuple(base64.b64decode(item["b64_json"]) for item in answer["data"])
        return Made(images, str(answer.get("model") or body.get("model")))
