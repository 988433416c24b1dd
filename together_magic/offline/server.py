"""Serve the offline backend over real HTTP with uvicorn (the ``server`` extra)."""

from __future__ import annotations

import logging

from .app import create_app
from .backend import BackendOptions, OfflineBackend

__all__ = ["serve"]


class MissingServerExtra(RuntimeError):
    pass


def serve(
    host: str = "127.0.0.1", port: int = 8000, options: BackendOptions | None = None, log_level: str = "info"
) -> None:
    """Run until interrupted. Binds loopback by default: this is a teaching and testing tool."""
    try:
        import uvicorn
    except ImportError:
        raise MissingServerExtra(
            "together-magic serve needs uvicorn: pip install 'together-magic[server]'"
        ) from None
    app = create_app(OfflineBackend(options))
    # Faults raise on purpose to cut connections; keep uvicorn from printing a traceback for each one.
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: "fault injection" not in str(record.exc_info[1] if record.exc_info else "")
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="off", access_log=log_level == "debug"
    )
    uvicorn.Server(config).run()
