"""What steps, guidance and the negative prompt do to the offline picture, each in a way a class can see.

- **steps** denoise: one step is a few soft blobs of the scene's colours, each further step resolves finer
  detail (smaller blobs, then edges, then stars, windows, petals), and the picture stops changing much around
  the model's default (``detail``, ``denoise``);
- **guidance** goes from loose to literal: below the default some of the prompt's elements drift away (which
  ones follows from the seed) and the picture slides towards the seed's own abstract shapes; at the default
  every element is there; above it they are ever more saturated, contrasty and crisp (``kept``, ``drift``,
  ``literal``);
- **the negative prompt** removes what it names (the palette module's job), and here drains the colours it
  names from the whole picture and turns down the styles it names (``suppress``).
"""

from __future__ import annotations

import colorsys
import math
import random

from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from ..models import DEFAULT_GUIDANCE
from .canvas import rng
from .palette import COLOURS, elements, words
from .scene import prior

__all__ = ["denoise", "detail", "drift", "kept", "literal", "suppress"]


def detail(steps: int, default_steps: int) -> float:
    """0..1, how much of the picture the steps have resolved: 0.95 at the model's default, ~1 at twice it.

    ``1 - exp(-3 * steps / default)``: most of the change happens in the first steps, as in a real sampler.
    """
    return 1 - math.exp(-3 * steps / max(default_steps, 1))


def denoise(img: Image.Image, resolved: float, stream: random.Random) -> Image.Image:
    """The picture as a sampler has it after that much denoising: soft blobs, a mottle of leftover noise.

    The blobs are 12 px across the long side at no detail and the full working size at full detail, on a
    geometric scale, so each doubling of the steps halves their size about as much as the last. The answer
    is that small picture (the renderer scales it to the size asked for, which smooths the blobs), or the
    picture itself once the blobs are within a fifth of the working size.
    """
    w, h = img.size
    long_side = max(w, h)
    blobs = 12 * (long_side / 12) ** resolved
    if blobs >= 0.8 * long_side:
        return img
    small = (max(2, round(w * blobs / long_side)), max(2, round(h * blobs / long_side)))
    tiny = img.resize(small, Image.Resampling.BOX)
    if resolved < 0.75:  # the mottle and the blur only show on small blobs (and cost time on large ones)
        mottle = Image.frombytes("RGB", small, stream.randbytes(small[0] * small[1] * 3))
        tiny = Image.blend(tiny, mottle, 0.08 * (1 - resolved) ** 1.5).filter(ImageFilter.GaussianBlur(0.7))
    return ImageEnhance.Color(tiny).enhance(0.85 + 0.15 * resolved)


def kept(prompt: str, guidance: float, seed: int) -> frozenset[str]:
    """The prompt's elements that guidance holds on to: all of them from the default up, fewer below.

    The elements are ranked in a seeded order; element k of n needs a guidance of at least
    ``DEFAULT_GUIDANCE * (0.05 + 0.6 * (k + 0.5) / n)``: at guidance 1 about half of them survive, at 2
    most, at 0 none.
    """
    found = elements(prompt)
    rng("guidance", seed, prompt).shuffle(found)
    n = len(found)
    return frozenset(
        name for k, name in enumerate(found) if guidance >= DEFAULT_GUIDANCE * (0.05 + 0.6 * (k + 0.5) / n)
    )


def drift(img: Image.Image, guidance: float, seed: int) -> Image.Image:
    """Below the default, the picture slides towards the seed's abstract prior (most of the way at 0)."""
    if guidance >= DEFAULT_GUIDANCE:
        return img
    loose = 1 - guidance / DEFAULT_GUIDANCE
    return Image.blend(img, prior(img.size, seed), 0.6 * loose**1.5)


def literal(img: Image.Image, guidance: float) -> Image.Image:
    """Muted below the default; above it ever more saturated, contrasty and crisp (and overdone past ~15)."""
    g = guidance / DEFAULT_GUIDANCE
    if g <= 1:
        saturation, contrast, crisp = 0.4 + 0.6 * g, 0.8 + 0.2 * g, 0.0
    else:
        push = min(1.0, (g - 1) / 2)  # all of it by guidance 10.5
        over = max(0.0, min(1.0, (g - 3) / 5))  # burning out towards 30
        saturation, contrast, crisp = 1 + 0.8 * push + 0.6 * over, 1 + 0.3 * push + 0.3 * over, push + over
    if abs(saturation - 1) > 0.01:
        img = ImageEnhance.Color(img).enhance(saturation)
    if abs(contrast - 1) > 0.01:
        img = ImageEnhance.Contrast(img).enhance(contrast)
    if crisp > 0.01:
        img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=round(150 * crisp), threshold=2))
    return img


def _hue_band(colour: tuple[int, int, int], width: float = 30) -> list[int]:
    """A table over Pillow's 0..255 hue: 255 within ``width`` degrees of the colour's hue, then fading."""
    hue = colorsys.rgb_to_hsv(*(c / 255 for c in colour))[0] * 360
    table = []
    for v in range(256):
        distance = abs((v * 360 / 256 - hue + 180) % 360 - 180)
        table.append(round(255 * max(0.0, min(1.0, (width * 1.5 - distance) / (width * 0.5)))))
    return table


def suppress(img: Image.Image, negative: str, styles: frozenset[str]) -> Image.Image:
    """Drain each colour the negative prompt names from the picture; turn down the tones and styles it names.

    Black, white and grey are not drained (they have no hue): the negative prompt names things, not light.
    """
    unwanted = words(negative)
    chromatic = [
        COLOURS[w] for w in sorted(unwanted & set(COLOURS)) if max(COLOURS[w]) - min(COLOURS[w]) > 60
    ]
    if chromatic:
        h, s, _ = img.convert("HSV").split()
        mask = Image.new("L", img.size, 0)
        for colour in chromatic:
            mask = ImageChops.lighter(mask, h.point(_hue_band(colour)))
        mask = ImageChops.multiply(mask, s.point([min(255, x * 4) for x in range(256)]))
        img = Image.composite(ImageEnhance.Color(img).enhance(0.08), img, mask)
    for style, enhancer, factor in (
        ("dark", ImageEnhance.Brightness, 1.25),
        ("bright", ImageEnhance.Brightness, 0.8),
        ("vivid", ImageEnhance.Color, 0.55),
        ("dull", ImageEnhance.Color, 1.5),
        ("blur", ImageEnhance.Sharpness, 2.0),
    ):
        if style in styles:
            img = enhancer(img).enhance(factor)
    return img
