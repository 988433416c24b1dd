"""together-magic: ``%%imagine`` for Jupyter, on Together AI's image models or an offline look-alike.

Importing this package is cheap on purpose (``%load_ext`` runs in every notebook that uses it): the public
names below are loaded on first access, and nothing imports httpx, pydantic, PIL or ipywidgets until then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .client import AsyncTogether, Together
    from .errors import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ImageDataError,
        InternalServerError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        TogetherError,
        UnprocessableEntityError,
    )
    from .types import ImageChoicesData, ImageRequest, ImageResponse

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTogether",
    "AuthenticationError",
    "BadRequestError",
    "ImageChoicesData",
    "ImageDataError",
    "ImageRequest",
    "ImageResponse",
    "InternalServerError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "Together",
    "TogetherError",
    "UnprocessableEntityError",
    "__version__",
]

_HOME = {
    "Together": "client",
    "AsyncTogether": "client",
    "ImageRequest": "types",
    "ImageChoicesData": "types",
    "ImageResponse": "types",
}


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        module = importlib.import_module(f".{_HOME.get(name, 'errors')}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
