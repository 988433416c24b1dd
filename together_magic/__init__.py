"""together-magic: ``%%imagine`` for Jupyter, on Together AI's image models or an offline look-alike.

Importing this package is cheap on purpose (``%load_ext`` runs in every notebook that uses it): the public
names below are loaded on first access, and nothing imports httpx, pydantic, PIL or ipywidgets until then.
"""

from __future__ import annotations

TYPE_CHECKING = False
"""``typing.TYPE_CHECKING`` without importing typing (20 ms on a cold start: the command's Ctrl-C window)."""

if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from .batches.api import agenerate_many, generate_many
    from .batches.view import Batch
    from .client.clients import AsyncTogether, Together
    from .display.gallery import compare, list_models
    from .errors import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetError,
        ConflictError,
        ImageDataError,
        InternalServerError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        TogetherError,
        UnprocessableEntityError,
    )
    from .generation.options import ImagineOptions
    from .generation.saving import read_parameters
    from .histories.search import history
    from .sweeps.api import asweep, sweep
    from .sweeps.result import Sweep
    from .types import ImageChoicesData, ImageRequest, ImageResponse, Provenance, RateLimit
    from .widgets.panel import ImaginePanel, panel

# The one table of public names and the module each lives in: ``__all__`` and the lazy loader read it.
_EXPORTS: dict[str, str] = {
    "Together": "client.clients",
    "AsyncTogether": "client.clients",
    "ImageRequest": "types",
    "ImageChoicesData": "types",
    "ImageResponse": "types",
    "Provenance": "types",
    "RateLimit": "types",
    "ImagineOptions": "generation.options",
    "generate_many": "batches.api",
    "agenerate_many": "batches.api",
    "Batch": "batches.view",
    "read_parameters": "generation.saving",
    "compare": "display.gallery",
    "history": "histories.search",
    "list_models": "display.gallery",
    "panel": "widgets.panel",
    "ImaginePanel": "widgets.panel",
    "sweep": "sweeps.api",
    "asweep": "sweeps.api",
    "Sweep": "sweeps.result",
    **{
        name: "errors"
        for name in (
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
            "PaymentRequiredError",
            "PermissionDeniedError",
            "RateLimitError",
            "TogetherError",
            "UnprocessableEntityError",
        )
    },
}
# The history shows itself as the panel's cards once the widgets register (responses need nothing: the
# types wing brings its own view).
_DISPLAY_MODULES = {"histories.search": "widgets.history"}

__all__ = sorted([*_EXPORTS, "__version__", "load_ipython_extension", "unload_ipython_extension"])


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext together_magic``: the magics, the ``Imagine`` configurable and the cell rewriter."""
    from .notebook.magic import ImagineMagics
    from .notebook.rewriter import CellRewriter

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
    from .generation.loop import close_idle_clients

    close_idle_clients()


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source, the project's metadata (pyproject.toml), read when asked
        from .client.base import VERSION

        return VERSION
    home = _EXPORTS.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # here, not at the top: importing the package is the command's Ctrl-C window

    module = importlib.import_module(f".{home}", __name__)
    if home in _DISPLAY_MODULES:  # responses show their grid, the history its cards, in notebooks
        importlib.import_module(f".{_DISPLAY_MODULES[home]}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
