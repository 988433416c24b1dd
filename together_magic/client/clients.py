"""``Together`` and ``AsyncTogether``: the SDK's ``client.images.generate`` on one pooled httpx client.

No IPython and no widgets here: any Python program can use it. Where the requests go:

- ``api_key`` / ``TOGETHER_API_KEY`` set, no base URL: Together's cloud;
- ``base_url`` / ``TOGETHER_BASE_URL`` set: that server (a key is sent when there is one);
- neither, or ``base_url="offline"``: the in-process offline backend, through an httpx transport.

``ca_file="cert.pem"`` (or ``TOGETHER_MAGIC_CA_FILE``) trusts that certificate too, for a class gateway
with a self-signed one (see ``tls``).

``strict=True`` (or ``TOGETHER_MAGIC_STRICT=1``) asks a together-magic backend to answer a retired model as
the cloud does now (404 ``model_not_available``); otherwise it answers, and the client says once per model
that the model is retired and what to use instead (``announce_offline=False`` keeps both notices quiet).

Both clients retry the same way (see ``retries``), raise the same typed errors (see ``errors``), expose the
answer's rate-limit headers, download image URLs themselves (one pool, one User-Agent), and never put the
API key in a message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import httpx

from ..errors import APIError
from ..offline import shared_backend
from ..offline.transport import AsyncOfflineTransport, OfflineTransport
from ..types import ImageRequest, ImageResponse
from .base import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    OFFLINE,
    PATH,
    BaseClient,
    resolve_settings,
)
from .listing import AsyncModels, Models

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "AsyncTogether",
    "NotGiven",
    "Together",
    "resolve_settings",
]


def _offline_transport(kind: str) -> Any:
    backend = shared_backend()
    return OfflineTransport(backend) if kind == "sync" else AsyncOfflineTransport(backend)


class Together(BaseClient):
    """Synchronous client. One connection pool per instance: reuse it, close it (or use ``with``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        announce_offline: bool = True,
        strict: bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            announce_offline=announce_offline,
            strict=strict,
            ca_file=ca_file,
        )
        transport = _offline_transport("sync") if self.offline else None
        self._http = httpx.Client(transport=transport, **self._client_args())
        self.images = Images(self)
        self.models = Models(self, self._http)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Together:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(self, url: str) -> bytes:
        """Download an image URL (Together's CDN wants a User-Agent; the key is never sent with it)."""
        try:
            response = self._http.get(url, follow_redirects=True, headers={"Accept": "image/*"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise self._download_error(url, exc) from None
        return response.content

    async def afetch(self, url: str) -> bytes:
        return await asyncio.to_thread(self.fetch, url)

    def _send(self, request: ImageRequest, options: Mapping[str, Any]) -> ImageResponse:
        self._before_request()
        attempt = 0
        while True:
            call = self._call(request, options, attempt)
            response: httpx.Response | None = None
            try:
                response = self._http.post(PATH, **call)
            except (httpx.TransportError, OSError, OverflowError) as exc:
                # OSError/OverflowError: a socket refused before httpx could wrap it (odd hosts, ports)
                outcome: ImageResponse | APIError = self._connection_error(
                    exc, call.get("timeout", self.timeout)
                )
            else:
                outcome = self._outcome(response, request, self)
            if isinstance(outcome, ImageResponse):
                return outcome
            wait = self._retry_wait(attempt, response, outcome)
            if wait is None:
                raise outcome
            time.sleep(wait)
            attempt += 1


class AsyncTogether(BaseClient):
    """Asynchronous client for notebooks and services; the same surface as ``Together``, awaited.

    Its pool belongs to the event loop that first uses it (in Jupyter, the kernel's loop).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        announce_offline: bool = True,
        strict: bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            announce_offline=announce_offline,
            strict=strict,
            ca_file=ca_file,
        )
        transport = _offline_transport("async") if self.offline else None
        self._http = httpx.AsyncClient(transport=transport, **self._client_args())
        self.images = AsyncImages(self)
        self.models = AsyncModels(self, self._http)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> AsyncTogether:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def afetch(self, url: str) -> bytes:
        try:
            response = await self._http.get(url, follow_redirects=True, headers={"Accept": "image/*"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise self._download_error(url, exc) from None
        return response.content

    def fetch(self, url: str) -> bytes:
        """For ``choice.image_bytes()`` called outside a coroutine: a short-lived sync client, same rules."""
        with Together(
            api_key=self._settings.api_key,
            base_url=OFFLINE if self.offline else self.base_url,
            timeout=self.timeout,
            announce_offline=False,
            ca_file=self.ca_file or "",
        ) as sync:
            return sync.fetch(url)

    async def _send(self, request: ImageRequest, options: Mapping[str, Any]) -> ImageResponse:
        self._before_request()
        attempt = 0
        while True:
            call = self._call(request, options, attempt)
            response: httpx.Response | None = None
            try:
                response = await self._http.post(PATH, **call)
            except (httpx.TransportError, OSError, OverflowError) as exc:
                # OSError/OverflowError: a socket refused before httpx could wrap it (odd hosts, ports)
                outcome: ImageResponse | APIError = self._connection_error(
                    exc, call.get("timeout", self.timeout)
                )
            else:
                outcome = self._outcome(response, request, self)
            if isinstance(outcome, ImageResponse):
                return outcome
            wait = self._retry_wait(attempt, response, outcome)
            if wait is None:
                raise outcome
            await asyncio.sleep(wait)
            attempt += 1


_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")


def build_request(fields: dict[str, Any]) -> tuple[ImageRequest, dict[str, Any]]:
    """Split ``generate``'s keywords into the request body and the SDK-2+ per-call options.

    ``extra_body`` merges into the body (and wins, as in the SDK); other unknown keywords travel in the body.
    ``response_format`` defaults to base64 (the images stay in the response; URLs expire).
    """
    options = {name: fields.pop(name) for name in _OPTIONS if name in fields}
    if options.get("timeout", 0) is NOT_GIVEN:
        del options["timeout"]
    body = {k: v for k, v in fields.items() if v is not None or k in ("prompt", "model")}
    body.setdefault("response_format", "base64")  # keeps the caller's order of fields in the payload
    body.update(options.get("extra_body") or {})
    return ImageRequest(**body), options


class NotGiven:
    """The SDK's "argument not given" marker, for ``timeout``, where None means "no limit"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


def _from_call(call: dict[str, Any]) -> tuple[ImageRequest, dict[str, Any]]:
    """``generate``'s arguments (its ``locals()``) -> the request and the per-call options."""
    fields = {k: v for k, v in call.items() if k not in ("self", "kwargs")}
    if fields["timeout"] is NOT_GIVEN:
        del fields["timeout"]
    if fields["reference_images"] is not None and not isinstance(fields["reference_images"], str):
        fields["reference_images"] = list(fields["reference_images"])  # a str is sent as is: the API says no
    if fields["image_loras"] is not None:  # any iterable of mappings, as the SDK takes: JSON wants a list
        fields["image_loras"] = [dict(lora) for lora in fields["image_loras"]]
    return build_request({**fields, **call["kwargs"]})


class Images:
    def __init__(self, client: Together) -> None:
        self._client = client

    def generate(
        self,
        *,
        prompt: str,
        model: str,
        seed: int | None = None,
        n: int = 1,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_url: str | None = None,
        reference_images: Sequence[str] | None = None,
        image_loras: Iterable[Mapping[str, Any]] | None = None,
        output_format: Literal["jpeg", "png"] | None = None,
        response_format: Literal["base64", "url"] | None = None,
        disable_safety_checker: bool | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        **kwargs: Any,
    ) -> ImageResponse:
        """Generate ``n`` images: the Together SDK's keywords (None: not sent); any other keyword
        (``guidance``, ``aspect_ratio``, ``prompt_upsampling``...) also goes into the body.

        ``extra_headers``, ``extra_query``, ``extra_body`` and ``timeout`` are per-call options, as in the
        Together SDK 2+ (``timeout=None``: no limit for this call). Unlike the raw API (URLs by default) this
        asks for base64 unless ``response_format`` is given, so the images survive URL expiry.
        """
        request, options = _from_call(locals())
        return self._client._send(request, options)

    def send(self, request: ImageRequest, **options: Any) -> ImageResponse:
        """Send a request built elsewhere (the magic, the panel and the CLI build theirs in one place)."""
        return self._client._send(request, options)


class AsyncImages:
    def __init__(self, client: AsyncTogether) -> None:
        self._client = client

    async def generate(
        self,
        *,
        prompt: str,
        model: str,
        seed: int | None = None,
        n: int = 1,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_url: str | None = None,
        reference_images: Sequence[str] | None = None,
        image_loras: Iterable[Mapping[str, Any]] | None = None,
        output_format: Literal["jpeg", "png"] | None = None,
        response_format: Literal["base64", "url"] | None = None,
        disable_safety_checker: bool | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        **kwargs: Any,
    ) -> ImageResponse:
        """The same as ``Together().images.generate``, awaited."""
        request, options = _from_call(locals())
        return await self._client._send(request, options)

    async def send(self, request: ImageRequest, **options: Any) -> ImageResponse:
        return await self._client._send(request, options)
