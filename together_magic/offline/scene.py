"""The procedural painter: a seeded landscape (or abstract) scene for a prompt, at a small working size.

Each element draws from its own seeded stream, so the composition stays put when the working resolution
changes with ``steps`` (a real sampler keeps the layout of a fixed seed, too). Post-processing (quality,
guidance, references, LoRAs) is the renderer's business, not the painter's.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Protocol

from PIL import Image, ImageDraw, ImageFilter

from .palette import LANDSCAPE, RGB, scene_words, words

__all__ = ["Painter", "Subject", "mix", "rng"]


class Subject(Protocol):
    """What the painter needs of a request."""

    @property
    def prompt(self) -> str: ...
    @property
    def negative_prompt(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def seed(self) -> int: ...


def rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).digest()
    return random.Random(digest)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    w, h = size
    column = Image.frombytes("L", (1, 256), bytes(range(256))).resize((w, h), Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), column)


def _layer(canvas: Image.Image, colour: RGB, mask: Image.Image) -> None:
    canvas.paste(Image.new("RGB", canvas.size, colour), (0, 0), mask)


def _ridge(
    rng: random.Random, w: int, base: float, height: float, roughness: float
) -> list[tuple[float, float]]:
    """A mountain ridge by midpoint displacement: cheap, seeded, and recognisably alpine."""
    points = [base - height * rng.uniform(0.2, 0.6), base - height * rng.uniform(0.2, 0.6)]
    spread = height
    for _ in range(6):
        nxt = []
        for a, b in itertools.pairwise(points):
            nxt += [a, (a + b) / 2 + rng.uniform(-spread, spread) * 0.5]
        points = [*nxt, points[-1]]
        spread *= roughness
    step = w / (len(points) - 1)
    return [(i * step, min(base, y)) for i, y in enumerate(points)]


class Painter:
    def __init__(self, spec: Subject, size: tuple[int, int]) -> None:
        self.spec = spec
        self.w, self.h = size
        self.features, self.palette = scene_words(spec.prompt, spec.negative_prompt)
        self.rng = rng("layout", spec.model, spec.prompt, spec.seed)
        self.img = Image.new("RGB", size)
        self.draw = ImageDraw.Draw(self.img)
        self.horizon = self.h * self.rng.uniform(0.55, 0.68)

    # --- helpers -------------------------------------------------------------------------------------
    def tint(self, colour: RGB, amount: float = 0.3) -> RGB:
        return mix(colour, self.palette[0], amount) if self.palette else colour

    def u(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    # --- scene ---------------------------------------------------------------------------------------
    def paint(self) -> Image.Image:
        # Each element draws from its own seeded stream, so the composition stays put when the working
        # resolution changes with ``steps`` (a real sampler keeps the layout of a fixed seed, too).
        f = self.features
        if not (f & LANDSCAPE):
            plan = ["abstract", "creature"]
        else:
            plan = [
                "sky",
                "night:stars",
                "sun:sun",
                "moon:moon",
                "cloud:clouds",
                "mountain:mountains",
                "ground",
                "sea:sea",
                "lake:lake",
                "city:city",
                "forest:forest",
                "meadow:flowers",
                "creature",
                "snow:flakes",
                "rain:rain",
            ]
        for step in plan:
            feature, _, method = step.rpartition(":")
            if feature and feature not in f:
                continue
            if step == "creature" and "creature" not in f:
                continue
            if method == "lake" and "sea" in f:
                continue
            self.rng = rng("layout", self.spec.model, self.spec.prompt, self.spec.seed, method)
            getattr(self, method)()
        return self.img

    def abstract(self) -> None:
        palette = self.palette or [
            mix(
                (self.rng.randrange(256), self.rng.randrange(256), self.rng.randrange(256)),
                (128, 128, 128),
                0.2,
            )
            for _ in range(3)
        ]
        top = palette[0]
        bottom = mix(palette[-1] if len(palette) > 1 else top, (20, 20, 30), 0.5)
        self.img.paste(_gradient(self.img.size, top, bottom))
        shapes = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(shapes)
        for i in range(self.rng.randint(7, 12)):
            colour = palette[i % len(palette)]
            colour = mix(colour, (255, 255, 255), self.u(0, 0.4))
            cx, cy, r = self.u(0, self.w), self.u(0, self.h), self.u(0.06, 0.3) * min(self.w, self.h)
            box = (cx - r, cy - r, cx + r, cy + r)
            alpha = self.rng.randint(110, 220)
            if self.rng.random() < 0.6:
                draw.ellipse(box, fill=(*colour, alpha))
            else:
                draw.rectangle(box, fill=(*colour, alpha))
        shapes = shapes.filter(ImageFilter.GaussianBlur(min(self.w, self.h) / 120))
        self.img.paste(shapes, (0, 0), shapes)

    def sky(self) -> None:
        f = self.features
        if "night" in f:
            top, bottom = (6, 9, 28), (32, 42, 84)
        elif "sunset" in f:
            top, bottom = (58, 48, 118), (250, 142, 72)
        else:
            top, bottom = (62, 122, 214), (176, 208, 240)
        if "cloud" in f or "rain" in f:
            top, bottom = mix(top, (120, 125, 135), 0.5), mix(bottom, (160, 165, 172), 0.5)
        self.sky_top, self.sky_bottom = self.tint(top, 0.25), self.tint(bottom, 0.2)
        self.img.paste(_gradient((self.w, max(1, round(self.horizon))), self.sky_top, self.sky_bottom))

    def stars(self) -> None:
        for _ in range(int(self.w * self.h / 400)):
            x, y = self.u(0, self.w), self.u(0, self.horizon * 0.9)
            v = self.rng.randint(170, 255)
            self.draw.point((x, y), fill=(v, v, min(255, v + 10)))

    def sun(self) -> None:
        self.disc(moon=False)

    def moon(self) -> None:
        self.disc(moon=True)

    def sea(self) -> None:
        self.water(sea=True)

    def lake(self) -> None:
        self.water(sea=False)

    def disc(self, *, moon: bool) -> None:
        r = min(self.w, self.h) * (self.u(0.05, 0.08) if moon else self.u(0.07, 0.11))
        cx = self.u(0.15, 0.85) * self.w
        low = 0.75 if "sunset" in self.features and not moon else 0.45
        cy = self.u(0.12, low) * self.horizon
        colour = (
            (238, 238, 222) if moon else ((255, 190, 90) if "sunset" in self.features else (255, 244, 200))
        )
        glow = Image.new("L", self.img.size, 0)
        ImageDraw.Draw(glow).ellipse((cx - 2.2 * r, cy - 2.2 * r, cx + 2.2 * r, cy + 2.2 * r), fill=90)
        _layer(self.img, colour, glow.filter(ImageFilter.GaussianBlur(r)))
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        if moon:
            shade = mix(self.sky_top, self.sky_bottom, cy / max(self.horizon, 1))
            off = r * self.u(0.35, 0.6)
            self.draw.ellipse(
                (cx - r + off, cy - r - off * 0.3, cx + r + off, cy + r - off * 0.3), fill=shade
            )

    def clouds(self) -> None:
        mask = Image.new("L", self.img.size, 0)
        draw = ImageDraw.Draw(mask)
        for _ in range(self.rng.randint(3, 6)):
            cx, cy = self.u(0, self.w), self.u(0.08, 0.55) * self.horizon
            for _ in range(5):
                rx, ry = self.u(0.05, 0.12) * self.w, self.u(0.02, 0.05) * self.h
                ox, oy = self.u(-1.5, 1.5) * rx, self.u(-0.6, 0.6) * ry
                draw.ellipse((cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry), fill=200)
        colour = (205, 208, 215) if "night" not in self.features else (70, 76, 96)
        _layer(self.img, colour, mask.filter(ImageFilter.GaussianBlur(min(self.w, self.h) / 60)))

    def mountains(self) -> None:
        base = self.horizon
        far = mix(self.sky_bottom, (70, 80, 110), 0.55)
        for depth in range(3):
            height = self.h * (0.38 - depth * 0.08)
            ridge = _ridge(self.rng, self.w, base + depth * 2, height, 0.55)
            colour = mix(far, (35, 40, 55), depth * 0.3)
            if "night" in self.features:
                colour = mix(colour, (5, 8, 20), 0.6)
            polygon = [(0.0, float(self.h)), *ridge, (float(self.w), float(self.h))]
            if "snow" in self.features:
                self.draw.polygon(polygon, fill=mix((245, 248, 255), colour, 0.15 * depth))
                cap = height * 0.22
                self.draw.polygon([(x, y + cap) for x, y in polygon], fill=colour)
            else:
                self.draw.polygon(polygon, fill=colour)

    def ground(self) -> None:
        f = self.features
        if "snow" in f:
            near, far = (250, 252, 255), (210, 220, 235)
        elif "desert" in f:
            near, far = (214, 170, 110), (236, 200, 140)
        elif "meadow" in f or "forest" in f:
            near, far = (52, 120, 45), (104, 160, 80)
        elif "city" in f:
            near, far = (50, 50, 56), (90, 90, 98)
        else:
            near, far = (92, 110, 60), (140, 150, 96)
        if "night" in f:
            near, far = mix(near, (5, 8, 20), 0.65), mix(far, (5, 8, 20), 0.65)
        top = round(self.horizon)
        if top < self.h:
            self.img.paste(
                _gradient((self.w, self.h - top), self.tint(far, 0.15), self.tint(near, 0.15)), (0, top)
            )
            if "desert" in f:
                for _ in range(4):
                    y = self.u(top, self.h)
                    self.draw.arc(
                        (self.u(-0.5, 0.5) * self.w, y, self.u(0.5, 1.5) * self.w, y + self.h * 0.2),
                        180,
                        360,
                        fill=mix(near, (120, 80, 40), 0.3),
                        width=max(1, self.h // 120),
                    )

    def water(self, *, sea: bool) -> None:
        top = round(self.horizon)
        if sea:
            box = (0, top, self.w, round(top + (self.h - top) * self.u(0.55, 0.8)))
        else:
            cx, half = self.u(0.3, 0.7) * self.w, self.u(0.25, 0.45) * self.w
            box = (
                round(cx - half),
                top + 1,
                round(cx + half),
                round(top + (self.h - top) * self.u(0.45, 0.7)),
            )
        x0, y0, x1, y1 = box
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mirror = self.img.crop((x0, max(0, 2 * y0 - y1), x1, y0)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        mirror = mirror.resize((x1 - x0, y1 - y0))
        deep = (20, 60, 110) if "night" not in self.features else (8, 14, 34)
        water = Image.blend(mirror, Image.new("RGB", mirror.size, self.tint(deep, 0.2)), 0.45)
        mask = Image.new("L", self.img.size, 0)
        if sea:
            ImageDraw.Draw(mask).rectangle(box, fill=255)
        else:
            ImageDraw.Draw(mask).ellipse((x0, y0 - (y1 - y0), x1, y1), fill=255)
            ImageDraw.Draw(mask).rectangle((0, 0, self.w, y0), fill=0)
        full = self.img.copy()
        full.paste(water, (x0, y0))
        self.img.paste(full, (0, 0), mask)
        shimmer = mix(self.sky_bottom, (255, 255, 255), 0.4)
        for _ in range(int((y1 - y0) * 0.6)):
            y = self.u(y0, y1)
            x = self.u(x0, x1)
            length = self.u(0.02, 0.08) * self.w
            if mask.getpixel((min(self.w - 1, int(x)), min(self.h - 1, int(y)))):
                self.draw.line((x, y, min(x1, x + length), y), fill=shimmer, width=1)
        if sea and "beach" in words(self.spec.prompt):
            self.draw.rectangle((0, y1, self.w, self.h), fill=(226, 200, 150))

    def city(self) -> None:
        x = 0.0
        night = "night" in self.features
        windows = rng("windows", self.spec.seed, self.spec.prompt)
        base = self.horizon + 1
        while x < self.w:
            bw = self.u(0.04, 0.1) * self.w
            bh = self.u(0.1, 0.45) * self.h
            shade = self.rng.randint(30, 70) if night else self.rng.randint(70, 140)
            colour = self.tint((shade, shade, shade + 12), 0.15)
            self.draw.rectangle((x, base - bh, x + bw, base), fill=colour)
            step = max(2.0, self.w / 90)
            wy = base - bh + step
            while wy < base - step:
                wx = x + step / 2
                while wx < x + bw - step:
                    if windows.random() < (0.45 if night else 0.2):
                        lit = (255, 214, 120) if night else (180, 200, 220)
                        self.draw.rectangle((wx, wy, wx + step / 2, wy + step / 2), fill=lit)
                    wx += step
                wy += step * 1.4
            x += bw + self.u(0, 0.01) * self.w

    def forest(self) -> None:
        rows = 3
        for row in range(rows):
            y_base = self.horizon + (self.h - self.horizon) * (0.08 + row * 0.22)
            colour = mix((30, 85, 45), (12, 40, 22), row / rows)
            if "night" in self.features:
                colour = mix(colour, (4, 8, 14), 0.6)
            x = self.u(-0.05, 0) * self.w
            while x < self.w:
                tw = self.u(0.035, 0.06) * self.w * (1 + row * 0.4)
                th = tw * self.u(2.2, 3.2)
                self.draw.polygon([(x, y_base), (x + tw / 2, y_base - th), (x + tw, y_base)], fill=colour)
                if "snow" in self.features:
                    self.draw.polygon(
                        [
                            (x + tw * 0.3, y_base - th * 0.6),
                            (x + tw / 2, y_base - th),
                            (x + tw * 0.7, y_base - th * 0.6),
                        ],
                        fill=(236, 242, 250),
                    )
                x += tw * self.u(0.55, 0.9)

    def flowers(self) -> None:
        palette = self.palette or [(230, 70, 90), (250, 220, 60), (245, 245, 245), (170, 100, 220)]
        for _ in range(int(self.w * self.h / 180)):
            y = self.u(self.horizon, self.h)
            x = self.u(0, self.w)
            r = max(1.0, (y - self.horizon) / (self.h - self.horizon + 1) * self.w / 160)
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=self.rng.choice(palette))

    def creature(self) -> None:
        colour = self.palette[0] if self.palette else (150, 90, 50)
        if "night" in self.features:
            colour = mix(colour, (10, 10, 20), 0.4)
        s = min(self.w, self.h) * self.u(0.12, 0.18)
        cx = self.u(0.3, 0.7) * self.w
        cy = min(self.h - s, max(self.horizon + s * 0.4, self.h * 0.72))
        d = self.draw
        d.ellipse((cx - s, cy - s * 0.55, cx + s, cy + s * 0.55), fill=colour)
        hx, hy, hr = cx + s * 0.95, cy - s * 0.65, s * 0.45
        d.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=colour)
        for side in (-1, 1):
            ex = hx + side * hr * 0.5
            d.polygon(
                [(ex - hr * 0.35, hy - hr * 0.6), (ex, hy - hr * 1.5), (ex + hr * 0.35, hy - hr * 0.6)],
                fill=colour,
            )
        d.polygon(
            [(cx - s * 0.9, cy), (cx - s * 2.0, cy - s * 0.5), (cx - s * 1.7, cy + s * 0.1)], fill=colour
        )
        eye = (250, 250, 240) if "night" in self.features else (20, 20, 20)
        d.ellipse((hx + hr * 0.2, hy - hr * 0.25, hx + hr * 0.4, hy - hr * 0.05), fill=eye)
        for leg in (-0.6, -0.2, 0.3, 0.7):
            lx = cx + leg * s
            d.rectangle((lx - s * 0.08, cy + s * 0.3, lx + s * 0.08, cy + s * 0.9), fill=colour)

    def flakes(self) -> None:
        for _ in range(int(self.w * self.h / 250)):
            x, y = self.u(0, self.w), self.u(0, self.h)
            r = self.u(0.3, 1.3) * self.w / 300
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=(250, 250, 255))

    def rain(self) -> None:
        slant = self.u(0.1, 0.3) * self.h / 30
        for _ in range(int(self.w * self.h / 300)):
            x, y = self.u(0, self.w), self.u(0, self.h)
            self.draw.line((x, y, x - slant, y + self.h / 30), fill=(170, 180, 200), width=1)
