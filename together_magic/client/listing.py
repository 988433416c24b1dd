"""``client.models.list()``: the image models the configured server lists (``GET {base}/models``).

As the TypeScript SDK and the Python SDK 2.x call it (3.1.1 moved its listing to ``/v2/projects/...``), with
the key when one is set, one attempt (a listing is asked for at leisure: a failure is reported, and callers
fall back to the catalogue). The answer is parsed by ``models.feed``: only ``type: "image"`` entries are
kept, each with its published price.
"""

from __future__ import annotations

import json

import httpx

from ..errors import APIError, APIResponseValidationError
from ..models.feed import FeedError, LiveModel, parse_feed
from .base import BaseClient

__all__ = ["MODELS_PATH", "AsyncModels", "Models"]

MODELS_PATH = "/models"


def _headers(client: BaseClient) -> dict[str, str]:
    key = client._settings.api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


def _outcome(client: BaseClient, response: httpx.Response) -> list[LiveModel]:
    if not response.is_success:
        raise client._status_error(response)
    try:
        return parse_feed(json.loads(response.content))
    except (ValueError, FeedError) as exc:  # JSONDecodeError is a ValueError
        detail = str(exc) if isinstance(exc, FeedError) else "the body is not JSON"
        raise APIResponseValidationError(
            f"the model list from {client.backend} is not usable: {detail}",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None


def _failed(client: BaseClient, exc: Exception) -> APIError:
    return client._connection_error(exc, client.timeout)


class Models:
    def __init__(self, client: BaseClient, http: httpx.Client) -> None:
        self._client, self._http = client, http

    def list(self) -> list[LiveModel]:
        """The image models the server lists; raises the same typed errors as ``images.generate``."""
        client = self._client
        try:
            response = self._http.get(MODELS_PATH, headers=_headers(client))
        except (httpx.TransportError, OSError, OverflowError) as exc:
            raise _failed(client, exc) from None
        return _outcome(client, response)


class AsyncModels:
    def __init__(self, client: BaseClient, http: httpx.AsyncClient) -> None:
        self._client, self._http = client, http

    async def list(self) -> list[LiveModel]:
        client = self._client
        try:
            response = await self._http.get(MODELS_PATH, headers=_headers(client))
        except (httpx.TransportError, OSError, OverflowError) as exc:
            raise _failed(client, exc) from None
        return _outcome(client, response)
