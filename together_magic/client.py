"""``Together`` and ``AsyncTogether``: the SDK's ``client.images.generate`` on one pooled httpx client.

No IPython and no widgets here: any Python program can use it. Where the requests go:

- ``api_key`` / ``TOGETHER_API_KEY`` set, no base URL: Together's cloud;
- ``base_url`` / ``TOGETHER_BASE_URL`` set: that server (a key is sent when there is one);
- neither, or ``base_url="offline"``: the in-process offline backend, through an httpx transport.

Both clients retry the same way (see ``_retries``), raise the same typed errors (see ``errors``) and never
put the API key in a message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pydantic

from . import _retries
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ImageDataError,
    redact,
    status_error_from_response,
)
from .types import ImageChoicesData, ImageRequest, ImageResponse, looks_like_base64

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "AsyncTogether", "Together"]

log = logging.getLogger("together_magic")

DEFAULT_BASE_URL = "https://api.together.xyz/v1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
OFFLINE = "offline"
_PATH = "/images/generations"
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32)
_notice_shown = False

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Where requests go and with which key; resolved once per client from arguments and environment."""

    base_url: str
    api_key: str | None
    offline: bool


def resolve_settings(api_key: str | None = None, base_url: str | None = None) -> Settings:
    key = api_key if api_key is not None else os.environ.get("TOGETHER_API_KEY")
    key = key.strip() if key else None
    if (key and not key.isascii()) or (key and not key.isprintable()):
        # httpx would echo an unsendable header value in its exception: refuse before that can happen.
        raise AuthenticationError("the API key contains characters that cannot be sent in an HTTP header")
    url = base_url if base_url is not None else os.environ.get("TOGETHER_BASE_URL")
    url = url.strip().rstrip("/") if url else None
    if url == OFFLINE or (url is None and not key):
        from .offline import OFFLINE_BASE_URL

        return Settings(OFFLINE_BASE_URL, key or None, offline=True)
    return Settings(_with_version(url) if url else DEFAULT_BASE_URL, key or None, offline=False)


def _with_version(url: str) -> str:
    """Accept both SDK conventions for TOGETHER_BASE_URL: 1.x wants ``.../v1``, 2.x+ the bare host."""
    parsed = httpx.URL(url)
    return url + "/v1" if parsed.path in ("", "/") else url


def _user_agent() -> str:
    return f"together-magic/{__version__} (python {platform.python_version()}; httpx {httpx.__version__})"


def _show_offline_notice() -> None:
    global _notice_shown
    if not _notice_shown:
        _notice_shown = True
        print(
            "together-magic: no TOGETHER_API_KEY set, so images come from the offline backend "
            "(a procedural renderer, not a diffusion model); set TOGETHER_API_KEY to use Together AI.",
            file=sys.stderr,
        )


def _timeout_name(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "read")


class _BaseClient:
    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ) -> None:
        self._settings = resolve_settings(api_key, base_url)
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        if timeout is None:
            self.timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        else:
            self.timeout = httpx.Timeout(float(timeout), connect=min(5.0, float(timeout)))

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def offline(self) -> bool:
        """True when requests are answered by the in-process offline backend."""
        return self._settings.offline

    def __repr__(self) -> str:
        key = "'***'" if self._settings.api_key else "None"
        where = "offline backend" if self.offline else self.base_url
        return f"{type(self).__name__}(base_url={where!r}, api_key={key}, max_retries={self.max_retries})"

    def _client_args(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": _user_agent(), "Accept": "application/json"},
            "limits": _LIMITS,
        }

    def _request_headers(self, attempt: int) -> dict[str, str]:
        # The key goes on API calls only, never on image downloads from other hosts.
        headers = {"x-together-magic-retry-count": str(attempt)}
        if self._settings.api_key:
            headers["Authorization"] = f"Bearer {self._settings.api_key}"
        return headers

    def _before_request(self) -> None:
        if self.offline:
            _show_offline_notice()

    def _connection_error(self, exc: httpx.TransportError) -> APIConnectionError:
        key = self._settings.api_key
        if isinstance(exc, httpx.TimeoutException):
            name = _timeout_name(exc)
            value = getattr(self.timeout, name)
            return APITimeoutError(
                f"no answer from {self.base_url} within the {value:g} s {name} timeout "
                f"(raise it with timeout=...)"
            )
        return APIConnectionError(
            redact(f"could not talk to {self.base_url}: {type(exc).__name__}: {exc}", key)
        )

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        return status_error_from_response(
            response.status_code,
            response.content,
            request_id=response.headers.get("x-request-id"),
            content_type=response.headers.get("content-type", ""),
            api_key=self._settings.api_key,
        )

    def _retry_wait(self, attempt: int, response: httpx.Response | None, error: APIError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``error``."""
        if attempt >= self.max_retries:
            return None
        if response is not None and not _retries.should_retry_status(response.status_code, response.headers):
            return None
        delay = _retries.retry_delay(attempt, response.headers if response is not None else None)
        log.info("retrying in %.2f s (retry %d of %d) after: %s", delay, attempt + 1, self.max_retries, error)
        return delay

    def _parse(self, response: httpx.Response, request: ImageRequest) -> ImageResponse:
        request_id = response.headers.get("x-request-id")

        def invalid(message: str) -> APIResponseValidationError:
            return APIResponseValidationError(
                message, status_code=response.status_code, request_id=request_id
            )

        try:
            # Straight from bytes: pydantic's JSON parser is several times faster than json.loads + validate.
            result = ImageResponse.model_validate_json(response.content)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            if first.get("type") == "json_invalid":
                raise invalid("the server answered with a body that is not JSON") from None
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise invalid(f"unexpected response shape at '{where}': {first.get('msg')}") from None
        if not result.data:
            raise invalid("the response holds no images ('data' is missing or empty)")
        for choice in result.data:
            self._check_choice(choice, invalid)
        result._request = request
        return result

    def _check_choice(self, choice: ImageChoicesData, invalid: Callable[[str], APIError]) -> None:
        # A free screen now so obvious garbage is a typed error of this call; the strict decode happens
        # once, when the bytes are first needed (display, save, image()).
        if choice.b64_json is not None:
            if not looks_like_base64(choice.b64_json):
                raise invalid(f"image {choice.index}: b64_json is not valid base64")
        elif choice.url is None:
            raise invalid(f"image {choice.index} has neither b64_json nor url")


class Together(_BaseClient):
    """Synchronous client. One connection pool per instance: reuse it, close it (or use ``with``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        transport: httpx.BaseTransport | None = None
        if self.offline:
            from .offline import shared_backend
            from .offline.transport import OfflineTransport

            transport = OfflineTransport(shared_backend())
        self._http = httpx.Client(transport=transport, **self._client_args())
        self.images = Images(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Together:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, request: ImageRequest) -> ImageResponse:
        self._before_request()
        payload = request.payload()
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.post(_PATH, json=payload, headers=self._request_headers(attempt))
            except httpx.TransportError as exc:
                error: APIError = self._connection_error(exc)
            else:
                if response.is_success:
                    return self._attach(self._parse(response, request))
                error = self._status_error(response)
            wait = self._retry_wait(attempt, response, error)
            if wait is None:
                raise error
            time.sleep(wait)
            attempt += 1

    def _attach(self, result: ImageResponse) -> ImageResponse:
        for choice in result.data or []:
            if choice.url is not None:
                choice._fetch = self._download
        return result

    def _download(self, url: str) -> bytes:
        return _get_image(self._http, url, self._settings.api_key)


class AsyncTogether(_BaseClient):
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
    ) -> None:
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        transport: httpx.AsyncBaseTransport | None = None
        if self.offline:
            from .offline import shared_backend
            from .offline.transport import AsyncOfflineTransport

            transport = AsyncOfflineTransport(shared_backend())
        self._http = httpx.AsyncClient(transport=transport, **self._client_args())
        self.images = AsyncImages(self)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> AsyncTogether:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, request: ImageRequest) -> ImageResponse:
        self._before_request()
        payload = request.payload()
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.post(_PATH, json=payload, headers=self._request_headers(attempt))
            except httpx.TransportError as exc:
                error: APIError = self._connection_error(exc)
            else:
                if response.is_success:
                    return self._attach(self._parse(response, request))
                error = self._status_error(response)
            wait = self._retry_wait(attempt, response, error)
            if wait is None:
                raise error
            await asyncio.sleep(wait)
            attempt += 1

    def _attach(self, result: ImageResponse) -> ImageResponse:
        for choice in result.data or []:
            if choice.url is not None:
                choice._afetch = self._adownload
                choice._fetch = self._download_blocking
        return result

    async def _adownload(self, url: str) -> bytes:
        try:
            response = await self._http.get(url, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ImageDataError(redact(f"could not download {url}: {exc}", self._settings.api_key)) from None
        return response.content

    def _download_blocking(self, url: str) -> bytes:
        """For ``choice.image_bytes()`` called outside a coroutine on an async client's response."""
        transport: httpx.BaseTransport | None = None
        if self.offline:
            from .offline import shared_backend
            from .offline.transport import OfflineTransport

            transport = OfflineTransport(shared_backend())
        args = self._client_args()
        args.pop("base_url")
        with httpx.Client(transport=transport, **args) as client:
            return _get_image(client, url, self._settings.api_key)


def _get_image(http: httpx.Client, url: str, api_key: str | None) -> bytes:
    try:
        response = http.get(url, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageDataError(redact(f"could not download {url}: {exc}", api_key)) from None
    return response.content


def _request(
    prompt: str,
    model: str,
    seed: int | None,
    n: int,
    height: int,
    width: int,
    negative_prompt: str | None,
    extra: dict[str, Any],
) -> ImageRequest:
    extra.setdefault("response_format", "base64")  # keeps the caller's order of fields in the payload
    return ImageRequest(
        prompt=prompt, model=model, seed=seed, n=n, height=height, width=width,
        negative_prompt=negative_prompt, **extra,
    )  # fmt: skip


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
        height: int = 1024,
        width: int = 1024,
        negative_prompt: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """Generate ``n`` images; extra keywords (``steps``, ``guidance_scale``, ...) go into the body.

        Unlike the raw API (which answers with short-lived URLs by default) this asks for base64 unless
        ``response_format`` is given, so the images live in the response and survive URL expiry.
        """
        return self._client._send(_request(prompt, model, seed, n, height, width, negative_prompt, kwargs))

    def send(self, request: ImageRequest) -> ImageResponse:
        """Send a request built elsewhere (the magic, the panel and the CLI build theirs in one place)."""
        return self._client._send(request)


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
        height: int = 1024,
        width: int = 1024,
        negative_prompt: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """The same as ``Together().images.generate``, awaited."""
        request = _request(prompt, model, seed, n, height, width, negative_prompt, kwargs)
        return await self._client._send(request)

    async def send(self, request: ImageRequest) -> ImageResponse:
        return await self._client._send(request)
