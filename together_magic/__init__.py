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
    from .display import compare
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
    from .metadata import read_parameters
    from .panel import panel
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
    "compare",
    "load_ipython_extension",
    "panel",
    "read_parameters",
    "unload_ipython_extension",
]

_HOME = {
    "Together": "client",
    "AsyncTogether": "client",
    "ImageRequest": "types",
    "ImageChoicesData": "types",
    "ImageResponse": "types",
    "read_parameters": "metadata",
    "panel": "panel",
    "compare": "display",
    "ImaginePanel": "panel",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext together_magic``: the magics, the ``Imagine`` configurable and the cell rewriter."""
    from .magic import ImagineMagics
    from .rewriter import CellRewriter

    if "ImagineMagics" in ipython.magics_manager.registry:
        return
    magics = ImagineMagics(ipython)
    ipython.register_magics(magics)
    ipython.configurables.append(magics.settings)
    rewriter = CellRewriter(ipython)
    ipython.input_transformers_cleanup.append(rewriter)
    ipython.events.register("pre_run_cell", rewriter.pre_run_cell)
    ipython.events.register("post_run_cell", rewriter.post_run_cell)
    magics.rewriter = rewriter


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext together_magic``: remove everything that loading added."""
    from . import config

    magics = ipython.magics_manager.registry.pop("ImagineMagics", None)
    if magics is None:
        return
    for kind in ("line", "cell"):
        table = ipython.magics_manager.magics[kind]
        for name in [n for n, fn in table.items() if getattr(fn, "__self__", None) is magics]:
            del table[name]
    ipython.configurables[:] = [
        c for c in ipython.configurables if c is not magics and c is not magics.settings
    ]
    rewriter = magics.rewriter
    if rewriter in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(rewriter)
    ipython.events.unregister("pre_run_cell", rewriter.pre_run_cell)
    ipython.events.unregister("post_run_cell", rewriter.post_run_cell)
    config.set_current(None)
    from .runner import close_idle_clients

    close_idle_clients()


def __getattr__(name: str) -> Any:
    if name in _HOME or (name in __all__ and name[0].isupper()):
        module = importlib.import_module(f".{_HOME.get(name, 'errors')}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
