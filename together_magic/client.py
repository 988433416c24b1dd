"""``Together`` and ``AsyncTogether``: the SDK's ``client.images.generate`` on one pooled httpx client.

No IPython and no widgets here: any Python program can use it. Where the requests go:

- ``api_key`` / ``TOGETHER_API_KEY`` set, no base URL: Together's cloud;
- ``base_url`` / ``TOGETHER_BASE_URL`` set: that server (a key is sent when there is one);
- neither, or ``base_url="offline"``: the in-process offline backend, through an httpx transport.

Both clients retry the same way (see ``_retries``), raise the same typed errors (see ``errors``), expose the
answer's rate-limit headers, download image URLs themselves (one pool, one User-Agent), and never put the
API key in a message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
from .offline import OFFLINE_BASE_URL
from .types import ImageRequest, ImageResponse, RateLimit, looks_like_base64

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "AsyncTogether", "Together", "resolve_settings"]

log = logging.getLogger("together_magic")

DEFAULT_BASE_URL = "https://api.together.xyz/v1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
OFFLINE = "offline"
OFFLINE_NOTICE = (
    "together-magic: no TOGETHER_API_KEY set, so images come from the offline backend "
    "(a procedural renderer, not a diffusion model); set TOGETHER_API_KEY to use Together AI."
)
_PATH = "/images/generations"
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32)
_TIMEOUT_NAMES: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}
_notice_shown = False
USER_AGENT = f"together-magic/{__version__} (python {platform.python_version()}; httpx {httpx.__version__})"


@dataclass(frozen=True)
class Settings:
    """Where requests go and with which key; resolved once per client from arguments and environment."""

    base_url: str
    api_key: str | None
    offline: bool

    @property
    def backend(self) -> str:
        """``offline``, ``together`` or the base URL: what captions show (never the key)."""
        if self.offline:
            return "offline"
        host = httpx.URL(self.base_url).host
        return "together" if host.startswith("api.together.") else self.base_url


def resolve_settings(api_key: str | None = None, base_url: str | None = None) -> Settings:
    key = api_key if api_key is not None else os.environ.get("TOGETHER_API_KEY")
    key = key.strip() if key else None
    if key and not (key.isascii() and key.isprintable()):
        # httpx would echo an unsendable header value in its exception: refuse before that can happen.
        raise AuthenticationError("the API key contains characters that cannot be sent in an HTTP header")
    url = base_url if base_url is not None else os.environ.get("TOGETHER_BASE_URL")
    url = url.strip().rstrip("/") if url else None
    if url == OFFLINE or (url is None and not key):
        return Settings(OFFLINE_BASE_URL, key or None, offline=True)
    return Settings(_with_version(url) if url else DEFAULT_BASE_URL, key or None, offline=False)


def _with_version(url: str) -> str:
    """Accept both SDK conventions for TOGETHER_BASE_URL: 1.x wants ``.../v1``, 2.x+ the bare host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise APIConnectionError(f"TOGETHER_BASE_URL is not a usable URL ({url!r}: {exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise APIConnectionError(f"TOGETHER_BASE_URL must be an http(s) URL with a host, got {url!r}")
    try:
        _ = parsed.port
    except ValueError as exc:  # pragma: no cover - httpx validates ports when parsing
        raise APIConnectionError(f"TOGETHER_BASE_URL has a bad port ({url!r}: {exc})") from None
    return url + "/v1" if parsed.path in ("", "/") else url


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"timeout must be more than 0 seconds, got {value!r}")
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


class _BaseClient:
    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        announce_offline: bool,
    ) -> None:
        self._settings = resolve_settings(api_key, base_url)
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self.timeout = _timeout(timeout)
        self._announce = announce_offline

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def offline(self) -> bool:
        """True when requests are answered by the in-process offline backend."""
        return self._settings.offline

    @property
    def backend(self) -> str:
        return self._settings.backend

    def __repr__(self) -> str:
        key = "'***'" if self._settings.api_key else "None"
        where = "offline backend" if self.offline else self.base_url
        return f"{type(self).__name__}(base_url={where!r}, api_key={key}, max_retries={self.max_retries})"

    def _client_args(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
            "limits": _LIMITS,
        }

    def _call(self, request: ImageRequest, options: Mapping[str, Any], attempt: int) -> dict[str, Any]:
        """httpx keyword arguments for one attempt: JSON body, headers, query and timeout."""
        headers = {"x-together-magic-retry-count": str(attempt), **(options.get("extra_headers") or {})}
        if self._settings.api_key:
            headers["Authorization"] = f"Bearer {self._settings.api_key}"  # API calls only, never downloads
        call: dict[str, Any] = {"json": request.payload(), "headers": headers}
        if options.get("extra_query"):
            call["params"] = dict(options["extra_query"])
        if options.get("timeout") is not None:
            call["timeout"] = _timeout(options["timeout"])
        return call

    def _before_request(self) -> None:
        global _notice_shown
        if self.offline and self._announce and not _notice_shown:
            _notice_shown = True
            print(OFFLINE_NOTICE)  # information, not an error: stdout, once per process

    def _connection_error(self, exc: httpx.TransportError, timeout: httpx.Timeout) -> APIConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            name = _TIMEOUT_NAMES.get(type(exc), "read")
            value = getattr(timeout, name)
            error = APITimeoutError(f"no answer from {self.base_url} within the {value:g} s {name} timeout")
            error.timeout_name = name
            return error
        detail = redact(f"{type(exc).__name__}: {exc}", self._settings.api_key)
        return APIConnectionError(f"could not talk to {self.base_url}: {detail}")

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        error = status_error_from_response(
            response.status_code,
            response.content,
            request_id=response.headers.get("x-request-id"),
            content_type=response.headers.get("content-type", ""),
            api_key=self._settings.api_key,
        )
        error.rate_limit = RateLimit.from_headers(response.headers)
        error.retry_after = _retries.parse_retry_after(response.headers)
        return error

    def _retry_wait(self, attempt: int, response: httpx.Response | None, error: APIError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``error``."""
        if attempt >= self.max_retries:
            return None
        if response is not None and not _retries.should_retry_status(response.status_code, response.headers):
            return None
        delay = _retries.retry_delay(attempt, response.headers if response is not None else None)
        log.info("retrying in %.2f s (retry %d of %d) after: %s", delay, attempt + 1, self.max_retries, error)
        return delay

    def _outcome(
        self, response: httpx.Response, request: ImageRequest, fetcher: Any
    ) -> ImageResponse | APIError:
        if not response.is_success:
            return self._status_error(response)
        request_id = response.headers.get("x-request-id")

        def invalid(message: str) -> APIResponseValidationError:
            return APIResponseValidationError(
                message, status_code=response.status_code, request_id=request_id
            )

        try:
            result = ImageResponse.parse(
                response.content,
                request=request,
                fetcher=fetcher,
                rate_limit=RateLimit.from_headers(response.headers),
            )
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            if first.get("type") == "json_invalid":
                return invalid("the server answered with a body that is not JSON")
            where = ".".join(str(p) for p in first.get("loc", ()))
            return invalid(f"unexpected response shape at '{where}': {first.get('msg')}")
        if not result.data:
            return invalid("the response holds no images ('data' is missing or empty)")
        for choice in result.data:
            # A free screen now; the strict decode happens when the bytes are first needed.
            if choice.b64_json is not None:
                if not looks_like_base64(choice.b64_json):
                    return invalid(f"image {choice.index}: b64_json is not valid base64")
            elif choice.url is None:
                return invalid(f"image {choice.index} has neither b64_json nor url")
        return result

    def _download_error(self, url: str, exc: httpx.HTTPError) -> ImageDataError:
        return ImageDataError(redact(f"could not download {url}: {exc}", self._settings.api_key))


def _offline_transport(kind: str) -> Any:
    from .offline import shared_backend
    from .offline.transport import AsyncOfflineTransport, OfflineTransport

    backend = shared_backend()
    return OfflineTransport(backend) if kind == "sync" else AsyncOfflineTransport(backend)


class Together(_BaseClient):
    """Synchronous client. One connection pool per instance: reuse it, close it (or use ``with``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        announce_offline: bool = True,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            announce_offline=announce_offline,
        )
        transport = _offline_transport("sync") if self.offline else None
        self._http = httpx.Client(transport=transport, **self._client_args())
        self.images = Images(self)

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
                response = self._http.post(_PATH, **call)
            except httpx.TransportError as exc:
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
        announce_offline: bool = True,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            announce_offline=announce_offline,
        )
        transport = _offline_transport("async") if self.offline else None
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
        ) as sync:
            return sync.fetch(url)

    async def _send(self, request: ImageRequest, options: Mapping[str, Any]) -> ImageResponse:
        self._before_request()
        attempt = 0
        while True:
            call = self._call(request, options, attempt)
            response: httpx.Response | None = None
            try:
                response = await self._http.post(_PATH, **call)
            except httpx.TransportError as exc:
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
    body = {k: v for k, v in fields.items() if v is not None or k in ("prompt", "model")}
    body.setdefault("response_format", "base64")  # keeps the caller's order of fields in the payload
    body.update(options.get("extra_body") or {})
    return ImageRequest(**body), options


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
        **kwargs: Any,
    ) -> ImageResponse:
        """Generate ``n`` images; extra keywords (``steps``, ``guidance_scale``, ...) go into the body.

        ``extra_headers``, ``extra_query``, ``extra_body`` and ``timeout`` are per-call options, as in the
        Together SDK 2+. Unlike the raw API (URLs by default) this asks for base64 unless
        ``response_format`` is given, so the images live in the response and survive URL expiry.
        """
        fields = dict(prompt=prompt, model=model, seed=seed, n=n, height=height, width=width)
        request, options = build_request({**fields, "negative_prompt": negative_prompt, **kwargs})
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
        **kwargs: Any,
    ) -> ImageResponse:
        """The same as ``Together().images.generate``, awaited."""
        fields = dict(prompt=prompt, model=model, seed=seed, n=n, height=height, width=width)
        request, options = build_request({**fields, "negative_prompt": negative_prompt, **kwargs})
        return await self._client._send(request, options)

    async def send(self, request: ImageRequest, **options: Any) -> ImageResponse:
        return await self._client._send(request, options)
