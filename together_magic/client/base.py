"""What both clients share: where requests go (settings), one User-Agent, retries, errors, parsing.

``clients`` holds the two public clients and does the I/O (the httpx calls); this module is their common
machinery (building a call, turning an answer or a failure into a response or a typed error, when to
retry), kept apart so each stays small.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
import pydantic

from ..errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ImageDataError,
    public_url,
    redact,
    status_error_from_response,
)
from ..imagefiles.bytes import looks_like_base64
from ..models import STRICT_ENV, is_on, retirement_notice
from ..models.ratelimit import rate_limit_of
from ..offline import OFFLINE_BASE_URL
from ..offline.retired import RETIRED_HEADER, STRICT_HEADER
from ..types import ImageRequest, ImageResponse
from . import retries as _retries

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "OFFLINE",
    "PATH",
    "USER_AGENT",
    "BaseClient",
    "Settings",
    "resolve_settings",
]

log = logging.getLogger("together_magic")

# The Together SDK 2+/3 default (api.together.xyz, the 1.x default, still answers).
DEFAULT_BASE_URL = "https://api.together.ai/v1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
OFFLINE = "offline"
OFFLINE_NOTICE = (
    "offline backend: {why}, so these pictures come from together-magic's procedural renderer (not a "
    "diffusion model); set TOGETHER_API_KEY{when} to use Together AI."
)
"""The one offline notice: a client prints it once per process; a notebook shows it once per kernel."""
PATH = "/images/generations"
BACKEND_HEADER = "x-together-magic-backend"
"""A server may say what answered (a classroom gateway: ``together`` or, after falling back, ``offline``)."""
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=32)
_TIMEOUT_NAMES: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}
_notice_shown = False
_retired_noticed: set[str] = set()
"""Models whose retirement this process has said (once each)."""
try:
    VERSION = version("together-magic")
    """The installed version (pyproject.toml is its one source), for the User-Agent and ``--version``."""
except PackageNotFoundError:  # a source tree put on sys.path by hand, never installed
    VERSION = "0+unknown"
USER_AGENT = f"together-magic/{VERSION} (python {platform.python_version()}; httpx {httpx.__version__})"


def _said_backend(value: str | None) -> str | None:
    """The backend a server names, kept only if it is one of the badges (never echo arbitrary text)."""
    word = (value or "").strip().lower()
    return word if word in ("offline", "together", "gateway") else None


@dataclass(frozen=True)
class Settings:
    """Where requests go and with which key; resolved once per client from arguments and environment."""

    base_url: str
    api_key: str | None
    offline: bool

    @property
    def backend(self) -> str:
        """``offline``, ``together`` or the base URL: what captions show (never the key, nor a password or
        token the URL may carry)."""
        if self.offline:
            return "offline"
        host = httpx.URL(self.base_url).host
        return "together" if host.startswith("api.together.") else public_url(self.base_url)


def resolve_settings(api_key: str | None = None, base_url: str | None = None) -> Settings:
    key = api_key if api_key is not None else os.environ.get("TOGETHER_API_KEY")
    key = key.strip() if key else None
    if key and not (key.isascii() and key.isprintable()):
        # httpx would echo an unsendable header value in its exception: refuse before that can happen.
        raise AuthenticationError("the API key contains characters that cannot be sent in an HTTP header")
    url = base_url if base_url is not None else os.environ.get("TOGETHER_BASE_URL")
    url = (url.strip().rstrip("/") or None) if url else None  # blank (a sloppy .env line) means unset
    if url == OFFLINE or (url is None and not key):
        return Settings(OFFLINE_BASE_URL, key or None, offline=True)
    return Settings(_with_version(url) if url else DEFAULT_BASE_URL, key or None, offline=False)


def _with_version(url: str) -> str:
    """Accept both SDK conventions for TOGETHER_BASE_URL: 1.x wants ``.../v1``, 2.x+ the bare host."""
    shown = public_url(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        detail = redact(str(exc), parsed_password(url))
        raise APIConnectionError(f"TOGETHER_BASE_URL is not a usable URL ({shown!r}: {detail})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise APIConnectionError(f"TOGETHER_BASE_URL must be an http(s) URL with a host, got {shown!r}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise APIConnectionError(f"TOGETHER_BASE_URL has port {parsed.port}; a port is between 1 and 65535")
    if parsed.userinfo or "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        # httpx would log the URL with them at INFO and send them as Basic auth: the key goes in its variable.
        raise APIConnectionError(
            f"TOGETHER_BASE_URL cannot hold user:password@, got {shown!r}; put the key in TOGETHER_API_KEY "
            "and give the server's address only, e.g. http://127.0.0.1:8000"
        )
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        # "/v1/images/generations" is appended to the base URL: after a query or fragment it would be lost.
        raise APIConnectionError(
            f"TOGETHER_BASE_URL cannot have a query (?...) or fragment (#...), got {shown!r}; give the "
            "server's address only, e.g. http://127.0.0.1:8000"
        )
    return url + "/v1" if parsed.path in ("", "/") else url


def parsed_password(url: str) -> str | None:
    """The ``user:password@`` part of a URL, for redacting a parser's message that might echo it."""
    head = url.split("://", 1)[-1].split("/", 1)[0]
    return head.rpartition("@")[0] or None


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"timeout must be more than 0 seconds, got {value!r}")
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


class BaseClient:
    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        announce_offline: bool,
        strict: bool | None = None,
    ) -> None:
        self._settings = resolve_settings(api_key, base_url)
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self.timeout = _timeout(timeout)
        self._announce = announce_offline
        """Print the offline and retired-model notices (front ends that show their own pass False)."""
        self.strict = is_on(os.environ.get(STRICT_ENV)) if strict is None else bool(strict)
        """Ask a together-magic backend to answer retired models as the cloud does (404), not render them."""

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
        where = "offline backend" if self.offline else public_url(self.base_url)
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
        headers = {_retries.RETRY_HEADER: str(attempt), **(options.get("extra_headers") or {})}
        if self.strict and self.backend != "together":  # Together's cloud is strict by nature
            headers.setdefault(STRICT_HEADER, "1")
        if self._settings.api_key:
            headers["Authorization"] = f"Bearer {self._settings.api_key}"  # API calls only, never downloads
        call: dict[str, Any] = {"json": request.payload(), "headers": headers}
        if options.get("extra_query"):
            call["params"] = dict(options["extra_query"])
        if "timeout" in options:
            # As in the SDK 2+: a per-call ``timeout=None`` means no limit for this call (a slow model),
            # not the client's default; leave the keyword out for that.
            given = options["timeout"]
            call["timeout"] = httpx.Timeout(None) if given is None else _timeout(given)
        return call

    def _before_request(self) -> None:
        global _notice_shown
        if self.offline and self._announce and not _notice_shown:
            _notice_shown = True
            why = "base_url is 'offline'" if self._settings.api_key else "no TOGETHER_API_KEY is set"
            print(OFFLINE_NOTICE.format(why=why, when=""))  # information, not an error: stdout, once

    def _notice_retired(self, response: httpx.Response) -> None:
        """Once per model per process: the answer came from a model Together no longer serves."""
        said = response.headers.get(RETIRED_HEADER)
        if not said or not self._announce:
            return
        model_id, _, instead = said.partition(";")
        model_id = model_id.strip()
        if model_id in _retired_noticed:
            return
        _retired_noticed.add(model_id)
        text = retirement_notice(model_id) or f"{model_id} is retired; {instead.strip()[:200]}"
        print(f"together-magic: {text}")  # information, not an error: stdout

    def _connection_error(self, exc: Exception, timeout: httpx.Timeout) -> APIConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            name = _TIMEOUT_NAMES.get(type(exc), "read")
            value = getattr(timeout, name)
            within = f"the {value:g} s {name} timeout" if value is not None else f"its {name} timeout"
            error = APITimeoutError(f"no answer from {public_url(self.base_url)} within {within}")
            error.timeout_name = name
            return error
        detail = redact(f"{type(exc).__name__}: {exc}", self._settings.api_key)
        detail = redact(detail, parsed_password(self.base_url))
        return APIConnectionError(f"could not talk to {public_url(self.base_url)}: {detail}")

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        error = status_error_from_response(
            response.status_code,
            response.content,
            request_id=response.headers.get("x-request-id"),
            content_type=response.headers.get("content-type", ""),
            api_key=self._settings.api_key,
        )
        error.rate_limit = rate_limit_of(response.headers)
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
                rate_limit=rate_limit_of(response.headers),
                backend=_said_backend(response.headers.get(BACKEND_HEADER)),
            )
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            if first.get("type") == "json_invalid":
                return invalid("the server answered with a body that is not JSON")
            where = ".".join(str(p) for p in first.get("loc", ()))
            return invalid(f"unexpected response shape at '{where}': {first.get('msg')}")
        if not result.data:
            return invalid("the response holds no images ('data' is missing or empty)")
        self._notice_retired(response)
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
