"""The things that stand in a scene: creatures, trees, buildings, boats, and what falls or shines over them.

Each one is placed by the seed's layout (see ``canvas``), so another seed moves it. The smallest parts (eyes,
beaks, battlements, a house's windows) are drawn once the steps have resolved enough detail; what covers more
of the picture (stars, petals, flakes, lit windows, snow caps) is always drawn and shows as the denoising blur
lifts, so the steps do not change the picture's overall light.
"""

from __future__ import annotations

from .canvas import Canvas, mix, rng
from .palette import ANIMALS, RGB

__all__ = ["Figures"]


class Figures(Canvas):
    def stars(self) -> None:
        for _ in range(int(self.w * self.h / 400)):
            x, y = self.u(0, self.w), self.u(0, self.horizon * 0.9)
            v = self.rng.randint(170, 255)
            self.draw.point((x, y), fill=(v, v, min(255, v + 10)))

    def flowers(self) -> None:
        palette = self.palette or [(230, 70, 90), (250, 220, 60), (245, 245, 245), (170, 100, 220)]
        for _ in range(int(self.w * self.h / 180)):
            y = self.u(self.horizon, self.h)
            x = self.u(0, self.w)
            r = max(1.0, (y - self.horizon) / (self.h - self.horizon + 1) * self.w / 160)
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=self.rng.choice(palette))

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

    def forest(self) -> None:
        """Rows of pines gathered on one side (the layout's), leaving room for the subject."""
        centre, spread = self.layout.forest_x * self.w, self.layout.forest_spread * self.w
        caps = "snow" in self.features
        for row in range(3):
            y_base = self.horizon + (self.h - self.horizon) * (0.06 + row * 0.2)
            colour = mix((30, 85, 45), (12, 40, 22), row / 3)
            if self.night:
                colour = mix(colour, (4, 8, 14), 0.6)
            x = centre - spread * self.u(0.8, 1.1)
            end = centre + spread * self.u(0.8, 1.1)
            while x < end:
                tw = self.u(0.035, 0.06) * self.w * (1 + row * 0.4)
                th = tw * self.u(2.2, 3.2)
                self.draw.polygon([(x, y_base), (x + tw / 2, y_base - th), (x + tw, y_base)], fill=colour)
                if caps:
                    cap = [
                        (x + tw * 0.3, y_base - th * 0.6),
                        (x + tw / 2, y_base - th),
                        (x + tw * 0.7, y_base - th * 0.6),
                    ]
                    self.draw.polygon(cap, fill=(236, 242, 250))
                x += tw * self.u(0.55, 0.9)

    def city(self) -> None:
        x = 0.0
        night = self.night
        windows = rng("windows", self.brief.seed)  # a stream of their own: the buildings keep their places
        base = self.horizon + 1
        peak = self.layout.peak_x * self.w
        while x < self.w:
            bw = self.u(0.04, 0.1) * self.w
            tall = 1.0 - min(1.0, abs(x + bw / 2 - peak) / self.w * 1.6)
            bh = (0.08 + 0.4 * tall * self.u(0.5, 1.0)) * self.h
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

    def _ground_y(self, depth: float) -> float:
        """A point ``depth`` of the way from the horizon down to the bottom edge."""
        return self.horizon + (self.h - self.horizon) * depth

    def tower(self) -> None:
        """A lighthouse (white, red bands, a lamp) or, for castles and towers, grey stone."""
        cx = self.layout.object_x * self.w
        base = self._ground_y(0.1)
        height = self.h * self.u(0.35, 0.5)
        half = self.w * 0.035
        top = base - height
        lighthouse = "lighthouse" in self.brief.prompt_words
        body = (236, 232, 224) if lighthouse else self.tint((130, 126, 122), 0.2)
        if self.night:
            body = mix(body, (10, 12, 24), 0.5)
        self.draw.polygon(
            [(cx - half, base), (cx - half * 0.6, top), (cx + half * 0.6, top), (cx + half, base)], fill=body
        )
        if lighthouse:
            band = self.tint((200, 40, 40), 0.2)
            for k in (0.2, 0.5):
                y0, y1 = base - height * k, base - height * (k + 0.14)
                w0, w1 = half * (1 - 0.4 * k), half * (1 - 0.4 * (k + 0.14))
                self.draw.polygon([(cx - w0, y0), (cx - w1, y1), (cx + w1, y1), (cx + w0, y0)], fill=band)
            lamp = (255, 236, 150)
            if self.night or "sunset" in self.features:
                self.draw.polygon(
                    [(cx, top - half * 0.6), (cx + self.layout.facing * self.w * 0.5, top - half * 3),
                     (cx + self.layout.facing * self.w * 0.5, top + half * 2)],
                    fill=mix(lamp, self.sky_bottom, 0.55),
                )  # fmt: skip
            self.draw.rectangle((cx - half * 0.6, top - half * 1.2, cx + half * 0.6, top), fill=lamp)
            self.draw.polygon(
                [
                    (cx - half * 0.8, top - half * 1.2),
                    (cx, top - half * 2.2),
                    (cx + half * 0.8, top - half * 1.2),
                ],
                fill=(30, 30, 34),
            )
        elif self.brief.detail > 0.3:
            step = half * 0.4
            for k in range(3):
                x = cx - half * 0.6 + k * step * 1.6
                self.draw.rectangle((x, top - step, x + step, top), fill=body)

    def house(self) -> None:
        cx = (self.layout.object_x + (0.12 if self.layout.object_x < 0.5 else -0.12)) * self.w
        base = self._ground_y(0.25)
        s = min(self.w, self.h) * 0.09
        wall = self.tint((196, 150, 110), 0.2)
        roof = (120, 44, 36) if "snow" not in self.features else (244, 246, 252)
        if self.night:
            wall, roof = mix(wall, (10, 12, 24), 0.55), mix(roof, (10, 12, 24), 0.5)
        self.draw.rectangle((cx - s, base - s * 1.1, cx + s, base), fill=wall)
        self.draw.polygon(
            [(cx - s * 1.25, base - s * 1.1), (cx, base - s * 2.0), (cx + s * 1.25, base - s * 1.1)],
            fill=roof,
        )
        if self.brief.detail > 0.35:
            lit = (255, 214, 120) if self.night else (90, 120, 150)
            self.draw.rectangle((cx - s * 0.7, base - s * 0.8, cx - s * 0.25, base - s * 0.4), fill=lit)
            self.draw.rectangle((cx + s * 0.2, base - s * 0.75, cx + s * 0.6, base), fill=(80, 50, 30))

    def boat(self) -> None:
        cx = self.layout.water_x * self.w
        y = self.horizon + (self.h - self.horizon) * 0.18
        s = self.w * 0.07
        hull = self.tint((120, 60, 40), 0.3)
        sail = (246, 242, 232) if not self.night else (120, 124, 140)
        self.draw.polygon(
            [(cx - s, y), (cx + s, y), (cx + s * 0.7, y + s * 0.35), (cx - s * 0.7, y + s * 0.35)], fill=hull
        )
        self.draw.polygon(
            [(cx - s * 0.05, y - s * 1.6), (cx - s * 0.05, y - s * 0.1), (cx - s * 0.85, y - s * 0.1)],
            fill=sail,
        )
        self.draw.polygon(
            [(cx + s * 0.05, y - s * 1.3), (cx + s * 0.05, y - s * 0.1), (cx + s * 0.6, y - s * 0.1)],
            fill=sail,
        )

    def creature(self) -> None:
        """The prompt's animal, standing where the layout puts the subject, facing into the picture."""
        animal = ANIMALS.get(self.brief.animal or "animal", ANIMALS["animal"])
        colour: RGB = self.palette[0] if self.palette else animal.colour
        if self.night:
            colour = mix(colour, (10, 10, 20), 0.4)
        s = min(self.w, self.h) * 0.14 * self.layout.subject_size
        cx = self.layout.subject_x * self.w
        cy = min(self.h - s, max(self.horizon + s * 0.4, self.horizon + (self.h - self.horizon) * 0.55))
        f = self.layout.facing
        d = self.draw
        eye = (250, 250, 240) if self.night else (20, 20, 20)
        if animal.build == "bird":
            d.ellipse((cx - s * 0.6, cy - s * 0.9, cx + s * 0.6, cy + s * 0.6), fill=colour)
            d.ellipse((cx - s * 0.45, cy - s * 1.5, cx + s * 0.45, cy - s * 0.6), fill=colour)
            wing = mix(colour, (0, 0, 0), 0.25)
            d.polygon(
                [
                    (cx - f * s * 0.5, cy - s * 0.5),
                    (cx - f * s * 1.1, cy + s * 0.1),
                    (cx - f * s * 0.4, cy + s * 0.4),
                ],
                fill=wing,
            )
            if animal.ears == "tufts":
                for side in (-1, 1):
                    ex = cx + side * s * 0.3
                    d.polygon(
                        [
                            (ex - s * 0.12, cy - s * 1.4),
                            (ex + side * s * 0.1, cy - s * 1.75),
                            (ex + s * 0.12, cy - s * 1.35),
                        ],
                        fill=colour,
                    )
            if self.brief.detail > 0.3:
                for side in (-1, 1):
                    ex = cx + side * s * 0.18
                    d.ellipse((ex - s * 0.1, cy - s * 1.2, ex + s * 0.1, cy - s * 1.0), fill=(250, 220, 80))
                d.polygon(
                    [(cx - s * 0.06, cy - s * 0.95), (cx + s * 0.06, cy - s * 0.95), (cx, cy - s * 0.8)],
                    fill=(230, 170, 40),
                )
            return
        if animal.build == "upright":
            d.rectangle((cx - s * 0.45, cy - s * 1.2, cx + s * 0.45, cy + s * 0.2), fill=colour)
            d.ellipse((cx - s * 0.4, cy - s * 1.9, cx + s * 0.4, cy - s * 1.1), fill=colour)
            for side in (-1, 1):
                d.rectangle(
                    (
                        cx + side * s * 0.3 - s * 0.1,
                        cy + s * 0.2,
                        cx + side * s * 0.3 + s * 0.1,
                        cy + s * 0.9,
                    ),
                    fill=colour,
                )
            visor = (40, 60, 90) if animal.ears == "helmet" else (30, 200, 230)
            if self.brief.detail > 0.3:
                d.rectangle((cx - s * 0.25, cy - s * 1.7, cx + s * 0.25, cy - s * 1.4), fill=visor)
            return
        d.ellipse((cx - s, cy - s * 0.55, cx + s, cy + s * 0.55), fill=colour)
        hx, hy, hr = cx + f * s * 0.95, cy - s * 0.65, s * 0.45
        d.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=colour)
        for side in (-1, 1):
            ex = hx + side * hr * 0.5
            if animal.ears == "long":
                d.ellipse((ex - hr * 0.22, hy - hr * 2.1, ex + hr * 0.22, hy - hr * 0.5), fill=colour)
            elif animal.ears == "round":
                d.ellipse((ex - hr * 0.35, hy - hr * 1.2, ex + hr * 0.35, hy - hr * 0.5), fill=colour)
            elif animal.ears == "floppy":
                d.ellipse(
                    (ex - hr * 0.3, hy - hr * 0.7, ex + hr * 0.3, hy + hr * 0.4),
                    fill=mix(colour, (0, 0, 0), 0.3),
                )
            elif animal.ears == "antlers":
                d.line(
                    (ex, hy - hr * 0.6, ex + side * hr * 0.5, hy - hr * 1.8),
                    fill=(110, 80, 50),
                    width=max(1, round(hr / 5)),
                )
            else:
                d.polygon(
                    [(ex - hr * 0.35, hy - hr * 0.6), (ex, hy - hr * 1.5), (ex + hr * 0.35, hy - hr * 0.6)],
                    fill=colour,
                )
        tail = [(cx - f * s * 0.9, cy), (cx - f * s * 2.0, cy - s * 0.5), (cx - f * s * 1.7, cy + s * 0.1)]
        d.polygon(tail, fill=colour)
        if self.brief.detail > 0.3:
            d.ellipse(
                (hx + f * hr * 0.2 - hr * 0.1, hy - hr * 0.25, hx + f * hr * 0.2 + hr * 0.1, hy - hr * 0.05),
                fill=eye,
            )
        for leg in (-0.6, -0.2, 0.3, 0.7):
            lx = cx + leg * s
            d.rectangle((lx - s * 0.08, cy + s * 0.3, lx + s * 0.08, cy + s * 0.9), fill=colour)
