"""The options of ``%%imagine`` as one typed value, ``ImagineOptions`` (their table is in ``flags``).

argparse (the magic and the CLI), the panel's form and ``--from`` all produce an ``ImagineOptions``;
``ImagineOptions.to_line()`` is the single "copy as code", and it round-trips: parsing the line it writes
gives back the same options. ``line`` reads text into these typed values, with messages that name the
option (``--guidance must be a number, got 'abc'``); what a model accepts is checked by ``plan``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from .flags import FIELD_OPTIONS

__all__ = ["LINE_BREAKS", "ImageSource", "ImagineOptions", "from_request"]

LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""What ``str.splitlines`` (so IPython, splitting a cell) breaks a line at: never inside the magic line."""

ImageSource = str | bytes
"""A reference image: a path, URL or variable name as typed, or the bytes of an upload (the panel)."""


@dataclass(frozen=True)
class ImagineOptions:
    """Everything a ``%%imagine`` line can say, typed. None means "not given" (defaults apply later)."""

    prompt: str | None = None
    model: str | None = None
    n: int | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    size: str | None = None
    """``WxH`` as typed with ``--size``, or a preset label (``2K``)."""
    aspect_ratio: str | None = None
    steps: int | None = None
    negative: str | None = None
    guidance: float | None = None
    format: str | None = None
    image: ImageSource | None = None
    references: tuple[ImageSource, ...] = ()
    loras: tuple[tuple[str, float], ...] = ()
    upsample: bool | None = None
    params: tuple[tuple[str, Any], ...] = ()
    vary: tuple[str, ...] = ()
    each: str | None = None
    rpm: float | None = None
    concurrency: int | None = None
    retry_failed: bool = False
    new: bool = False
    out: str | None = None
    save: str | None = None
    display: bool = True
    cache: bool = True
    from_path: str | None = None
    interpolate: bool = True

    def replace(self, **changes: Any) -> ImagineOptions:
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------------------- to text
    def tokens(self) -> list[str]:
        """The option tokens that express exactly these options (bytes images must be files first)."""
        out: list[str] = []

        def add(flag: str, value: object) -> None:
            text = _text(value)
            out.extend([f"{flag}={text}"] if text.startswith("-") else [flag, text])

        for name, flag in _SCALARS:
            value = getattr(self, name)
            field = _FLAG_FIELDS.get(flag)
            if isinstance(value, str) and field is not None and LINE_BREAKS.search(value):
                add("-p", f"{field}={_one_line_json(value)}")  # the same body field, on one line
            elif value is not None:
                add(flag, value)
        if isinstance(self.image, bytes) or any(isinstance(r, bytes) for r in self.references):
            raise ValueError("write uploaded images to files first (ImagineOptions.image holds bytes)")
        if self.image is not None:
            add("--image", self.image)
        for reference in self.references:
            add("--reference", reference)
        for path, scale in self.loras:
            add("--lora", f"{path}:{_text(float(scale))}")
        if self.upsample is not None:
            out.append("--upsample" if self.upsample else "--no-upsample")
        for key, value in self.params:
            add("-p", f"{key}={_param_text(value)}")
        for axis in self.vary:
            add("--vary", axis)
        for name, flag in (
            ("each", "--each"),
            ("rpm", "--rpm"),
            ("concurrency", "--concurrency"),
            ("out", "--out"),
            ("save", "--save"),
        ):
            value = getattr(self, name)
            if value is not None:
                add(flag, value)
        out += ["--retry-failed"] if self.retry_failed else []
        out += ["--new"] if self.new else []
        if self.from_path is not None:
            add("--from", self.from_path)
        out += [] if self.display else ["--no-display"]
        out += [] if self.cache else ["--no-cache"]
        literal = not self.interpolate or "{{" in (self.prompt or "") or any("{{" in t for t in out)
        return [*out, "--no-interpolate"] if literal else out

    def to_line(self) -> str:
        """The ``%%imagine`` line (without the prompt, which is the cell body)."""
        return " ".join(["%%imagine", *(shlex.quote(t) for t in self.tokens())])

    def to_cell(self) -> str:
        """The whole cell: the line, then the prompt as the body."""
        return f"{self.to_line()}\n{self.prompt or ''}"


_SCALARS = (
    ("model", "--model"),
    ("n", "--n"),
    ("seed", "--seed"),
    ("width", "--width"),
    ("height", "--height"),
    ("size", "--size"),
    ("aspect_ratio", "--aspect-ratio"),
    ("steps", "--steps"),
    ("negative", "--negative"),
    ("guidance", "--guidance"),
    ("format", "--format"),
)


_FLAG_FIELDS = {flag: field for field, flag in FIELD_OPTIONS.items() if flag.startswith("--")}


def _one_line_json(value: str) -> str:
    """``value`` as a JSON string holding no line break at all (JSON leaves U+0085, U+2028, U+2029 raw)."""
    text = json.dumps(value, ensure_ascii=False)
    return re.sub("[\x85\u2028\u2029]", lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _param_text(value: Any) -> str:
    """A ``-p`` value that reads back as the same value: text that would be typed otherwise is JSON."""
    if not isinstance(value, str):
        return json.dumps(value)
    looks_typed = (
        value.lower() in ("true", "false", "none", "null") or value[:1] in '[{"' or value != value.strip()
    )
    try:
        float(value)
        looks_typed = True
    except ValueError:
        pass
    return _one_line_json(value) if looks_typed or LINE_BREAKS.search(value) else value


def _text(value: object) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else f"{value:g}" if abs(value) < 1e15 else repr(value)
    return str(value)


def from_request(payload: dict[str, Any], *, default_format: str = "base64") -> ImagineOptions:
    """The options that send exactly this request body (``copy as code`` for a response)."""
    body = dict(payload)
    loras = tuple(
        (str(item.get("path")), float(item["scale"]) if item.get("scale") is not None else 1.0)
        for item in body.pop("image_loras", None) or ()
        if isinstance(item, dict)
    )

    def source(value: Any) -> ImageSource:
        text = str(value)
        if text.startswith("data:") and ";base64," in text:
            return base64.b64decode(text.split(",", 1)[1])
        return text

    guidance = body.pop("guidance_scale", None)
    if guidance is None:
        guidance = body.pop("guidance", None)
    image = body.pop("image_url", None)
    upsample = body.pop("prompt_upsampling", None)
    if body.get("response_format") == default_format:
        body.pop("response_format")
    options = ImagineOptions(
        prompt=body.pop("prompt", None),
        model=body.pop("model", None),
        n=body.pop("n", None),
        seed=body.pop("seed", None),
        width=body.pop("width", None),
        height=body.pop("height", None),
        aspect_ratio=body.pop("aspect_ratio", None),
        steps=body.pop("steps", None),
        negative=body.pop("negative_prompt", None),
        guidance=float(guidance) if isinstance(guidance, int | float) else None,
        format=body.pop("output_format", None),
        image=source(image) if image is not None else None,
        references=tuple(source(r) for r in body.pop("reference_images", None) or ()),
        loras=loras,
        upsample=upsample if isinstance(upsample, bool) else None,
    )
    return options.replace(params=tuple((k, v) for k, v in body.items() if v is not None))
