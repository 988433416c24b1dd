"""Check a request body the way Together does and say what is wrong in Together's own words.

Everything a client can send arrives here as untrusted JSON; the only ways out are a ``Job`` or an
``OfflineAPIError`` carrying the status, type, param and message the real API would answer with.
"""

from __future__ import annotations

import base64
import binascii
import random
from dataclasses import dataclass
from typing import Any

from .catalogue import ModelSpec, find_model

__all__ = ["Job", "OfflineAPIError", "parse_job"]

MAX_SEED = 2**64 - 1
MAX_PROMPT = 10_000
MAX_REFERENCE_BYTES = 20_000_000


class OfflineAPIError(Exception):
    """An error answer: becomes ``{"id", "error": {message, type, param, code}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "id": request_id,
            "error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code},
        }


@dataclass(frozen=True)
class Job:
    prompt: str
    model: ModelSpec
    n: int
    width: int
    height: int
    steps: int
    seed: int
    negative_prompt: str
    guidance: float
    response_format: str
    output_format: str
    reference_url: str | None
    reference_b64: str | None


def _invalid(param: str, detail: str) -> OfflineAPIError:
    return OfflineAPIError(400, f"Invalid value for '{param}' parameter. {detail}", param=param)


def _int_field(body: dict[str, Any], name: str, default: int, low: int, high: int, what: str) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(name, f"{what} must be an integer between {low} and {high}.")
    return value


def _size(body: dict[str, Any], name: str, spec: ModelSpec) -> int:
    value = body.get(name)
    if value is None:
        value = 1024
    label = "Image width" if name == "width" else "Image height"
    ok = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and spec.min_size <= value <= spec.max_size
        and value % spec.size_multiple == 0
    )
    if not ok:
        raise _invalid(
            name,
            f"{label} must be an integer value between {spec.min_size} and {spec.max_size}, "
            f"in multiples of '{spec.size_multiple}'.",
        )
    return int(value)


def _choice(body: dict[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise _invalid(name, f"{name} must be one of {listed}.")
    return value.lower()


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, f"{name} must be a string.")
    return value


def _reference(body: dict[str, Any]) -> tuple[str | None, str | None]:
    url = _optional_str(body, "image_url")
    b64 = _optional_str(body, "image_base64")
    refs = body.get("reference_images")
    if refs is not None:
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise _invalid("reference_images", "reference_images must be a list of image URLs.")
        if refs and url is None:
            url = refs[0]
    if b64 is not None:
        raw = b64.split(",", 1)[1] if b64.startswith("data:") else b64
        try:
            size = len(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            raise _invalid("image_base64", "image_base64 must be a base64-encoded image.") from None
        if size > MAX_REFERENCE_BYTES:
            raise _invalid("image_base64", "The reference image must be at most 20 MB.")
        b64 = raw
    return url, b64


def parse_job(body: Any) -> Job:
    """Validate a decoded JSON body in the order Together does: model first, then parameters."""
    if not isinstance(body, dict):
        raise OfflineAPIError(400, "Request body must be a JSON object.")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise _invalid("model", "model must be a non-empty string naming an image model.")
    spec = find_model(model_id)
    if spec is None:
        raise OfflineAPIError(
            404,
            f"Unable to access model {model_id}. Please visit https://api.together.ai/models to view "
            "the list of supported models.",
            code="model_not_available",
        )
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt", "prompt must be a non-empty string.")
    if len(prompt) > MAX_PROMPT:
        raise _invalid("prompt", f"prompt must be at most {MAX_PROMPT} characters.")
    n = _int_field(body, "n", 1, 1, spec.max_n, "n")
    width = _size(body, "width", spec)
    height = _size(body, "height", spec)
    steps = _int_field(body, "steps", spec.default_steps, 1, spec.max_steps, f"steps for {spec.id}")
    seed_value = body.get("seed")
    if seed_value is None:
        seed = random.SystemRandom().randrange(2**31)
    else:
        seed = _int_field(body, "seed", 0, 0, MAX_SEED, "seed")
    guidance_value = body.get("guidance_scale", body.get("guidance"))
    if guidance_value is None:
        guidance = 3.5
    elif (
        isinstance(guidance_value, bool)
        or not isinstance(guidance_value, int | float)
        or not 0 <= guidance_value <= 30
    ):
        raise _invalid("guidance_scale", "guidance_scale must be a number between 0 and 30.")
    else:
        guidance = float(guidance_value)
    negative = _optional_str(body, "negative_prompt") or ""
    response_format = _choice(body, "response_format", "url", ("base64", "url"))
    output_format = _choice(body, "output_format", "jpeg", ("jpeg", "png"))
    reference_url, reference_b64 = _reference(body)
    return Job(
        prompt=prompt,
        model=spec,
        n=n,
        width=width,
        height=height,
        steps=steps,
        seed=seed,
        negative_prompt=negative,
        guidance=guidance,
        response_format=response_format,
        output_format=output_format,
        reference_url=reference_url,
        reference_b64=reference_b64,
    )
