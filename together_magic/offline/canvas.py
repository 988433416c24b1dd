"""What the painter is asked to paint (a ``Brief``), where the seed puts things (a ``Layout``), the canvas.

The layout follows from the seed alone, not from the prompt, the model, the steps or the guidance: as with a
fixed noise seed in a real sampler, changing any other knob repaints the same composition, and another seed
moves everything (horizon, subject, light, the forest's side, the mountains' peak).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFilter

from .palette import RGB

__all__ = ["Brief", "Canvas", "Layout", "gradient", "layer", "layout", "mix", "ridge", "rng", "soft_mask"]


def rng(*parts: object) -> random.Random:
    """A random stream of its own for each purpose: the same parts give the same stream on every platform."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).digest()
    return random.Random(digest)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    """Top to bottom, one colour to the other (rows built as bytes: resizing a 1-pixel column costs more)."""
    w, h = size
    rows = b"".join(bytes((255 * y // max(h - 1, 1),)) * w for y in range(h))
    return Image.composite(
        Image.new("RGB", size, bottom), Image.new("RGB", size, top), Image.frombytes("L", size, rows)
    )


def layer(canvas: Image.Image, colour: RGB, mask: Image.Image) -> None:
    canvas.paste(Image.new("RGB", canvas.size, colour), (0, 0), mask)


def soft_mask(
    size: tuple[int, int], shapes: list[tuple[float, float, float, float]], fill: int, blur: float
) -> Image.Image:
    """A blurred mask of ellipses, drawn and blurred at a quarter of the size (it is all soft), scaled up."""
    quarter = (max(1, size[0] // 4), max(1, size[1] // 4))
    mask = Image.new("L", quarter, 0)
    draw = ImageDraw.Draw(mask)
    for x0, y0, x1, y1 in shapes:
        draw.ellipse((x0 / 4, y0 / 4, x1 / 4, y1 / 4), fill=fill)
    return mask.filter(ImageFilter.GaussianBlur(blur / 4)).resize(size, Image.Resampling.BILINEAR)


def ridge(
    stream: random.Random, w: int, base: float, height: float, roughness: float, detail: float, peak: float
) -> list[tuple[float, float]]:
    """A mountain ridge by midpoint displacement, highest near ``peak`` (a share of the width).

    Every octave is drawn from the stream whatever ``detail`` is (so the ridge keeps its shape); the fine
    octaves are only as rough as the steps have resolved them.
    """
    points = [base - height * stream.uniform(0.15, 0.45), base - height * stream.uniform(0.15, 0.45)]
    spread = height
    for octave in range(6):
        damp = 1.0 if octave < 3 else detail
        nxt = []
        for a, b in itertools.pairwise(points):
            nxt += [a, (a + b) / 2 + stream.uniform(-spread, spread) * 0.5 * damp]
        points = [*nxt, points[-1]]
        spread *= roughness
    step = w / (len(points) - 1)
    out = []
    for i, y in enumerate(points):
        x = i * step
        lift = height * 0.55 * max(0.0, 1 - abs(x / max(w, 1) - peak) * 2.2)
        out.append((x, min(base, y - lift)))
    return out


class Layout(NamedTuple):
    """Where things go, as shares of the width and height: the seed's composition."""

    horizon: float
    subject_x: float
    object_x: float
    light_x: float
    light_y: float
    """Share of the sky's height."""
    subject_size: float
    facing: int
    """1: the creature looks right; -1: left."""
    peak_x: float
    forest_x: float
    forest_spread: float
    water_x: float


def layout(seed: int) -> Layout:
    stream = rng("composition", seed)
    subject_x = stream.uniform(0.15, 0.85)

    def away(low: float, high: float) -> float:
        """A place across the picture at least ``low`` of the width from the subject (wrapping round)."""
        return 0.1 + (subject_x - 0.1 + stream.uniform(low, high)) % 0.8

    facing = 1 if subject_x < 0.42 else (-1 if subject_x > 0.58 else stream.choice((1, -1)))
    return Layout(
        horizon=stream.uniform(0.34, 0.74),
        subject_x=subject_x,
        object_x=away(0.25, 0.55),
        light_x=away(0.2, 0.6),
        light_y=stream.uniform(0.15, 0.62),
        subject_size=stream.uniform(0.7, 1.5),
        facing=facing,
        peak_x=stream.uniform(0.1, 0.9),
        forest_x=min(0.9, max(0.1, 1 - subject_x + stream.uniform(-0.15, 0.15))),
        forest_spread=stream.uniform(0.25, 0.6),
        water_x=stream.uniform(0.25, 0.75),
    )


@dataclass(frozen=True)
class Brief:
    """What to paint: the features and colours left after guidance and the negative prompt, and how finely."""

    features: frozenset[str]
    palette: tuple[RGB, ...]
    seed: int
    animal: str | None = None
    """The creature's word (``fox``), when the prompt names one."""
    prompt_words: frozenset[str] = frozenset()
    detail: float = 1.0
    """0..1: how much fine detail the steps have resolved (eyes, windows, snow caps, rough ridges)."""


class Canvas:
    """The picture being painted and what every element needs: the brief, the layout, a seeded stream."""

    def __init__(self, brief: Brief, size: tuple[int, int]) -> None:
        self.brief = brief
        self.features, self.palette = brief.features, list(brief.palette)
        self.w, self.h = size
        self.layout = layout(brief.seed)
        self.horizon = self.h * self.layout.horizon
        self.img = Image.new("RGB", size)
        self.draw = ImageDraw.Draw(self.img)
        self.rng = rng("layout", brief.seed)
        self.sky_top: RGB = (62, 122, 214)
        self.sky_bottom: RGB = (176, 208, 240)

    def tint(self, colour: RGB, amount: float = 0.3) -> RGB:
        return mix(colour, self.palette[0], amount) if self.palette else colour

    def u(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    @property
    def night(self) -> bool:
        return "night" in self.features
