"""The store with 10,000 generations in it: a cache hit, a history search, and bytes on disk per generation.

    .venv/bin/python -m benchmarks.bench_store [--quick]      (the lead wires ``run`` into benchmarks/run.py)

The 10,000 rows go in through the public API (``record_many``, one transaction) and reuse a few real
1024x1024 JPEGs from the offline renderer: files are content-addressed, so the database is full size while
the disk holds a handful of images. Baselines are measured in the same run: today's JSON cache (the
``ImageResponse`` JSON with base64 inside, read and decoded on a hit) and the same store searched by a scan.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROWS = 10_000
WORDS = (
    *("red", "fox", "snowy", "forest", "lake", "sunset", "mountain", "city", "night", "blue", "cat", "dog"),
    *("watercolor", "painting", "photo", "of", "a", "the", "in", "with", "golden", "hour", "cinematic"),
    *("portrait", "sky", "clouds", "rain", "desert", "meadow", "castle", "river", "dragon", "lighthouse"),
)
MODELS = (
    "black-forest-labs/FLUX.2-dev",
    "black-forest-labs/FLUX.1-kontext-pro",
    "black-forest-labs/FLUX.2-pro",
)


def _jpegs(count: int) -> list[bytes]:
    from together_magic.offline.renderer import RenderSpec, encode, render

    out = []
    for seed in range(count):
        spec = RenderSpec(
            prompt="a red fox in a snowy forest by a lake", model=MODELS[0], width=1024, height=1024,
            steps=4, default_steps=4, seed=seed,
        )  # fmt: skip
        out.append(encode(render(spec), "jpeg"))
    return out


def _median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _fill(folder: Path, rows: int, jpegs: list[bytes]) -> list[str]:
    from together_magic.store import NewGeneration, NewImage, Store

    rng = random.Random(7)
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(rows)]
    gens = []
    for i, key in enumerate(keys):
        prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
        if i % 100 == 0:
            prompt += " with a zebra"  # a rare word: 1% of the rows
        request = {
            "prompt": prompt, "model": rng.choice(MODELS), "seed": i, "n": 1, "width": 1024, "height": 1024,
            "steps": 4, "response_format": "base64", "negative_prompt": "blurry",
        }  # fmt: skip
        image = NewImage(jpegs[i % len(jpegs)], i)
        gens.append(NewGeneration("magic", request, [image], "offline", elapsed=0.05, cache_key=key))
    with Store(folder) as store:
        store.record_many(gens)
    return keys


def _json_cache_entry(jpeg: bytes) -> bytes:
    """Today's cache entry for one generation: the response JSON, the image inside as base64."""
    from together_magic.types import ImageResponse

    choice = {"index": 0, "b64_json": base64.b64encode(jpeg).decode(), "timings": {"inference": 0.05}}
    body = {"id": "gen-" + "0" * 20, "model": MODELS[0], "object": "list", "data": [choice]}
    return ImageResponse.model_validate(body).model_dump_json(exclude_none=True).encode()


def run(add: Callable[..., None], quick: bool) -> None:
    from together_magic.store import Store
    from together_magic.types import ImageResponse

    reps = 50 if quick else 300
    jpegs = _jpegs(3 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="tm-bench-store-") as tmp:
        big, small = Path(tmp, "big"), Path(tmp, "small")
        started = time.perf_counter()
        keys = _fill(big, ROWS, jpegs)
        fill_s = time.perf_counter() - started
        small_keys = _fill(small, 100, jpegs)
        rng = random.Random(3)

        # cache hit: the indexed lookup, the hash check, the recency update; bytes in hand
        with Store(big) as store, Store(small) as little:
            hit = _median_ms(lambda: store.lookup(rng.choice(keys)), reps)
            hit_small = _median_ms(lambda: little.lookup(rng.choice(small_keys)), reps)
        entry = Path(tmp, "entry.json")
        entry.write_bytes(_json_cache_entry(jpegs[0]))

        def json_hit() -> bytes:
            response = ImageResponse.model_validate_json(entry.read_bytes())
            return (response.data or [])[0].image_bytes()

        old = _median_ms(json_hit, reps)
        add(
            f"store: cache hit with {ROWS:,} generations (lookup, sha256 check, bytes in hand; 1024px JPEG)",
            f"{hit:.2f} ms",
            f"100 generations {hit_small:.2f} ms; JSON cache read + decode {old:.2f} ms",
            f"{hit / hit_small:.2f}x the 100-row store",
            "<= 2 ms; flat in the store size",
            hit <= 2 and hit / hit_small <= 1.5,
        )

        # history search: text, last 50, with the FTS5 trigram index and with a scan
        queries = {"common (fox)": "fox", "rare (zebra, 1%)": "zebra", "absent (unicorn)": "unicorn"}
        with Store(big) as store, Store(big, full_text=False) as scan:
            indexed = {
                n: _median_ms(partial(store.history, q, last=50), reps // 5) for n, q in queries.items()
            }
            scanned = {
                n: _median_ms(partial(scan.history, q, last=50), reps // 5) for n, q in queries.items()
            }
            found = {n: len(store.history(q, last=50)) for n, q in queries.items()}
            assert found == {n: len(scan.history(q, last=50)) for n, q in queries.items()}
        worst = max(indexed.values())
        add(
            f"store: history text search, last 50, {ROWS:,} generations (FTS5 trigram)",
            ", ".join(f"{n} {v:.1f} ms" for n, v in indexed.items()),
            "scan: " + ", ".join(f"{n} {v:.1f} ms" for n, v in scanned.items()),
            f"worst {worst:.1f} ms vs scan worst {max(scanned.values()):.1f} ms",
            "<= 50 ms",
            worst <= 50,
        )

        # bytes on disk per generation: one image file + this row's share of the database
        database = sum(p.stat().st_size for p in big.glob("store.sqlite3*"))
        per_row_db = database / ROWS
        image = statistics.mean(len(j) for j in jpegs)
        ours = image + per_row_db
        today = statistics.mean(len(_json_cache_entry(j)) for j in jpegs)
        add(
            "store: bytes on disk per 1024x1024 generation vs today's JSON cache",
            f"{ours / 1000:.1f} kB (image {image / 1000:.1f} kB + database {per_row_db:.0f} B/row)",
            f"JSON cache entry {today / 1000:.1f} kB",
            f"{ours / today:.0%}",
            "<= 80%",
            ours / today <= 0.80,
        )

        # recording a new image: verify, hash, write + fsync its file, one transaction
        from together_magic.store import NewGeneration, NewImage

        fresh = jpegs[0]
        counter = iter(range(10**9))
        with Store(big) as store:

            def record() -> None:
                i = next(counter)
                comment = f"bench {i}".encode()  # a JPEG comment segment: new bytes, still a valid JPEG
                data = fresh[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + fresh[2:]
                request = {"prompt": f"p{i}", "model": MODELS[0]}
                store.record(NewGeneration("magic", request, [NewImage(data)], "offline"))

            rec = _median_ms(record, reps // 5)
        add(
            f"store: record a new 1024x1024 generation into {ROWS:,} (check, hash, fsync, commit)",
            f"{rec:.2f} ms",
            f"filling {ROWS:,} rows with one record_many: {fill_s:.1f} s",
            "-",
            "report",
            None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    def add(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
        print(f"| {name} | {ours} | {baseline} | {ratio} | {target} | {verdict} |", flush=True)

    run(add, args.quick)


if __name__ == "__main__":
    main()
