"""The errors together-magic raises: everything from the API under ``TogetherError`` (one ``except`` catches
them all), and ``OptionError`` (a ``ValueError``) for a mistake in what the user wrote, said in one line.

```
TogetherError
 ├── APIError                      something went wrong talking to the images endpoint
 │    ├── APIConnectionError       no usable HTTP exchange (refused, dropped, truncated)
 │    │    └── APITimeoutError     one of the timeouts ran out (its name is in the message)
 │    ├── APIResponseValidationError   a 2xx answer that is not a usable image response
 │    └── APIStatusError           the server answered with a 4xx/5xx status
 │         ├── BadRequestError            400
 │         ├── AuthenticationError        401
 │         ├── PaymentRequiredError       402
 │         ├── PermissionDeniedError      403
 │         ├── NotFoundError              404
 │         ├── ConflictError              409
 │         ├── UnprocessableEntityError   422 (the safety checker fired)
 │         ├── RateLimitError             429
 │         └── InternalServerError        >= 500
 ├── ImageDataError                a choice's bytes cannot be had (no data, bad base64, download failed)
 └── BudgetError                   the work would take the session past Imagine.budget: nothing was sent
```

Every error renders as a single line, because it is read in a notebook cell, not in a log file:
``429 rate_limit: Request was rejected due to request rate limiting. (request id abc)``.
The API key is scrubbed from every message before the exception exists.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from . import models

if TYPE_CHECKING:
    from .models.ratelimit import RateLimit

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetError",
    "ConflictError",
    "ImageDataError",
    "InternalServerError",
    "NotFoundError",
    "OptionError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "TogetherError",
    "UnprocessableEntityError",
    "explain",
    "status_error_from_response",
]

_MAX_MESSAGE = 300


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace so an error never spans several lines of a cell's output."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that came from elsewhere (a server may echo the key back)."""
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "***")
    return text


def public_url(url: str) -> str:
    """A URL as it may be shown: without ``user:password@``, query or fragment (a proxy's credentials or
    a token can ride in a base URL; messages, captions, reprs and logs must never carry them)."""
    cut = re.sub(r"[?#].*", "", url, flags=re.DOTALL)
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@", r"\1", cut)


class OptionError(ValueError):
    """A mistake in the options or the prompt; its message is one line naming the option.

    Raised before anything is sent; the magic shows it as a ``UsageError``, the CLI exits with 2.
    """


class TogetherError(Exception):
    """Root of everything together-magic raises on purpose."""

    hint: str | None = None
    """What to do about it, added by front ends (the magic says how to set a key, which models exist)."""

    def __init__(self, message: str) -> None:
        self.message = _one_line(message)
        super().__init__(self.message)

    def _with_hint(self, text: str) -> str:
        return f"{text}; {self.hint}" if self.hint else text

    def __str__(self) -> str:
        return self._with_hint(self.message)

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: users see one line.
        return [f"{type(self).__name__}: {self}"]


class ImageDataError(TogetherError):
    """A choice holds no usable image (no b64_json and no url, invalid base64, failed download)."""


class BudgetError(TogetherError):
    """The request, sweep or batch would take the session over ``Imagine.budget``: nothing was sent."""


class APIError(TogetherError):
    """An exchange with the images endpoint failed. Fields are None when the server said nothing."""

    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        if status_code is not None:
            self.status_code = status_code
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body
        self.rate_limit: RateLimit | None = None
        """The answer's ``x-ratelimit-*`` headers, when it had them (set by the client)."""
        self.retry_after: float | None = None
        """Seconds the server asked us to wait (``Retry-After``), when it said."""
        super().__init__(message)

    def __str__(self) -> str:
        head = ""
        if self.status_code is not None:
            kind = self.type or self.code
            head = f"{self.status_code} {kind}: " if kind else f"{self.status_code}: "
        tail = f" (request id {self.request_id})" if self.request_id else ""
        return self._with_hint(f"{head}{self.message}{tail}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class APIConnectionError(APIError):
    """No HTTP answer could be read: connection refused or dropped, body cut short."""


class APITimeoutError(APIConnectionError):
    """A timeout ran out; the message says which one (connect, read, write or pool) and its value."""

    timeout_name: str = "read"


class APIResponseValidationError(APIError):
    """The server said 2xx but the body is not an image response we can use."""


class APIStatusError(APIError):
    """The server answered with an error status."""


class BadRequestError(APIStatusError):
    status_code = 400


class AuthenticationError(APIStatusError):
    status_code = 401


class PaymentRequiredError(APIStatusError):
    status_code = 402


class PermissionDeniedError(APIStatusError):
    status_code = 403


class NotFoundError(APIStatusError):
    status_code = 404


class ConflictError(APIStatusError):
    """409: retried like a 5xx (the SDK's "lock timeout"); this class is what is left after the retries."""

    status_code = 409


class UnprocessableEntityError(APIStatusError):
    status_code = 422


class RateLimitError(APIStatusError):
    status_code = 429


class InternalServerError(APIStatusError):
    status_code = 500


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def status_error_from_response(
    status_code: int,
    content: bytes,
    *,
    request_id: str | None,
    content_type: str = "",
    api_key: str | None = None,
) -> APIStatusError:
    """Build the typed error for an error answer, whatever its body looks like.

    Together usually sends ``{"error": {"message", "type", "param", "code"}}`` but proxies in front of it
    send HTML pages or plain text, and some bodies have no ``error`` key at all.
    """
    cls = _BY_STATUS.get(status_code, InternalServerError if status_code >= 500 else APIStatusError)
    text = redact(content.decode("utf-8", errors="replace"), api_key)
    body: Any = None
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    message: str | None = None
    err_type = code = param = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = _str_or_none(error.get("message") or error.get("detail"))
            err_type = _str_or_none(error.get("type"))
            code = _str_or_none(error.get("code"))
            param = _str_or_none(error.get("param"))
        elif isinstance(error, str):
            message = error
        request_id = request_id or _str_or_none(body.get("id"))
    if not message:
        if "html" in content_type.lower() or text.lstrip().startswith("<"):
            message = f"the server sent an HTML error page instead of JSON (HTTP {status_code})"
        elif text.strip():
            message = text.strip()
        else:
            message = f"HTTP {status_code} with an empty body"
    return cls(
        message,
        status_code=status_code,
        type=err_type,
        code=code,
        param=param,
        request_id=request_id,
        body=body if body is not None else text[:1000],
    )


Where = Literal["notebook", "cli", "python"]
_TIMEOUT_KNOB = {
    "notebook": "%config Imagine.timeout = 120",
    "cli": "together-magic generate --timeout 120",
    "python": "Together(timeout=120)",
}
_KEY_HOWTO = {
    "notebook": (
        "set TOGETHER_API_KEY before starting Jupyter, or type it without saving it in the notebook: "
        "import os, getpass; os.environ['TOGETHER_API_KEY'] = getpass.getpass()"
    ),
    "cli": "export TOGETHER_API_KEY in your shell (never pass it as an argument)",
    "python": "set TOGETHER_API_KEY in the environment or pass api_key=",
}
_MODEL_CODES = ("model_not_available", "model_not_found")


def unknown_model(err: APIError) -> str | None:
    """The model id an error says does not exist (offline or cloud wording), or None."""
    if not isinstance(err, (NotFoundError, BadRequestError)):
        return None
    if err.code not in _MODEL_CODES and "Unable to access model" not in err.message:
        return None
    text = err.message
    named = re.search(r"Unable to access (?:non-serverless )?model (\S+?)\.(?:\s|$)|`([^`]+)`", text)
    return next((g for g in named.groups() if g), "") if named else ""


def model_hint(model_id: str) -> str:
    """What to use instead of a model the server does not serve: a retired model's replacement, else
    "did you mean ...?" among the listed models, and where the full list is."""
    listing = "together_magic.list_models() shows them all"
    retired = models.retirement_notice(model_id)
    if retired is not None:
        return retired
    guess = models.closest(model_id, models.MODELS) if model_id else None
    if guess and guess != model_id:
        gone = models.find_model(guess)
        instead = f", which is retired: use {gone.replacement}" if gone and gone.replacement else ""
        return f"did you mean {guess}{instead}? ({listing})"
    return f"it is not one of the {len(models.listed_ids())} image models Together lists ({listing})"


def explain(err: TogetherError, where: Where = "notebook") -> TogetherError:
    """Add what to do next to an error, keeping its type so ``except RateLimitError`` still works.

    The magic, the panel and the CLI all call this, so users see the same advice everywhere; hints never
    show or ask for the key in a way that would save it into a notebook or a shell history.
    """
    if err.hint is not None or not isinstance(err, APIError):
        return err
    if isinstance(err, AuthenticationError):
        err.hint = f"{_KEY_HOWTO[where]} (or unset it to use the offline backend)"
    elif isinstance(err, RateLimitError):
        err.hint = "still rate limited after retries: wait a minute, then try again"
    elif isinstance(err, PaymentRequiredError):
        if err.code != "class_budget_spent":  # a classroom gateway's own message already says what to do
            err.hint = "the account behind the key is out of credits or over its spending limit"
    elif isinstance(err, APITimeoutError):
        if err.timeout_name == "connect":
            err.hint = "the server did not accept a connection: check TOGETHER_BASE_URL and the network"
        else:
            err.hint = f"give it longer with {_TIMEOUT_KNOB[where]}"
    else:
        missing = unknown_model(err)
        if missing is not None:
            err.hint = model_hint(missing)
    return err
