"""What a student may send through the gateway: the API's fields, bounded text, a body priced before parsing.

Everything the gateway forwards goes upstream with the teacher's key and is kept in the class's data, so the
gateway, not the upstream, decides what a request may hold:

- Only the image API's fields (:data:`FORWARDED`); any other name is one 400 naming it. ``null`` means
  "not given", as the SDKs send it. ``disable_safety_checker`` is the teacher's switch (``serve
  --allow-unsafe``): without it, a student's ``true`` is a 403 and nothing is sent.
- Text is bounded (:data:`TEXT_MAX`): the API's prompt limit holds for the negative prompt too, and short
  fields (``aspect_ratio``, formats) are short.
- The body's cost is bounded before it is parsed in full: over :data:`SMALL_BODY` bytes a request must carry
  reference images, named before their data (``first_look``, run while the body is still arriving), and its
  JSON may hold at most :data:`MAX_COMMAS` commas, so a 6 MB list of three million numbers is refused in
  microseconds instead of costing a worker 150 ms and 100 MB to parse.
"""

from __future__ import annotations

import math
from typing import Any

from ..models import INPUTS, MAX_REFERENCE_BYTES, PROMPT_MAX
from ..offline.apierror import OfflineAPIError, invalid, parse_body

__all__ = [
    "FORWARDED",
    "IMAGE_FIELDS",
    "MAX_COMMAS",
    "SMALL_BODY",
    "TEACHER_SWITCHES",
    "TEXT_MAX",
    "check_forwardable",
    "first_look",
    "parse_request",
]

IMAGE_FIELDS = ("image_url", "image_base64", "reference_images")
"""The fields that carry image data (megabytes of base64); ``image_base64`` is ``image_url``'s old name."""
TEACHER_SWITCHES = frozenset({"disable_safety_checker"})
"""Fields that change what the teacher's account allows: forwarded only with ``serve --allow-unsafe``."""
FORWARDED = frozenset(
    {"prompt", "model", "n", "width", "height", "seed", "response_format", *INPUTS, *IMAGE_FIELDS}
    | TEACHER_SWITCHES
)
"""The request fields of Together's images API (``models.INPUTS`` are the ones that differ by model)."""
TEXT_MAX: dict[str, int] = {
    "prompt": PROMPT_MAX,
    "negative_prompt": PROMPT_MAX,
    "model": 256,
    "aspect_ratio": 16,
    "response_format": 16,
    "output_format": 16,
}
"""Characters per text field; image data is bounded by ``MAX_REFERENCE_BYTES`` per image instead."""
LORA_PATH_MAX = 2048
SMALL_BODY = 256 * 1024
"""The largest body an image request needs without reference images: a prompt and a negative prompt at
their limit, written entirely as ``\\u`` escapes of characters outside the BMP (12 bytes each), fit."""
MAX_COMMAS = 2 * PROMPT_MAX + 4096
"""JSON commas in one body: every list item and field but the first needs one, and texts at their limit
hold at most ``2 * PROMPT_MAX``; base64 image data holds none. Counted (a C loop) before parsing."""
_ECHO = 60
_FIELDS_TEXT = ", ".join(sorted(FORWARDED - TEACHER_SWITCHES))


def _echo(name: str) -> str:
    shown = name if len(name) <= _ECHO else name[:_ECHO] + "..."
    return repr(shown)


def first_look(head: bytes) -> OfflineAPIError | None:
    """Judge a body that has just grown past :data:`SMALL_BODY` from its first bytes (``head``): everything
    before the first image's data is other fields, so a key naming image data must be among them."""
    window = head[: SMALL_BODY + 64]
    if any(b'"%s"' % name.encode() in window for name in IMAGE_FIELDS):
        return None
    return OfflineAPIError(
        413,
        f"Request body is over {SMALL_BODY:,} bytes without reference images: an image request needs at "
        f"most {SMALL_BODY:,} bytes unless it carries {', '.join(IMAGE_FIELDS)} (each image at most "
        f"{MAX_REFERENCE_BYTES // 1_000_000} MB).",
        code="request_too_large",
    )


def parse_request(raw: bytes, *, allow_unsafe: bool) -> dict[str, Any]:
    """The body as the fields to forward (nulls dropped), or the student's one-line error (400/403/413)."""
    if len(raw) > SMALL_BODY:
        refused = first_look(raw)
        if refused is not None:
            raise refused
    commas = raw.count(b",")
    if commas > MAX_COMMAS:
        raise OfflineAPIError(
            413,
            f"Request body holds {commas:,} JSON items; an image request holds a few fields and at most "
            f"{MAX_COMMAS:,} commas in all (its texts included).",
            code="request_too_complex",
        )
    body = parse_body(raw)
    if not isinstance(body, dict):
        raise OfflineAPIError(400, "Request body must be a JSON object.")
    fields = {name: value for name, value in body.items() if value is not None}
    check_forwardable(fields)
    for name in fields:
        if name not in FORWARDED:
            raise OfflineAPIError(
                400,
                f"Unknown field {_echo(name)}: this class gateway forwards only the image API's fields "
                f"({_FIELDS_TEXT}).",
                param=name[:_ECHO],
                code="unknown_parameter",
            )
    for name, limit in TEXT_MAX.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise invalid(name, f"{name} must be at most {limit:,} characters (got {len(value):,}).")
    _check_loras(fields.get("image_loras"))
    for name in TEACHER_SWITCHES & fields.keys():
        if not isinstance(fields[name], bool):
            raise invalid(name, f"{name} must be true or false.")
        if fields[name] and not allow_unsafe:
            raise OfflineAPIError(
                403,
                f"{name}: the safety checker stays on in this class; only the teacher can change that "
                "(together-magic serve --allow-unsafe).",
                param=name,
                code="safety_checker_required",
                headers={"x-should-retry": "false"},
            )
        if not allow_unsafe:
            del fields[name]  # false is the default: nothing to forward
    return fields


def _check_loras(value: Any) -> None:
    """``image_loras`` items hold a path and a scale (the validator checks their values), nothing else."""
    if not isinstance(value, list):
        return
    for item in value:
        if isinstance(item, dict) and (
            set(item) - {"path", "scale"}
            or (isinstance(item.get("path"), str) and len(item["path"]) > LORA_PATH_MAX)
        ):
            raise invalid(
                "image_loras",
                f'image_loras items are {{"path": "<at most {LORA_PATH_MAX} characters>", '
                '"scale": <number>}.',
            )


def check_forwardable(body: dict[str, Any]) -> None:
    """Refuse (400, naming the field) what parses but cannot go upstream as JSON: text with an unpaired
    surrogate (``"\\ud800"`` is valid JSON but not UTF-8) and numbers that overflowed to infinity
    (``1e999``). The offline renderer ignores fields it does not know; the upstream client cannot send them.
    """
    for name, top in body.items():
        stack: list[Any] = [name, top]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if not value.isascii():
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        if value is name:
                            raise OfflineAPIError(
                                400, "Request body cannot be used: a field name is not valid Unicode text."
                            ) from None
                        detail = "Text must be valid Unicode (it holds an unpaired surrogate)."
                        raise invalid(name, detail) from None
            elif isinstance(value, float) and not math.isfinite(value):
                raise invalid(name, "Numbers must be finite (this one is too large for a double).")
            elif isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
