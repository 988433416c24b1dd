"""The Together-compatible endpoint itself: routing, keys, body limits, rate limits, faults and the JSON.

One ``OfflineBackend`` serves three ways in: the ASGI app behind ``together-magic serve``, and the sync and
async httpx transports that the client uses in-process. All of them go through the same three stages, so
every way in answers alike:

1. :meth:`OfflineBackend.start` sees only the method, path and headers: routes, GETs, the key, the
   declared body size, the rate limit and header-driven faults. A server calls it BEFORE reading the body,
   so a 400 MB upload without a key costs nothing.
2. :meth:`OfflineBackend.admit` parses and validates the body and resolves reference images (headers only).
3. :meth:`OfflineBackend.complete` renders, in a worker thread where the caller has one.

Client mistakes are 4xx in Together's error shape; a 5xx only ever comes from an injected fault, or from a
bug, which is still answered in Together's shape (500 ``server_error``) and logged with its traceback.
"""

from __future__ import annotations

import base64
import collections
import logging
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..models import MODELS
from .apierror import OfflineAPIError, parse_body
from .behaviour import DEFAULT_RATE_LIMIT, MAX_BODY_BYTES, BackendOptions, FlagError
from .faults import (
    FAULT_HEADER,
    FAULTS,
    RENDERED_FAULTS,
    RETRY_COUNT_HEADERS,
    FaultPlan,
    attempt_number,
    fault_reply,
    parse_fault_header,
)
from .images import Reference, check_headers, decode
from .ratelimit import RateWindow
from .renderer import RenderSpec, encode, render
from .reply import Reply, error_reply, json_reply
from .retired import retired_headers, wants_strict
from .validate import Job, parse_job

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "FAULTS",
    "MAX_BODY_BYTES",
    "RENDERER_NOTICE",
    "BackendOptions",
    "FlagError",
    "OfflineBackend",
    "Reply",
    "Ticket",
    "Work",
]

RENDERER_NOTICE = "together-magic offline backend: procedural renderer, not a diffusion model"
GENERATIONS = "/v1/images/generations"
_URL_STORE_BYTES = 256_000_000
_GET_ROUTES = ("/", "/v1/models", "/_offline/stats")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticket:
    """A generation request that passed the header checks; its body is still to be read."""

    request_id: str
    fault: FaultPlan | None
    headers: dict[str, str]
    """``x-request-id`` and the ``x-ratelimit-*`` headers every answer to it carries."""
    strict: bool = False  # answer a retired model as the cloud does (--strict, or the request's header)


@dataclass(frozen=True)
class Work:
    """A valid request, ready to render: its ticket, job and reference images (checked bytes)."""

    ticket: Ticket
    job: Job
    edits: tuple[tuple[str, bytes], ...] = ()
    references: tuple[tuple[str, bytes], ...] = ()


def _new_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    part = "".join(secrets.choice(alphabet) for _ in range(7))
    part2 = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"{part}-{part2}-{secrets.token_hex(8)}-OFF"


def _echo(text: str) -> str:
    """A client's method or path as error messages repeat it: at most 200 characters."""
    return text if len(text) <= 200 else text[:200] + "..."


def _too_large() -> OfflineAPIError:
    return OfflineAPIError(
        413,
        f"Request body is too large: at most {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 2**20} MiB).",
        code="request_too_large",
    )


def _unknown_endpoint(method: str, path: str) -> OfflineAPIError:
    message = f"Unknown endpoint {_echo(method)} {_echo(path)}."
    if path.startswith("/v1/v1/"):
        # TOGETHER_BASE_URL=.../v1 with the Python SDK 3, which adds /v1 itself (the TypeScript SDK, SDK 1.x
        # and curl want .../v1; this server answers both forms, so the bare host suits every client).
        message += (
            " The base URL ends in /v1 and the client added /v1 again (the Python SDK 3 does): set "
            "TOGETHER_BASE_URL to the bare host (e.g. http://127.0.0.1:8000), which every client accepts."
        )
    return OfflineAPIError(404, message, code="not_found")


def canonical_path(path: str) -> str:
    """The route a path names: ``/images/generations`` and ``/models`` are also served without ``/v1``,
    so one ``TOGETHER_BASE_URL`` suits the Python SDK 3 (bare host, it adds /v1) and the TypeScript SDK,
    SDK 1.x and curl (which post to ``BASE/images/generations``)."""
    path = path.rstrip("/") or "/"
    return f"/v1{path}" if path in ("/images/generations", "/models") else path


class OfflineBackend:
    """Thread-safe: uvicorn's worker threads and several in-process clients may share one backend."""

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self._lock = threading.Lock()
        self._fault_rng = random.Random(self.options.fault_seed)
        self._window = RateWindow()
        self._urls: collections.OrderedDict[str, tuple[str, bytes]] = collections.OrderedDict()
        self._url_bytes = 0
        self._forced_seen: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.stats: collections.Counter[str] = collections.Counter()

    # ------------------------------------------------------------------ stage 1: headers only
    def start(
        self, method: str, path: str, headers: Mapping[str, str], content_length: int | None
    ) -> Reply | Ticket:
        """Answer now (GETs, errors, faults) or hand back a ticket; never reads or needs the body."""
        request_id = _new_id()
        path = canonical_path(path)
        try:
            if path != GENERATIONS:
                return self._other_route(method, path, request_id)
            with self._lock:
                self.stats["requests"] += 1
            limit = self.options.rate_limit
            base = {"x-request-id": request_id}
            if method != "POST":
                err = OfflineAPIError(
                    405, f"Method {_echo(method)} not allowed: use POST.", headers={"allow": "POST"}
                )
                return self._count(error_reply(request_id, err), {**base, **self._window.peek(limit)})
            denied = self._check_key(headers)
            if denied is None and content_length is not None and content_length > MAX_BODY_BYTES:
                denied = _too_large()
            if denied is not None:
                return self._count(error_reply(request_id, denied), {**base, **self._window.peek(limit)})
            admitted, window = self._window.take(limit)
            base.update(window)
            if not admitted:
                err = OfflineAPIError(
                    429,
                    f"Request was rejected due to request rate limiting. Your rate limit is {limit} requests "
                    "per minute for this model.",
                    type="dynamic_request_limited",
                    headers={"retry-after": window["x-ratelimit-reset"]},
                )
                return self._count(error_reply(request_id, err), base)
            if attempt_number(headers) > 0:
                with self._lock:
                    self.stats["retries"] += 1
            fault = self._pick_fault(headers)
            if fault is not None and fault.kind not in RENDERED_FAULTS:
                return self._count(fault_reply(fault, request_id), base)
            return Ticket(request_id, fault, base, self.options.strict or wants_strict(headers))
        except Exception:  # a bug: still Together's shape, and the traceback in the log
            return self._internal_error(request_id, {})

    def too_large(self, ticket: Ticket) -> Reply:
        """For a body that grew past :data:`MAX_BODY_BYTES` while it was read (chunked uploads)."""
        return self._count(error_reply(ticket.request_id, _too_large()), ticket.headers)

    # ------------------------------------------------------------------ stage 2: the body
    def admit(self, ticket: Ticket, body: bytes) -> Reply | Work:
        """Validate the body and the reference images' headers; a Reply is an error to send as it is."""
        try:
            if len(body) > MAX_BODY_BYTES:
                return self.too_large(ticket)
            job = parse_job(parse_body(body), strict=ticket.strict)
            edits = tuple((ref.param, self._reference_bytes(ref)) for ref in job.edits)
            references = tuple((ref.param, self._reference_bytes(ref)) for ref in job.references)
            check_headers((*edits, *references))
            return Work(ticket, job, edits, references)
        except OfflineAPIError as err:
            return self._count(error_reply(ticket.request_id, err), ticket.headers)
        except Exception:
            return self._internal_error(ticket.request_id, ticket.headers)

    # ------------------------------------------------------------------ stage 3: rendering
    def complete(self, work: Work, base_url: str) -> Reply:
        try:
            return self._complete(work, base_url)
        except OfflineAPIError as err:
            return self._count(error_reply(work.ticket.request_id, err), work.ticket.headers)
        except Exception:
            return self._internal_error(work.ticket.request_id, work.ticket.headers)

    def _complete(self, work: Work, base_url: str) -> Reply:
        job, ticket = work.job, work.ticket
        fault = ticket.fault.kind if ticket.fault else None
        edits = tuple(decode(data, param) for param, data in work.edits)
        references = tuple(decode(data, param) for param, data in work.references)
        default_steps = job.model.default_steps or 1
        data: list[dict[str, Any]] = []
        for index in range(job.n):
            started = time.perf_counter()
            spec = RenderSpec(
                prompt=job.prompt,
                model=job.model.id,
                width=job.width,
                height=job.height,
                steps=default_steps if job.steps is None else job.steps,
                default_steps=default_steps,
                seed=job.seed + index,
                guidance=job.guidance,
                negative_prompt=job.negative_prompt,
                edits=edits,
                references=references,
                loras=tuple((lora.path, lora.scale) for lora in job.loras),
                upsample=job.upsample,
            )
            image = encode(render(spec), job.output_format)
            item: dict[str, Any] = {"index": index}
            if job.response_format == "base64":
                item["type"] = "b64_json"
                item["b64_json"] = base64.b64encode(image).decode("ascii")
            else:
                item["type"] = "url"
                item["url"] = f"{base_url}/shrt/{self._store(image, job.output_format)}"
            item["timings"] = {"inference": round(time.perf_counter() - started, 4)}
            data.append(item)
        if fault == "badbase64":
            for item in data:  # same length, so only a real decode notices, as with a corrupted transfer
                text = item.get("b64_json", "AAAA" * 8)
                item["b64_json"] = text[:8] + "!*!*" + text[12:]
        payload: dict[str, Any] = {"id": ticket.request_id, "model": job.model.id, "object": "list"}
        if fault != "nodata":
            payload["data"] = data
        said = {"x-offline-renderer": RENDERER_NOTICE, **retired_headers(job.model)}  # and "retired: use X"
        reply = json_reply(200, payload, said)
        if fault == "slow":
            reply.fault, reply.delay = "slow", self.options.slow_seconds
        return self._count(reply, ticket.headers)

    # ------------------------------------------------------------------ helpers
    def _count(self, reply: Reply, headers: Mapping[str, str]) -> Reply:
        for name, value in headers.items():
            reply.headers.setdefault(name, value)
        with self._lock:
            self.stats[f"status_{reply.status}"] += 1
            if reply.fault:
                self.stats[f"fault_{reply.fault}"] += 1
        return reply

    def _internal_error(self, request_id: str, headers: Mapping[str, str]) -> Reply:
        _log.exception("together-magic offline backend: internal error (request %s)", request_id)
        err = OfflineAPIError(500, "Internal server error", type="server_error")
        return self._count(error_reply(request_id, err), {"x-request-id": request_id, **headers})

    def _other_route(self, method: str, path: str, request_id: str) -> Reply:
        """Everything but generations. GETs are counted apart from ``requests`` (what clients POST)."""
        if method in ("GET", "HEAD"):
            return self._get(path, request_id)
        with self._lock:
            self.stats["requests"] += 1
        if path in _GET_ROUTES or path.startswith("/shrt/"):
            err = OfflineAPIError(
                405, f"Method {_echo(method)} not allowed: use GET.", headers={"allow": "GET, HEAD"}
            )
        else:
            err = _unknown_endpoint(method, path)
        return self._count(error_reply(request_id, err), {"x-request-id": request_id})

    def _tag(self, request_id: str, reply: Reply) -> Reply:
        reply.headers.setdefault("x-request-id", request_id)
        with self._lock:
            self.stats["gets"] += 1
        return reply

    def _get(self, path: str, request_id: str) -> Reply:
        if path.startswith("/shrt/"):
            with self._lock:
                found = self._urls.get(path.removeprefix("/shrt/"))
            if found is None:
                return self._tag(
                    request_id, error_reply(request_id, OfflineAPIError(404, "Image not found or expired."))
                )
            fmt, image = found
            return self._tag(request_id, Reply(200, image, {"content-type": f"image/{fmt}"}))
        if path == "/v1/models":
            models = [
                {
                    "id": m.id,
                    "object": "model",
                    "type": "image",
                    "display_name": m.display_name,
                    "organization": m.maker,
                    "created": 0,
                }
                for m in MODELS.values()
            ]
            return self._tag(request_id, json_reply(200, models))
        if path == "/_offline/stats":  # not counted: tests read it between requests
            with self._lock:
                return json_reply(200, dict(self.stats))
        if path == "/":
            return self._tag(
                request_id, json_reply(200, {"service": RENDERER_NOTICE, "endpoint": GENERATIONS})
            )
        err = _unknown_endpoint("GET", path)
        return self._tag(request_id, error_reply(request_id, err))

    def _check_key(self, headers: Mapping[str, str]) -> OfflineAPIError | None:
        required = self.options.require_key
        if required is None:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            token.strip().encode("utf-8", "surrogateescape"), required.encode("utf-8", "surrogateescape")
        ):
            return None
        return OfflineAPIError(
            401,
            "Invalid API key provided. You can find your API key at https://api.together.ai/settings/api-keys.",
            code="invalid_api_key",
        )

    def _pick_fault(self, headers: Mapping[str, str]) -> FaultPlan | None:
        forced = headers.get(FAULT_HEADER)
        if forced:
            plan = parse_fault_header(forced)
            if plan is None or plan.times is None:
                return plan
            attempt = attempt_number(headers)
            if not any(name in headers for name in RETRY_COUNT_HEADERS):
                with self._lock:  # a client that does not count its attempts: count its requests
                    attempt = self._forced_seen.get(forced, 0)
                    self._forced_seen[forced] = attempt + 1
                    while len(self._forced_seen) > 1024:
                        self._forced_seen.popitem(last=False)
            return plan if attempt < plan.times else None
        if self.options.fail_rate <= 0:
            return None
        with self._lock:
            if self._fault_rng.random() >= self.options.fail_rate:
                return None
            kind = self._fault_rng.choice(self.options.faults)
        return FaultPlan(kind)

    def _reference_bytes(self, ref: Reference) -> bytes:
        """A reference's bytes: as sent, or from this backend's URL store (it fetches nothing else)."""
        if ref.data is not None:
            return ref.data
        url = ref.url or ""
        if "/shrt/" not in url:
            raise OfflineAPIError(
                400,
                f"Invalid value for '{ref.param}' parameter. The offline backend cannot fetch images from "
                "the internet: pass a data: URL, base64 image data, or a URL this backend returned.",
                param=ref.param,
            )
        with self._lock:
            found = self._urls.get(url.rsplit("/shrt/", 1)[1])
        if found is None:
            raise OfflineAPIError(
                400,
                f"Invalid value for '{ref.param}' parameter. Image not found or expired.",
                param=ref.param,
            )
        return found[1]

    def _store(self, image: bytes, fmt: str) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._urls[key] = (fmt, image)
            self._url_bytes += len(image)
            while self._url_bytes > _URL_STORE_BYTES and len(self._urls) > 1:
                _, (_, old) = self._urls.popitem(last=False)
                self._url_bytes -= len(old)
        return key
