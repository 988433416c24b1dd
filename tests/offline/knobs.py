"""Simple measures of a picture, each one a teacher could explain, for the knob tests.

Every measure works on a plain RGB picture with Pillow only: no model, no feature detector. A knob "shows"
when the measure it should move moves by more than a stated margin.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageChops, ImageFilter, ImageStat

HSV = tuple[int, int, int]


def edge_energy(img: Image.Image) -> float:
    """Mean edge strength (Pillow's FIND_EDGES on the grey picture), 0..255: blobs score low, detail high.

    The outermost pixels are left out: Pillow's filters copy them unfiltered, which would count as edges.
    """
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES)
    return float(ImageStat.Stat(edges.crop((1, 1, edges.width - 1, edges.height - 1))).mean[0])


def saturation(img: Image.Image) -> float:
    """Mean HSV saturation, 0..255."""
    return float(ImageStat.Stat(img.convert("HSV").getchannel("S")).mean[0])


def contrast(img: Image.Image) -> float:
    """Standard deviation of the grey picture, 0..128."""
    return float(ImageStat.Stat(img.convert("L")).stddev[0])


def colours(img: Image.Image) -> int:
    """How many different colours a 64x64 sample of the picture has: flat and poster looks have few."""
    return len(img.convert("RGB").resize((64, 64), Image.Resampling.NEAREST).getcolors(64 * 64) or [])


def composition(a: Image.Image, b: Image.Image, grid: int = 16) -> float:
    """Mean absolute difference, 0..255, of the two pictures shrunk to grid x grid cells: what is where.

    Shrinking averages grain, blur and texture away; what is left is layout: where the light sky, the dark
    ground and the subject are.
    """
    small = [img.convert("RGB").resize((grid, grid), Image.Resampling.BOX) for img in (a, b)]
    return sum(ImageStat.Stat(ImageChops.difference(*small)).mean) / 3


def histogram_distance(a: Image.Image, b: Image.Image, levels: int = 4) -> float:
    """The share of pixels, 0..1, that would have to change colour to turn one palette into the other.

    Colours are counted in a levels x levels x levels cube (4: 64 bins, 64 shades per channel each); the
    measure is half the L1 distance between the two normalised counts (the total variation distance).
    """
    first, second = (_cube(img, levels) for img in (a, b))
    return sum(abs(x - y) for x, y in zip(first, second, strict=True)) / 2


def _cube(img: Image.Image, levels: int) -> list[float]:
    r, g, b = img.convert("RGB").split()
    code = ImageChops.add(
        r.point(lambda v: v * levels // 256 * levels * levels), g.point(lambda v: v * levels // 256 * levels)
    )
    code = ImageChops.add(code, b.point(lambda v: v * levels // 256))
    total = img.width * img.height
    return [n / total for n in code.histogram()[: levels**3]]


def _hue(low: float, high: float) -> Callable[[int], bool]:
    """A hue band in degrees (low > high wraps through red)."""
    lo, hi = low * 255 / 360, high * 255 / 360
    return (lambda h: lo <= h <= hi) if lo <= hi else (lambda h: h >= lo or h <= hi)


_RED, _ORANGE, _GREEN = _hue(340, 14), _hue(16, 42), _hue(70, 170)
SIGNATURES: dict[str, Callable[[HSV], bool]] = {
    # what each named thing looks like in the offline pictures: its colour, in HSV (Pillow's 0..255 scale)
    "snow": lambda p: p[2] >= 215 and p[1] <= 40,
    "forest": lambda p: _GREEN(p[0]) and p[1] >= 60 and 25 <= p[2] <= 150,
    "red": lambda p: _RED(p[0]) and p[1] >= 120 and p[2] >= 70,
    "orange": lambda p: _ORANGE(p[0]) and p[1] >= 110 and p[2] >= 90,
}


def share(img: Image.Image, signature: str) -> float:
    """The share of the picture, 0..1, whose colour is that of ``signature`` (at 128x128, box-averaged)."""
    test = SIGNATURES[signature]
    data = img.convert("RGB").resize((128, 128), Image.Resampling.BOX).convert("HSV").tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    return sum(1 for p in pixels if test(p)) / len(pixels)
