"""A procedural painter that makes the offline backend's pictures. It is not a diffusion model.

What it does is chosen so that a class can see what each request parameter does in a real model:
- the prompt's colours and scene words (sky, sunset, night, sun, moon, mountain, lake, sea, forest, snow,
  city, desert, meadow, clouds, rain, and a few animals) decide what is painted;
- the seed decides the composition: same request and seed give byte-identical files, other seeds other
  layouts, and the layout does not move when only steps or guidance change (as with a fixed noise seed);
- few steps look rough (low resolution, blotchy noise, blur), many look refined;
- low guidance is muted, high guidance saturated and contrasty;
- the negative prompt removes what it names;
- the picture to edit (``image_url``) is blended in strongly, and every one of ``reference_images`` is
  blended in (their average, so each counts alike);
- each LoRA restyles the picture in a way chosen by a hash of its path (duotone, posterised, embossed or
  striped, in a colour of its own), as strongly as its scale says;
- ``prompt_upsampling`` adds a little detail (crisper edges, a slightly finer working resolution).

Speed matters (a classroom of 30 on one laptop): the scene is painted at a few hundred pixels, then
scaled; a 1024x1024 picture costs a few tens of milliseconds of one core, a 6144x2688 one a few hundred.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from ..models import DEFAULT_GUIDANCE, LORA_SCALE_RANGE
from .palette import COLOURS, RGB, scene_words
from .scene import Painter, mix, rng

__all__ = ["COLOURS", "EDIT_WEIGHT", "REFERENCE_WEIGHT", "RenderSpec", "encode", "render", "scene_words"]

EDIT_WEIGHT = 0.6
"""How much of the picture to edit (``image_url``) shows through: an edit keeps most of its source."""
REFERENCE_WEIGHT = 0.45
"""How much the average of ``reference_images`` shows through: they guide the look, they are not edited."""


@dataclass(frozen=True)
class RenderSpec:
    prompt: str
    model: str
    width: int
    height: int
    steps: int
    default_steps: int
    seed: int
    guidance: float = DEFAULT_GUIDANCE
    negative_prompt: str = ""
    edits: tuple[Image.Image, ...] = ()
    references: tuple[Image.Image, ...] = ()
    loras: tuple[tuple[str, float], ...] = ()
    """(path, scale) pairs."""
    upsample: bool = False


def _quality(steps: int, default_steps: int) -> float:
    """0.2 (one rough step) .. 1.0 (twice the model's default or more); the default itself is ~0.75."""
    ratio = steps / max(default_steps, 1)
    return max(0.2, min(1.0, math.log2(1 + 4 * ratio) / math.log2(9)))


def _noise(size: tuple[int, int], amplitude: int, rng: random.Random) -> Image.Image:
    """Seeded monochrome noise in RGB, values 0..amplitude; Pillow's effect_noise cannot be seeded."""
    w, h = size
    raw = Image.frombytes("L", size, rng.randbytes(w * h))
    scaled = raw.point([v * amplitude // 255 for v in range(256)])
    return Image.merge("RGB", (scaled, scaled, scaled))


def _add_noise(img: Image.Image, amplitude: int, rng: random.Random) -> Image.Image:
    if amplitude < 4:
        return img
    return ImageChops.add(img, _noise(img.size, amplitude, rng), scale=1.0, offset=-(amplitude // 2))


def _guidance(img: Image.Image, guidance: float) -> Image.Image:
    """Classifier-free guidance pushes harder towards the prompt: here, towards stronger colour."""
    if guidance <= DEFAULT_GUIDANCE:
        saturation = 0.3 + 0.7 * guidance / DEFAULT_GUIDANCE
        contrast = 0.8 + 0.2 * guidance / DEFAULT_GUIDANCE
    else:
        saturation = min(2.2, 1.0 + (guidance - DEFAULT_GUIDANCE) * 0.14)
        contrast = min(1.5, 1.0 + (guidance - DEFAULT_GUIDANCE) * 0.05)
    if abs(saturation - 1) > 0.01:
        img = ImageEnhance.Color(img).enhance(saturation)
    if abs(contrast - 1) > 0.01:
        img = ImageEnhance.Contrast(img).enhance(contrast)
    return img


def _average(images: tuple[Image.Image, ...], size: tuple[int, int]) -> Image.Image:
    """The mean of the images, each scaled to ``size``: a running average, so each weighs 1/len."""
    mean = images[0].convert("RGB").resize(size, Image.Resampling.BILINEAR)
    for count, img in enumerate(images[1:], start=2):
        mean = Image.blend(mean, img.convert("RGB").resize(size, Image.Resampling.BILINEAR), 1 / count)
    return mean


def _lora_style(img: Image.Image, path: str) -> Image.Image:
    """The picture fully restyled by one LoRA; the style and its colour follow from a hash of the path."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).digest()
    r, g, b = colorsys.hsv_to_rgb(digest[1] / 255, 0.75, 0.95)
    colour: RGB = (round(r * 255), round(g * 255), round(b * 255))
    style = digest[0] % 4
    grey = ImageOps.grayscale(img)
    if style == 0:  # duotone in the LoRA's colour
        return ImageOps.colorize(grey, mix(colour, (10, 10, 20), 0.75), mix(colour, (255, 255, 255), 0.55))
    if style == 1:  # posterised, tinted
        return Image.blend(ImageOps.posterize(img, 2), Image.new("RGB", img.size, colour), 0.3)
    if style == 2:  # embossed relief in the LoRA's colour
        relief = ImageOps.autocontrast(grey.filter(ImageFilter.EMBOSS))
        return ImageOps.colorize(relief, mix(colour, (0, 0, 0), 0.6), mix(colour, (255, 255, 255), 0.7))
    striped = img.copy()  # diagonal stripes at an angle and spacing of its own
    draw = ImageDraw.Draw(striped)
    w, h = img.size
    gap = 4 + digest[2] % 9
    slope = (digest[3] % 5 - 2) * 0.5
    for x in range(-h * 2, w + h * 2, gap):
        draw.line((x, 0, x + slope * h, h), fill=colour, width=max(1, gap // 3))
    return striped


def _loras(img: Image.Image, loras: tuple[tuple[str, float], ...]) -> Image.Image:
    top = LORA_SCALE_RANGE[1]
    for path, scale in loras:
        strength = max(0.0, min(1.0, scale / top))
        if strength:
            img = Image.blend(img, _lora_style(img, path), strength)
    return img


def render(spec: RenderSpec) -> Image.Image:
    """Paint the picture for one image of a request (one seed); RGB, exactly ``width`` x ``height``."""
    q = _quality(spec.steps, spec.default_steps)
    if spec.upsample:
        q = min(1.0, q + 0.1)
    long_side = round(96 + (448 - 96) * q)
    scale = long_side / max(spec.width, spec.height)
    work = (max(8, round(spec.width * scale)), max(8, round(spec.height * scale)))
    img = Painter(spec, work).paint()
    if spec.edits:
        img = Image.blend(img, _average(spec.edits, work), EDIT_WEIGHT)
    if spec.references:
        img = Image.blend(img, _average(spec.references, work), REFERENCE_WEIGHT)
    img = _loras(img, spec.loras)
    if spec.upsample:
        img = ImageEnhance.Sharpness(img.filter(ImageFilter.DETAIL)).enhance(1.6)
    img = _guidance(img, spec.guidance)
    noise_rng = rng("noise", spec.model, spec.prompt, spec.seed, spec.steps, spec.width, spec.height)
    if q < 0.7:
        img = img.filter(ImageFilter.GaussianBlur((0.7 - q) * 4))
    img = _add_noise(img, round(110 * (1 - q) ** 1.5), noise_rng)
    resample = Image.Resampling.NEAREST if q < 0.4 else Image.Resampling.BICUBIC
    img = img.resize((spec.width, spec.height), resample)
    return _add_noise(img, round(40 * (1 - q) ** 2), noise_rng)


def encode(img: Image.Image, output_format: str) -> bytes:
    """JPEG (Together's default) or PNG bytes; both encoders are deterministic for a given Pillow."""
    out = io.BytesIO()
    if output_format == "png":
        img.save(out, format="PNG", compress_level=1)
    else:
        img.save(out, format="JPEG", quality=90)
    return out.getvalue()
