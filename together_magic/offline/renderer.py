"""A procedural painter that makes the offline backend's pictures. It is not a diffusion model.

It is the only model most classes see, so every knob does visibly what it does in a real model:
- the prompt's colours, scene words (sky, sunset, night, sun, moon, mountain, lake, sea, forest, snow, city,
  desert, meadow, clouds, rain), objects (lighthouse, house, boat) and animals decide what is painted;
- the seed decides the composition (horizon, where the subject, the light and the forest are, which way the
  animal looks): same request and seed give byte-identical files, and the layout does not move when only
  steps, guidance, the negative prompt or the model change (as with a fixed noise seed);
- steps denoise: one step gives soft blobs of colour, more resolve edges and then fine detail, and the
  picture settles around the model's default (see ``knobs``);
- guidance goes from loose (some of the prompt's elements drift away, the picture slides towards abstract
  shapes) to literal (every element, saturated and crisp);
- the negative prompt removes the things it names, drains the colours it names and tones down the styles;
- each model family has a look of its own (``looks``): a photographic, cinematic, painterly, flat, poster,
  ink or neon treatment, whatever the model id;
- the picture to edit (``image_url``) is blended in strongly, and every one of ``reference_images`` is
  blended in (their average, so each counts alike);
- each LoRA restyles the picture in a way chosen by a hash of its path (duotone, posterised, embossed or
  striped, in a colour of its own), as strongly as its scale says;
- ``prompt_upsampling`` adds a little detail (crisper edges, a little further along the steps).

Speed matters (a classroom of 30 on one laptop): the scene is painted and treated at a few hundred pixels,
then scaled; a 1024x1024 picture costs a few tens of milliseconds of one core, a 6144x2688 one a few hundred.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from ..models import DEFAULT_GUIDANCE, LORA_SCALE_RANGE
from .canvas import Brief, mix, rng
from .knobs import denoise, detail, drift, kept, literal, suppress
from .looks import apply_look, look_for, tier
from .palette import COLOURS, RGB, scene_words, styles, subject, words
from .scene import Painter

__all__ = ["COLOURS", "EDIT_WEIGHT", "REFERENCE_WEIGHT", "RenderSpec", "encode", "render", "scene_words"]

EDIT_WEIGHT = 0.6
"""How much of the picture to edit (``image_url``) shows through: an edit keeps most of its source."""
REFERENCE_WEIGHT = 0.45
"""How much the average of ``reference_images`` shows through: they guide the look, they are not edited."""
WORK = 448
"""The long side, in pixels, of the working picture at which everything is painted and treated (or the
picture's own long side, when that is smaller)."""


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


def _brief(spec: RenderSpec) -> Brief:
    """What survives of the prompt: guidance keeps some elements, the negative prompt takes others away."""
    features, palette = scene_words(
        spec.prompt, spec.negative_prompt, kept(spec.prompt, spec.guidance, spec.seed)
    )
    resolved = detail(spec.steps, spec.default_steps) + tier(spec.model) + (0.1 if spec.upsample else 0.0)
    return Brief(
        features=frozenset(features),
        palette=tuple(palette),
        seed=spec.seed,
        animal=subject(spec.prompt),
        prompt_words=frozenset(words(spec.prompt)),
        detail=max(0.0, min(1.0, resolved)),
    )


def render(spec: RenderSpec) -> Image.Image:
    """Paint the picture for one image of a request (one seed); RGB, exactly ``width`` x ``height``."""
    brief = _brief(spec)
    unwanted = styles(spec.negative_prompt)
    scale = min(WORK, max(spec.width, spec.height)) / max(spec.width, spec.height)
    work = (max(8, round(spec.width * scale)), max(8, round(spec.height * scale)))
    img = literal(drift(Painter(brief, work).paint(), spec.guidance, spec.seed), spec.guidance)
    img = apply_look(img, look_for(spec.model), rng("texture", spec.model, spec.seed), unwanted)
    # the model's look is its own painting's: an edit keeps its source's colours, as Kontext keeps a photo's
    if spec.edits:
        img = Image.blend(img, _average(spec.edits, work), EDIT_WEIGHT)
    if spec.references:
        img = Image.blend(img, _average(spec.references, work), REFERENCE_WEIGHT)
    img = _loras(suppress(img, spec.negative_prompt, unwanted), spec.loras)
    if spec.upsample:
        img = ImageEnhance.Sharpness(img.filter(ImageFilter.DETAIL)).enhance(1.6)
    resolved = min(1.0, brief.detail + (0.15 if "blur" in unwanted else 0.0))
    img = denoise(img, resolved, rng("noise", spec.seed, spec.steps))
    return img.resize((spec.width, spec.height), Image.Resampling.BICUBIC)


def encode(img: Image.Image, output_format: str) -> bytes:
    """JPEG (Together's default) or PNG bytes; both encoders are deterministic for a given Pillow."""
    out = io.BytesIO()
    if output_format == "png":
        img.save(out, format="PNG", compress_level=1)
    else:
        img.save(out, format="JPEG", quality=90)
    return out.getvalue()
