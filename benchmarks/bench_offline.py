"""Offline backend speed: what one image costs, from a 256x256 thumbnail to Gemini 3 Pro Image's 6144x2688.

Measured through the in-process httpx transport (validation, rendering, JPEG encoding, base64 and the JSON
answer: everything but the socket), median of several seeds after a warm-up. The targets: a classroom of 30
on one laptop needs a 1024x1024 image in tens of milliseconds, and the largest preset well under a second.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx

from together_magic.offline import OfflineBackend
from together_magic.offline.transport import OfflineTransport

URL = "http://offline.bench/v1/images/generations"
CASES = (
    # (label, model, width, height, extra fields, target seconds per image)
    ("FLUX.2 dev 256x256", "black-forest-labs/FLUX.2-dev", 256, 256, {}, 0.05),
    ("FLUX.2 dev 1024x1024", "black-forest-labs/FLUX.2-dev", 1024, 1024, {}, 0.1),
    ("FLUX.1 dev 1024x1024 (retired), 2 LoRAs", "black-forest-labs/FLUX.1-dev", 1024, 1024,
     {"image_loras": [{"path": "a/b", "scale": 1.0}, {"path": "c/d", "scale": 0.5}]}, 0.15),
    ("FLUX.2 pro 1024x1024, upsampling", "black-forest-labs/FLUX.2-pro", 1024, 1024,
     {"prompt_upsampling": True}, 0.15),
    ("Gemini 3 Pro Image 4K 6144x2688", "google/gemini-3-pro-image", 6144, 2688, {}, 0.5),
)  # fmt: skip


def run(add: Callable[..., None], quick: bool) -> None:
    reps = 3 if quick else 7
    with httpx.Client(transport=OfflineTransport(OfflineBackend()), timeout=60) as http:
        for label, model, width, height, extra, target in CASES:
            body = {"prompt": "sunset over a mountain lake", "model": model, "width": width, "height": height}
            body.update(response_format="base64", **extra)
            http.post(URL, json={**body, "seed": 0}).raise_for_status()  # warm-up
            samples = []
            for seed in range(1, reps + 1):
                started = time.perf_counter()
                http.post(URL, json={**body, "seed": seed}).raise_for_status()
                samples.append(time.perf_counter() - started)
            median = statistics.median(samples)
            add(
                f"offline backend, one image: {label} (base64 JPEG, in-process)",
                f"{median * 1000:.0f} ms/image",
                "-",
                "-",
                f"<= {target * 1000:.0f} ms",
                median <= target,
            )


if __name__ == "__main__":

    def show(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        print(f"{name}: {ours} (target {target}) {'met' if ok else 'MISSED'}")

    run(show, quick=False)
