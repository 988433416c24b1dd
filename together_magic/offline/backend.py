"""The Together-compatible endpoint itself: routing, keys, rate limits, faults and the JSON it answers.

One ``OfflineBackend`` serves three ways in: the ASGI app behind ``together-magic serve``, and the sync and
async httpx transports that the client uses in-process. All of them call :meth:`admit` (cheap checks that
may answer at once) and then :meth:`complete` (the rendering), so every way in answers alike.

Faults exist to test clients (ours, the official SDK, a student's own code): a fraction of requests, or
every request carrying the ``x-together-magic-fault`` header, gets a 5xx, a 429, a dropped connection, a
truncated or invalid body, an HTML proxy page, a response without ``data`` or with invalid base64.
"""

from __future__ import annotations

import base64
import binascii
import collections
import io
import json
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import MODELS
from .validate import Job, OfflineAPIError, parse_job

__all__ = ["FAULTS", "BackendOptions", "OfflineBackend", "Reply", "Request"]

RENDERER_NOTICE = "together-magic offline backend: procedural renderer, not a diffusion model"
FAULT_HEADER = "x-together-magic-fault"
RETRY_COUNT_HEADER = "x-together-magic-retry-count"
FAULTS = (
    "500",
    "502",
    "503",
    "429",
    "402",
    "403",
    "422",
    "html502",
    "drop",
    "slow",
    "truncated",
    "badjson",
    "nodata",
    "badbase64",
)
_CLIENT_FAULTS = {
    "402": ("Credit limit exceeded. Please add credits to your account to continue.", "payment_required"),
    "403": ("You do not have access to this model.", "permission_denied"),
    "422": ("The image was flagged by the safety checker. Try a different prompt or seed.", "safety_checker"),
}
DEFAULT_FAULTS = ("500", "503")
_URL_STORE_BYTES = 256_000_000


@dataclass
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    """Scheme and host the client used, so URLs in responses point back at this backend."""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    """Transport-level misbehaviour to act out: ``drop``, ``truncated`` or ``slow``."""
    delay: float = 0.0


@dataclass(frozen=True)
class BackendOptions:
    require_key: str | None = None
    latency: float = 0.0
    fail_rate: float = 0.0
    faults: tuple[str, ...] = DEFAULT_FAULTS
    rate_limit: int | None = None
    """Requests per rolling minute; more get 429 with ``Retry-After``."""
    slow_seconds: float = 30.0
    fault_seed: int | None = None


@dataclass(frozen=True)
class _FaultPlan:
    kind: str
    times: int | None = None
    retry_after_ms: int | None = None
    should_retry: str | None = None


def _new_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    part = "".join(secrets.choice(alphabet) for _ in range(7))
    part2 = "".join(secrets.choice(alphabet) for _ in range(6))
    return f"{part}-{part2}-{secrets.token_hex(8)}-OFF"


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, {"content-type": "application/json", **(headers or {})})


def _error(request_id: str, err: OfflineAPIError) -> Reply:
    return _json(err.status, err.body(request_id), err.headers)


class OfflineBackend:
    """Thread-safe: uvicorn's worker threads and several in-process clients may share one backend."""

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        unknown = set(self.options.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(FAULTS)}")
        self._lock = threading.Lock()
        self._fault_rng = random.Random(self.options.fault_seed)
        self._recent: collections.deque[float] = collections.deque()
        self._urls: collections.OrderedDict[str, tuple[str, bytes]] = collections.OrderedDict()
        self._url_bytes = 0
        self.stats: collections.Counter[str] = collections.Counter()

    # ------------------------------------------------------------------ first stage: cheap checks
    def admit(self, request: Request) -> Reply | tuple[str, Job, str | None]:
        """Answer at once (errors, images by URL, model list) or hand back a validated job to render."""
        request_id = _new_id()
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            return self._get(path, request_id)
        with self._lock:
            self.stats["requests"] += 1
        if path != "/v1/images/generations":
            return self._count(
                request_id,
                _error(
                    request_id,
                    OfflineAPIError(404, f"Unknown endpoint {request.method} {path}.", code="not_found"),
                ),
            )
        if request.method != "POST":
            return self._count(request_id, _error(request_id, OfflineAPIError(405, "Method not allowed.")))
        denied = self._check_key(request.headers)
        if denied is not None:
            return self._count(request_id, _error(request_id, denied))
        limited = self._check_rate()
        if limited is not None:
            return self._count(request_id, _error(request_id, limited))
        fault = self._pick_fault(request.headers)
        if fault is not None and fault.kind not in ("nodata", "badbase64", "slow"):
            return self._count(request_id, self._fault_reply(fault, request_id))
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
            job = parse_job(body)
            self._check_reference_url(job, request)
        except OfflineAPIError as err:
            return self._count(request_id, _error(request_id, err))
        except (ValueError, UnicodeDecodeError):
            return self._count(
                request_id, _error(request_id, OfflineAPIError(400, "Request body is not valid JSON."))
            )
        return request_id, job, (fault.kind if fault else None)

    # ------------------------------------------------------------------ second stage: rendering
    def complete(self, request_id: str, job: Job, fault: str | None, base_url: str) -> Reply:
        from .renderer import RenderSpec, encode, render

        reference = self._reference_bytes(job)
        data: list[dict[str, Any]] = []
        for index in range(job.n):
            started = time.perf_counter()
            spec = RenderSpec(
                prompt=job.prompt,
                model=job.model.id,
                width=job.width,
                height=job.height,
                steps=job.steps,
                default_steps=job.model.default_steps,
                seed=(job.seed + index) % (2**64),
                guidance=job.guidance,
                negative_prompt=job.negative_prompt,
                reference=reference,
                reference_weight=0.6 if job.model.reference_image else 0.45,
            )
            image = encode(render(spec), job.output_format)
            item: dict[str, Any] = {"index": index}
            if job.response_format == "base64":
                item["b64_json"] = base64.b64encode(image).decode("ascii")
            else:
                item["url"] = f"{base_url}/shrt/{self._store(image, job.output_format)}"
            item["timings"] = {"inference": round(time.perf_counter() - started, 4)}
            data.append(item)
        if fault == "nodata":
            data = []
        elif fault == "badbase64":
            for item in data:  # same length, so only a real decode notices, as with a corrupted transfer
                text = item.get("b64_json", "AAAA" * 8)
                item["b64_json"] = text[:8] + "!*!*" + text[12:]
        payload: dict[str, Any] = {"id": request_id, "model": job.model.id, "object": "list"}
        if fault != "nodata":
            payload["data"] = data
        reply = _json(200, payload, {"x-request-id": request_id, "x-offline-renderer": RENDERER_NOTICE})
        if fault == "slow":
            reply.fault, reply.delay = "slow", self.options.slow_seconds
        return self._count(request_id, reply)

    # ------------------------------------------------------------------ helpers
    def _count(self, request_id: str, reply: Reply) -> Reply:
        reply.headers.setdefault("x-request-id", request_id)
        with self._lock:
            self.stats[f"status_{reply.status}"] += 1
            if reply.fault:
                self.stats[f"fault_{reply.fault}"] += 1
        return reply

    def _tag(self, request_id: str, reply: Reply) -> Reply:
        reply.headers.setdefault("x-request-id", request_id)
        with self._lock:
            self.stats["gets"] += 1
        return reply

    def _get(self, path: str, request_id: str) -> Reply:
        """GETs are counted apart from ``requests``, which counts what clients POST."""
        if path.startswith("/shrt/"):
            with self._lock:
                found = self._urls.get(path.removeprefix("/shrt/"))
            if found is None:
                return self._tag(
                    request_id, _error(request_id, OfflineAPIError(404, "Image not found or expired."))
                )
            fmt, image = found
            return self._tag(
                request_id, Reply(200, image, {"content-type": f"image/{fmt}", "x-request-id": request_id})
            )
        if path == "/v1/models":
            models = [
                {
                    "id": m.id,
                    "object": "model",
                    "type": "image",
                    "display_name": m.display_name,
                    "organization": m.id.split("/")[0],
                    "created": 0,
                }
                for m in MODELS.values()
            ]
            return self._tag(request_id, _json(200, models))
        if path == "/_offline/stats":  # not counted: tests read it between requests
            with self._lock:
                return _json(200, dict(self.stats))
        if path == "/":
            return self._tag(
                request_id, _json(200, {"service": RENDERER_NOTICE, "endpoint": "/v1/images/generations"})
            )
        return self._tag(
            request_id, _error(request_id, OfflineAPIError(404, f"Unknown endpoint GET {path}."))
        )

    def _check_key(self, headers: Mapping[str, str]) -> OfflineAPIError | None:
        required = self.options.require_key
        if required is None:
            return None
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(), required.encode()):
            return None
        return OfflineAPIError(
            401,
            "Invalid API key provided. You can find your API key at https://api.together.ai/settings/api-keys.",
            code="invalid_api_key",
        )

    def _check_rate(self) -> OfflineAPIError | None:
        limit = self.options.rate_limit
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 60:
                self._recent.popleft()
            if len(self._recent) < limit:
                self._recent.append(now)
                return None
            wait = max(1, int(60 - (now - self._recent[0]) + 0.999))
        return OfflineAPIError(
            429,
            f"Request was rejected due to request rate limiting. Your rate limit is {limit} requests per "
            "minute for this model.",
            type="rate_limit",
            headers={"retry-after": str(wait), "x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0"},
        )

    def _pick_fault(self, headers: Mapping[str, str]) -> _FaultPlan | None:
        forced = headers.get(FAULT_HEADER)
        if forced:
            plan = _parse_fault_header(forced)
            retries = headers.get(RETRY_COUNT_HEADER, "0")
            attempt = int(retries) if retries.isdigit() else 0
            if plan is not None and (plan.times is None or attempt < plan.times):
                return plan
            return None
        if self.options.fail_rate <= 0:
            return None
        with self._lock:
            if self._fault_rng.random() >= self.options.fail_rate:
                return None
            kind = self._fault_rng.choice(self.options.faults)
        return _FaultPlan(kind)

    def _fault_reply(self, fault: _FaultPlan, request_id: str) -> Reply:
        retry_headers = (
            {"retry-after-ms": str(fault.retry_after_ms)} if fault.retry_after_ms is not None else {}
        )
        if fault.should_retry is not None:
            retry_headers["x-should-retry"] = fault.should_retry
        kind = fault.kind
        if kind in _CLIENT_FAULTS:
            message, code = _CLIENT_FAULTS[kind]
            return _error(request_id, OfflineAPIError(int(kind), message, code=code, headers=retry_headers))
        if kind in ("500", "502", "503"):
            err = OfflineAPIError(
                int(kind),
                "Internal server error" if kind == "500" else "Service unavailable",
                type="server_error",
                headers=retry_headers,
            )
            return _error(request_id, err)
        if kind == "429":
            headers = {"retry-after": "1", **retry_headers}
            return _error(
                request_id,
                OfflineAPIError(
                    429,
                    "Request was rejected due to request rate limiting.",
                    type="rate_limit",
                    headers=headers,
                ),
            )
        if kind == "html502":
            # a proxy's page, as a CDN or nginx in front of the API would send it
            page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body>"
            return Reply(502, page, {"content-type": "text/html", **retry_headers})
        if kind == "badjson":
            return Reply(
                200, b'{"id": "x", "data": [{"index": 0, "b64_json": ', {"content-type": "application/json"}
            )
        body = json.dumps({"id": request_id, "object": "list", "data": []}).encode()
        return Reply(200, body, {"content-type": "application/json"}, fault=kind)  # drop / truncated

    def _check_reference_url(self, job: Job, request: Request) -> None:
        url = job.reference_url
        if url is None or url.startswith("data:"):
            return
        own = f"{request.base_url}/shrt/"
        if not url.startswith(own) and "/shrt/" not in url:
            raise OfflineAPIError(
                400,
                "Invalid value for 'image_url' parameter. The offline backend cannot fetch images from "
                "the internet: pass a data: URL, image_base64, or a URL this backend returned.",
                param="image_url",
            )
        with self._lock:
            if url.rsplit("/shrt/", 1)[1] not in self._urls:
                raise OfflineAPIError(
                    400,
                    "Invalid value for 'image_url' parameter. Image not found or expired.",
                    param="image_url",
                )

    def _reference_bytes(self, job: Job) -> bytes | None:
        if job.reference_b64 is not None:
            data = base64.b64decode(job.reference_b64)
        elif job.reference_url is not None and job.reference_url.startswith("data:"):
            try:
                data = base64.b64decode(job.reference_url.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError, IndexError):
                data = b""
        elif job.reference_url is not None:
            with self._lock:
                found = self._urls.get(job.reference_url.rsplit("/shrt/", 1)[1])
            data = found[1] if found else b""
        else:
            return None
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, ValueError):
            return None
        return data

    def _store(self, image: bytes, fmt: str) -> str:
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._urls[key] = (fmt, image)
            self._url_bytes += len(image)
            while self._url_bytes > _URL_STORE_BYTES and len(self._urls) > 1:
                _, (_, old) = self._urls.popitem(last=False)
                self._url_bytes -= len(old)
        return key


def _parse_fault_header(value: str) -> _FaultPlan | None:
    """``KIND[;times=N][;retry-after-ms=M][;should-retry=true|false]``: fail the first N attempts."""
    kind, *options = [part.strip() for part in value.split(";")]
    if kind not in FAULTS:
        return None
    settings = dict(opt.partition("=")[::2] for opt in options)
    times = settings.get("times")
    retry_ms = settings.get("retry-after-ms")
    should_retry = settings.get("should-retry")
    return _FaultPlan(
        kind,
        int(times) if times and times.isdigit() else None,
        int(retry_ms) if retry_ms and retry_ms.isdigit() else None,
        should_retry if should_retry in ("true", "false") else None,
    )
