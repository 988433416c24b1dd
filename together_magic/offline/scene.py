"""The procedural painter: a seeded landscape (or abstract) scene for a brief, at a small working size.

Each element draws from its own seeded stream and is placed by the seed's layout (see ``canvas``), so the
composition stays put when steps, guidance or the model change, as it does in a real sampler with a fixed
seed. Post-processing (steps, guidance, references, LoRAs, the model's look) is the renderer's business.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter

from .canvas import Brief, gradient, layer, mix, ridge, rng, soft_mask
from .figures import Figures
from .palette import LANDSCAPE, RGB

__all__ = ["Brief", "Painter", "prior"]

_PLAN = (
    "sky", "night:stars", "sun:sun", "moon:moon", "cloud:clouds", "mountain:mountains", "ground", "sea:sea",
    "lake:lake", "city:city", "tower:tower", "house:house", "forest:forest", "boat:boat", "meadow:flowers",
    "creature:creature", "snow:flakes", "rain:rain",
)  # fmt: skip
"""What is painted, back to front; ``feature:method`` paints only when the brief has that feature."""


def prior(size: tuple[int, int], seed: int, palette: list[RGB] | None = None) -> Image.Image:
    """Soft overlapping shapes: what the painter makes of no prompt at all (and of a prompt with no scene).

    Without a palette its colours come from the seed alone: this is the picture low guidance drifts towards.
    """
    stream = rng("prior", seed)
    w, h = size
    colours = palette or [
        mix((stream.randrange(256), stream.randrange(256), stream.randrange(256)), (128, 128, 128), 0.2)
        for _ in range(3)
    ]
    top = colours[0]
    bottom = mix(colours[-1] if len(colours) > 1 else top, (20, 20, 30), 0.5)
    img = gradient(size, top, bottom)
    shapes = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    for i in range(stream.randint(7, 12)):
        colour = mix(colours[i % len(colours)], (255, 255, 255), stream.uniform(0, 0.4))
        cx, cy = stream.uniform(0, w), stream.uniform(0, h)
        r = stream.uniform(0.06, 0.3) * min(w, h)
        box = (cx - r, cy - r, cx + r, cy + r)
        alpha = stream.randint(110, 220)
        if stream.random() < 0.6:
            draw.ellipse(box, fill=(*colour, alpha))
        else:
            draw.rectangle(box, fill=(*colour, alpha))
    shapes = shapes.filter(ImageFilter.GaussianBlur(min(w, h) / 120))
    img.paste(shapes, (0, 0), shapes)
    return img


class Painter(Figures):
    def paint(self) -> Image.Image:
        f = self.features
        if not (f & LANDSCAPE):
            self.img.paste(prior(self.img.size, self.brief.seed, self.palette or None))
            plan: tuple[str, ...] = ("creature:creature",)
        else:
            plan = _PLAN
        for step in plan:
            feature, _, method = step.rpartition(":")
            if feature and feature not in f:
                continue
            if method == "lake" and "sea" in f:
                continue
            self.rng = rng("layout", self.brief.seed, method)
            getattr(self, method)()
        return self.img

    def sky(self) -> None:
        f = self.features
        if self.night:
            top, bottom = (6, 9, 28), (32, 42, 84)
        elif "sunset" in f:
            top, bottom = (58, 48, 118), (250, 142, 72)
        else:
            top, bottom = (62, 122, 214), (176, 208, 240)
        if "cloud" in f or "rain" in f:
            top, bottom = mix(top, (120, 125, 135), 0.5), mix(bottom, (160, 165, 172), 0.5)
        self.sky_top, self.sky_bottom = self.tint(top, 0.25), self.tint(bottom, 0.2)
        self.img.paste(gradient((self.w, max(1, round(self.horizon))), self.sky_top, self.sky_bottom))

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
        cx = self.layout.light_x * self.w
        low = 0.85 if "sunset" in self.features and not moon else 1.0
        cy = self.layout.light_y * low * self.horizon
        colour = (
            (238, 238, 222) if moon else ((255, 190, 90) if "sunset" in self.features else (255, 244, 200))
        )
        layer(
            self.img,
            colour,
            soft_mask(self.img.size, [(cx - 2.2 * r, cy - 2.2 * r, cx + 2.2 * r, cy + 2.2 * r)], 90, r),
        )
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        if moon:
            shade = mix(self.sky_top, self.sky_bottom, cy / max(self.horizon, 1))
            off = r * self.u(0.35, 0.6)
            self.draw.ellipse(
                (cx - r + off, cy - r - off * 0.3, cx + r + off, cy + r - off * 0.3), fill=shade
            )

    def clouds(self) -> None:
        puffs = []
        for _ in range(self.rng.randint(3, 6)):
            cx, cy = self.u(0, self.w), self.u(0.08, 0.55) * self.horizon
            for _ in range(5):
                rx, ry = self.u(0.05, 0.12) * self.w, self.u(0.02, 0.05) * self.h
                ox, oy = self.u(-1.5, 1.5) * rx, self.u(-0.6, 0.6) * ry
                puffs.append((cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry))
        colour = (205, 208, 215) if not self.night else (70, 76, 96)
        layer(self.img, colour, soft_mask(self.img.size, puffs, 200, min(self.w, self.h) / 60))

    def mountains(self) -> None:
        base = self.horizon
        far = mix(self.sky_bottom, (70, 80, 110), 0.55)
        for depth in range(3):
            height = self.h * (0.38 - depth * 0.08)
            peak = self.layout.peak_x + (depth - 1) * 0.18
            line = ridge(self.rng, self.w, base + depth * 2, height, 0.55, self.brief.detail, peak)
            colour = mix(far, (35, 40, 55), depth * 0.3)
            if self.night:
                colour = mix(colour, (5, 8, 20), 0.6)
            polygon = [(0.0, float(self.h)), *line, (float(self.w), float(self.h))]
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
        if self.night:
            near, far = mix(near, (5, 8, 20), 0.65), mix(far, (5, 8, 20), 0.65)
        top = round(self.horizon)
        if top >= self.h:
            return
        self.img.paste(
            gradient((self.w, self.h - top), self.tint(far, 0.15), self.tint(near, 0.15)), (0, top)
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
            cx, half = self.layout.water_x * self.w, self.u(0.25, 0.45) * self.w
            bottom = round(top + (self.h - top) * self.u(0.45, 0.7))
            box = (round(cx - half), top + 1, round(cx + half), bottom)
        x0, y0, x1, y1 = box
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mirror = self.img.crop((x0, max(0, 2 * y0 - y1), x1, y0)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        mirror = mirror.resize((x1 - x0, y1 - y0))
        deep = (20, 60, 110) if not self.night else (8, 14, 34)
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
        if sea and "beach" in self.brief.prompt_words:
            self.draw.rectangle((0, y1, self.w, self.h), fill=(226, 200, 150))
