"""Files and metadata: refusing a huge file costs a stat, embedding costs a splice (never a re-encode),
reading parameters back costs a walk of the headers, and a safe save costs little more than a plain one.

    .venv/bin/python -m benchmarks.bench_files [--quick]
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from together_magic.imagefiles.files import ImageFileError, atomic_write_new, read_image_file
from together_magic.imagefiles.metadata import embed, read_recipe

RECORD = {
    "request": {
        "prompt": "a red fox in the snow, golden hour, " * 8,
        "negative_prompt": "blurry",
        "seed": 100,
        "steps": 4,
        "width": 1024,
        "height": 1024,
        "model": "black-forest-labs/FLUX.2-dev",
    },
    "index": 0,
}


def _median(func: Callable[[], Any], reps: int) -> float:
    func()  # warm-up
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def run(add: Callable[..., None], quick: bool) -> None:
    reps = 5 if quick else 30
    image = Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3))
    jpeg_out, png_out = io.BytesIO(), io.BytesIO()
    image.save(jpeg_out, format="JPEG", quality=95)
    image.save(png_out, format="PNG", compress_level=1)
    jpeg, png = jpeg_out.getvalue(), png_out.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "big.png"
        with big.open("wb") as handle:
            handle.write(png[:64])
            handle.truncate(2 * 1024**3)  # sparse
        medium = folder / "medium.png"
        with medium.open("wb") as handle:
            handle.write(png[:64])
            handle.truncate(256 * 1024**2)

        def refuse() -> None:
            try:
                read_image_file(big, max_bytes=20 * 10**6)
            except ImageFileError:
                return
            raise AssertionError("a 2 GB file was accepted")

        ours = _median(refuse, reps * 10)
        baseline = _median(medium.read_bytes, max(2, reps // 5))
        add(
            "refuse a 2 GB --image file (read_image_file)",
            f"{ours * 1e6:.0f} us",
            f"read_bytes of 256 MB: {_ms(baseline)} (the old path read all 2 GB)",
            f"{baseline / ours:,.0f}x less",
            "< 1 ms",
            ours < 0.001,
        )

        ours = _median(lambda: embed(jpeg, RECORD), reps)

        def reencode() -> bytes:
            out = io.BytesIO()
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + str(RECORD["request"]).encode("utf-16-be")
            Image.open(io.BytesIO(jpeg)).save(out, format="JPEG", quality=95, exif=exif.tobytes())
            return out.getvalue()

        baseline = _median(reencode, reps)
        add(
            f"embed record + EXIF infotext in a {len(jpeg) / 1e6:.1f} MB JPEG",
            _ms(ours),
            f"PIL re-encode with exif (A1111's way): {_ms(baseline)}",
            f"{baseline / ours:,.0f}x less",
            "< 5 ms",
            ours < 0.005,
        )

        saved = folder / "saved.png"
        saved.write_bytes(embed(png, RECORD))
        ours = _median(lambda: read_recipe(saved), reps)

        def pil_text() -> object:
            with Image.open(saved) as img:
                return dict(img.text)

        baseline = _median(pil_text, reps)
        add(
            f"read_recipe of a {saved.stat().st_size / 1e6:.1f} MB PNG (checks included)",
            _ms(ours),
            f"PIL lazy open + text chunks: {_ms(baseline)}",
            f"{ours / baseline:.1f}x",
            "< 20 ms",
            ours < 0.02,
        )

        out = folder / "out"
        out.mkdir()
        ours = _median(lambda: atomic_write_new(out / "a.jpg", jpeg), reps)
        baseline = _median(lambda: (out / "plain.jpg").write_bytes(jpeg), reps)
        add(
            f"atomic_write_new of {len(jpeg) / 1e6:.1f} MB (fsync, no overwrite)",
            _ms(ours),
            f"plain write_bytes, no fsync: {_ms(baseline)}",
            f"{ours / baseline:.1f}x",
            "< 25 ms on a local disk",
            ours < 0.025,
        )


if __name__ == "__main__":

    def _print(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        print(f"{name}: {ours} | {baseline} | {ratio} | {target} | {'met' if ok else 'MISSED'}")

    run(_print, "--quick" in sys.argv)
