"""A recognisable look per model family: its colour grade and its texture, as a class can tell them apart.

Real model families differ at a glance (FLUX.2's crisp photographs, Kontext's cinematic grade, Ideogram's
posters, SDXL's painterly strokes, gpt-image's warm cast); the offline renderer gives each family a look of
its own so a model comparison shows that. The family follows from the model id alone (a word in it, else its
maker from the catalogue, else the organisation before the slash), so any id in the catalogue, and ids
added to it later, get a look; an id nobody knows gets the plain one.

Everything here works at the painter's small working size, so it costs a few milliseconds whatever the size
of the picture asked for.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps

from ..models import find_model
from .palette import RGB

__all__ = ["FAMILIES", "LOOKS", "Look", "apply_look", "family", "grain", "look_for", "tier"]


@dataclass(frozen=True)
class Look:
    name: str
    """How the panel or a teacher would describe it: "FLUX.2: crisp photograph"."""
    kind: str
    """The style word a negative prompt uses to turn the treatment off (a key of ``palette.STYLES``)."""
    shadows: RGB = (0, 0, 0)
    highlights: RGB = (255, 255, 255)
    tone: float = 0.0
    """How much of the split-tone grade (shadows to highlights) is laid over the picture, 0..1."""
    saturation: float = 1.0
    contrast: float = 1.0
    brightness: float = 1.0
    texture: str = ""
    """grain, strokes, flat, poster, wash or glow (see ``apply_look``)."""
    amount: float = 0.0
    vignette: float = 0.0


LOOKS: dict[str, Look] = {
    # key: Look(name, kind, shadows, highlights, tone, saturation, contrast, brightness, texture, amount,
    #           vignette)
    "plain": Look("plain: the painter's own colours", "none"),
    "flux2": Look("FLUX.2: crisp photograph", "photo", (10, 22, 44), (250, 250, 246), 0.2, 1.1, 1.3, 1.0,
                  "grain", 12, 0.3),
    "kontext": Look("FLUX.1 Kontext / FLUX1.1: cinematic teal and orange", "film", (0, 74, 90),
                    (255, 178, 96), 0.5, 1.15, 1.15, 1.0, "grain", 6, 0.4),
    "flux1": Look("FLUX.1: natural, soft focus", "photo", (40, 50, 30), (255, 250, 230), 0.15, 1.05, 0.95,
                  1.04, "glow", 0.5),
    "gemini": Look("Gemini: bright and clean", "photo", (50, 80, 140), (255, 255, 255), 0.2, 1.35, 1.0, 1.16),
    "imagen": Look("Imagen: pastel", "illustration", (176, 140, 206), (255, 240, 246), 0.5, 0.95, 0.6, 1.15,
                   "glow", 0.3),
    "gpt-image": Look("gpt-image: warm yellow cast", "film", (110, 70, 10), (255, 226, 120), 0.65, 1.15, 1.0,
                      1.0, "grain", 5),
    "seedream": Look("Seedream: glossy, hyper-vivid", "glow", (0, 16, 70), (255, 236, 190), 0.3, 1.9, 1.35,
                     1.05, "glow", 0.45),
    "qwen": Look("Qwen-Image: flat illustration", "illustration", (40, 50, 110), (255, 248, 226), 0.2, 1.3,
                 1.05, 1.06, "flat", 16),
    "wan": Look("Wan: ink and watercolour", "ink", (24, 26, 36), (246, 238, 218), 0.6, 0.7, 1.1, 1.15,
                "wash", 1),
    "ideogram": Look("Ideogram: bold poster", "poster", (44, 24, 96), (255, 240, 200), 0.35, 1.5, 1.1, 1.1,
                     "poster", 1),
    "sdxl": Look("SDXL: oil painting", "painting", (50, 28, 14), (255, 212, 140), 0.35, 1.2, 1.1, 1.0,
                 "strokes", 28, 0.25),
    "sd3": Look("Stable Diffusion 3: faded green film", "film", (0, 70, 50), (200, 240, 190), 0.65, 0.6,
                0.75, 1.04, "grain", 18),
    "juggernaut": Look("Juggernaut: dark and dramatic", "photo", (6, 6, 10), (255, 190, 120), 0.3, 1.1, 1.5,
                       0.75, "grain", 8, 0.7),
    "hidream": Look("HiDream: neon", "neon", (80, 0, 110), (80, 255, 235), 0.55, 1.35, 1.15, 1.0, "glow",
                    0.35),
    "dreamshaper": Look("DreamShaper: dreamy fantasy", "glow", (46, 16, 90), (255, 196, 236), 0.5, 1.15,
                        0.95, 1.0, "glow", 0.65),
}  # fmt: skip

FAMILIES: tuple[tuple[str, str], ...] = (
    # (a pattern in the lower-cased id, the family): the first that matches wins, so the specific come first
    (r"juggernaut", "juggernaut"),
    (r"dreamshaper", "dreamshaper"),
    (r"hidream", "hidream"),
    (r"flux[.-]?2", "flux2"),
    (r"kontext|flux[.-]?1\.1", "kontext"),
    (r"flux", "flux1"),
    (r"gemini|flash-image|nano-banana", "gemini"),
    (r"imagen", "imagen"),
    (r"gpt-image|dall-?e", "gpt-image"),
    (r"seedream|seededit", "seedream"),
    (r"qwen", "qwen"),
    (r"(^|/)wan", "wan"),
    (r"ideogram", "ideogram"),
    (r"stable-diffusion-xl|sdxl", "sdxl"),
    (r"stable-diffusion-3|sd3", "sd3"),
)
_MAKERS = {
    # a maker (from the catalogue) or the organisation before the slash, letters and digits only
    "blackforestlabs": "flux2",
    "google": "gemini",
    "openai": "gpt-image",
    "bytedance": "seedream",
    "bytedanceseed": "seedream",
    "qwen": "qwen",
    "wanai": "wan",
    "ideogram": "ideogram",
    "stabilityai": "sdxl",
    "rundiffusion": "juggernaut",
    "hidream": "hidream",
    "hidreamai": "hidream",
    "lykon": "dreamshaper",
}
_FAST = re.compile(r"schnell|fast|lite|lightning|turbo|free")
_FINE = re.compile(r"pro|max|ultra|full")


def family(model_id: str) -> str:
    """The family key (of ``LOOKS``) of any model id: by a word in it, its maker, or its organisation."""
    lowered = model_id.lower()
    for pattern, name in FAMILIES:
        if re.search(pattern, lowered):
            return name
    spec = find_model(model_id)
    for maker in (spec.maker if spec else "", lowered.partition("/")[0] if "/" in lowered else ""):
        key = re.sub(r"[^a-z0-9]", "", maker.lower())
        if key in _MAKERS:
            return _MAKERS[key]
    return "plain"


def look_for(model_id: str) -> Look:
    return LOOKS[family(model_id)]


def tier(model_id: str) -> float:
    """A little less detail for the fast variants (schnell, fast, lite), a little more for pro/max/ultra."""
    name = model_id.lower().rpartition("/")[2]
    return -0.06 if _FAST.search(name) else (0.04 if _FINE.search(name) else 0.0)


def grain(img: Image.Image, amount: float, stream: random.Random) -> Image.Image:
    """Seeded monochrome grain of +-amount/2 (Pillow's effect_noise cannot be seeded)."""
    spread = round(amount)
    if spread < 2:
        return img
    raw = Image.frombytes("L", img.size, stream.randbytes(img.width * img.height))
    noise = raw.point([v * spread // 255 for v in range(256)])
    return ImageChops.add(img, Image.merge("RGB", (noise, noise, noise)), offset=-(spread // 2))


def _strokes(img: Image.Image, amount: float, stream: random.Random) -> Image.Image:
    """Brushwork: seeded noise stretched into short strokes (tall and wide), laid over the colours."""
    w, h = img.size
    spread = round(amount)
    tall = (max(2, w // 24), max(2, h // 5))
    wide = (max(2, w // 5), max(2, h // 24))
    streaks = [
        Image.frombytes("L", size, stream.randbytes(size[0] * size[1])).resize(
            img.size, Image.Resampling.BILINEAR
        )
        for size in (tall, wide)
    ]
    both = ImageChops.add(streaks[0], streaks[1], scale=2).point([v * spread // 255 for v in range(256)])
    return ImageChops.add(img, Image.merge("RGB", (both, both, both)), offset=-(spread // 2))


def _glow(img: Image.Image, look: Look, amount: float) -> Image.Image:
    """Bloom: the highlights blurred wide (at a quarter of the size: it is all soft), tinted, screened on."""
    quarter = (max(1, img.width // 4), max(1, img.height // 4))
    bright = ImageOps.grayscale(img).resize(quarter, Image.Resampling.BOX)
    bright = bright.point([max(0, v - 140) * 2 for v in range(256)]).filter(
        ImageFilter.GaussianBlur(max(quarter) / 30)
    )
    halo = ImageOps.colorize(bright, (0, 0, 0), look.highlights).resize(img.size, Image.Resampling.BILINEAR)
    return Image.blend(img, ImageChops.screen(img, halo), min(1.0, amount))


def _outlines(img: Image.Image, colour: RGB, threshold: int) -> Image.Image:
    """Lines round the shapes, found at half size after a median filter: flakes, stars and petals get none."""
    half = ImageOps.grayscale(img.reduce(2)).filter(ImageFilter.MedianFilter(5))
    edges = half.filter(ImageFilter.FIND_EDGES).point([255 if v > threshold else 0 for v in range(256)])
    lines = edges.resize(img.size, Image.Resampling.BILINEAR).point(
        [255 if v > 96 else 0 for v in range(256)]
    )
    out = img.copy()
    out.paste(Image.new("RGB", img.size, colour), (0, 0), lines)
    return out


def _wash(img: Image.Image, look: Look, stream: random.Random) -> Image.Image:
    """Ink and watercolour: colours bleed (softened), shapes inked in the shadow colour, on grained paper."""
    soft = img.reduce(2).resize(img.size, Image.Resampling.BILINEAR)
    return grain(_outlines(soft, look.shadows, 40), 8, stream)


def apply_look(
    img: Image.Image, look: Look, stream: random.Random, suppressed: frozenset[str] = frozenset()
) -> Image.Image:
    """The family's grade and texture; a negative prompt naming the look's kind keeps only a trace of it."""
    strength = 0.25 if look.kind in suppressed else 1.0
    textured = strength == 1
    if textured and look.texture == "flat":  # fewer colours first, then the grade (which keeps them flat)
        img = img.quantize(round(look.amount), method=Image.Quantize.FASTOCTREE).convert("RGB")
    elif textured and look.texture == "poster":
        img = _outlines(ImageOps.posterize(img, 2), (16, 16, 24), 40)
    if look.tone:
        toned = ImageOps.colorize(ImageOps.grayscale(img), look.shadows, look.highlights)
        img = Image.blend(img, toned, look.tone * strength)
    brightness, contrast, saturation = (
        1 + (f - 1) * strength for f in (look.brightness, look.contrast, look.saturation)
    )
    if abs(brightness - 1) > 0.01 or abs(contrast - 1) > 0.01:
        img = img.point(_levels(brightness, contrast))
    if abs(saturation - 1) > 0.01:
        img = ImageEnhance.Color(img).enhance(saturation)
    if not textured:
        return img
    if look.texture == "grain" and "grain" not in suppressed:
        img = grain(img, look.amount, stream)
    elif look.texture == "strokes":
        img = _strokes(img, look.amount, stream)
    elif look.texture == "wash":
        img = _wash(img, look, stream)
    elif look.texture == "glow":
        img = _glow(img, look, look.amount)
    if look.vignette:
        img = _vignette(img, look.vignette)
    return img


def _levels(brightness: float, contrast: float) -> list[int]:
    """One table for the three channels: scaled by ``brightness``, spread by ``contrast`` about grey."""
    table = [max(0, min(255, round((v * brightness - 128) * contrast + 128))) for v in range(256)]
    return table * 3


def _vignette(img: Image.Image, amount: float) -> Image.Image:
    return ImageChops.multiply(img, _shade(img.size, amount))


@functools.lru_cache(maxsize=16)
def _shade(size: tuple[int, int], amount: float) -> Image.Image:
    """Darker corners: Pillow's radial gradient, stretched to the picture (kept: every picture uses it)."""
    ring = Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR)
    shade = ring.point([255 - round(amount * max(0, v - 90) * 255 / 165) for v in range(256)])
    return Image.merge("RGB", (shade, shade, shade))
