"""Captions, cards, grids and comparisons, on responses made by the real service and offline backend."""

from __future__ import annotations

import asyncio
import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from together_magic import models
from together_magic.client import Together
from together_magic.config import Imagine
from together_magic.display import gallery
from together_magic.generation.generate import generate
from together_magic.generation.options import ImagineOptions
from together_magic.generation.plan import build_plan
from together_magic.types import ImageChoicesData, ImageResponse, view

from ..conftest import Server
from ..gateway.conftest import SENTINEL, Gateway

PROMPT = 'a red fox <b>"in"</b> a snowy forest & more'


def make(tmp_path: Path, *, split: bool = True, save: bool = False, **options: object) -> ImageResponse:
    config = Imagine(cache_dir=str(tmp_path / "cache"), split_n=split)
    fields: dict[str, object] = {
        "prompt": PROMPT,
        "n": 2,
        "seed": 40,
        "width": 320,
        "height": 256,
        "steps": 3,
    }
    fields.update(options)
    if save:
        fields["save"] = str(tmp_path / "out")
    plan = build_plan(ImagineOptions(**fields), config=config)  # type: ignore[arg-type]
    return asyncio.run(generate(plan, config, source="python")).response


def test_captions_carry_each_images_own_facts(tmp_path: Path) -> None:
    response = make(tmp_path, guidance=6.5)
    lines = view.captions(response)
    share = response.provenance.cost / 2  # type: ignore[operator]
    for k, line in enumerate(lines):
        parts = line.split(" · ")
        assert parts[:6] == [f"#{k}", f"seed {40 + k}", "320x256", "3 steps", "g 6.5", "FLUX.2-dev"]
        assert (
            re.fullmatch(r"\d+\.\d\d s", parts[6]) and parts[7] == f"${share:.4f}" and parts[8] == "offline"
        )
    assert share == pytest.approx(models.estimate_cost(models.DEFAULT_MODEL, 320, 256, steps=3))


def test_one_request_with_n_says_k_of_n(tmp_path: Path) -> None:
    lines = view.captions(make(tmp_path, split=False))
    assert [line.split(" · ")[:2] for line in lines] == [["#0 of 2", "seed 40"], ["#1 of 2", "seed 40"]]


def test_cached_answers_say_so_and_cost_nothing(tmp_path: Path) -> None:
    make(tmp_path)
    again = make(tmp_path)
    assert all(" · cached · " in line and "$" not in line for line in view.captions(again))


def test_html_caption_escapes_wraps_between_facts_and_shortens_paths(tmp_path: Path) -> None:
    response = make(tmp_path, save=True)
    caption = view.caption_html(response, 1)
    assert "<b>" not in caption and html.escape(PROMPT, quote=True) in caption  # full prompt on hover
    facts = re.findall(r'<span style="white-space:nowrap">([^<]*)</span>', caption)
    assert facts[:3] == ["#1", "seed 41", "320x256"] and "FLUX.2-dev" in facts  # never "FLUX.2-" / "dev"
    saved = str(response.provenance.saved[1])
    assert f'title="{html.escape(saved, quote=True)}"' in caption
    shown = re.search(r"saved (…?[^<]*)</div>", caption)
    assert shown is not None and len(shown.group(1)) <= 40 and saved.endswith(shown.group(1).lstrip("…"))


def test_card_caption_is_narrow_and_complete_on_hover(tmp_path: Path) -> None:
    response = make(tmp_path)
    card = gallery.card_caption_html(response, 0)
    assert "#0" not in re.sub(r'title="[^"]*"', "", card)  # the card's place says which it is
    assert "seed 40" in card and "offline</span>" in card and "<b>" not in card
    title = re.search(r'title="([^"]*)"', card)
    assert title is not None and "seed 40 · 320x256" in html.unescape(title.group(1))


def test_grid_scrolls_sideways_instead_of_wrapping(tmp_path: Path) -> None:
    response = make(tmp_path, n=4)
    data, metadata = view.response_bundle(response)
    assert data["text/plain"].splitlines()[0] == "ImageResponse: 4 images"
    assert view.GRID_STYLE in data["text/html"] and "grid-auto-flow:column" in view.GRID_STYLE
    assert data["text/html"].count("<figure") == 4
    assert metadata["together_magic"]["seeds"] == [40, 41, 42, 43]


def test_compare_takes_responses_and_single_images(tmp_path: Path) -> None:
    response = make(tmp_path)
    table = gallery.compare({"both": response, "second only": response.data[1]}, max_side=128)
    data, _ = table._repr_mimebundle_()
    assert data["text/html"].count("<figure") == 3 and "<b>second only</b>" in data["text/html"]
    assert repr(table).splitlines()[1] == "second only: seed 41"


def test_previews_are_small_jpegs(tmp_path: Path) -> None:
    response = make(tmp_path, n=1, width=512, height=384, format="png")
    choice: ImageChoicesData = response.data[0]
    data, mime, width, height = view.preview(choice, 128)
    with Image.open(io.BytesIO(data)) as img:
        assert (mime, img.format, img.size, (width, height)) == ("image/jpeg", "JPEG", (128, 96), (128, 96))
    assert view.preview(choice, 128) is view.preview(choice, 128)  # computed once per size


def test_model_table_lists_the_catalogue_retired_last_with_status_and_source_date() -> None:
    rows = repr(gallery.list_models()).splitlines()
    assert len(rows) == len(models.MODELS) + 1  # and the dates
    retired = [" retired " in row for row in rows[:-1]]
    assert retired == sorted(retired) and sum(retired) == 13
    assert "black-forest-labs/FLUX.1-schnell  retired 2026-10-07, use black-forest-labs/FLUX.2-dev" in repr(
        gallery.list_models()
    )
    table = gallery.list_models()._repr_html_()
    assert models.PRICES_AS_OF in table and models.CATALOGUE_AS_OF in table and "source date" in table
    assert "$0.0154/image (third-party, 2026-10-08)" in table and "per image, not published" in table


def test_a_class_gateways_answers_wear_a_gateway_badge(tmp_path: Path) -> None:
    """Through a classroom gateway (a real one, before a real upstream) captions and cards say ``gateway``,
    as notebook 03 tells students, not ``custom``."""
    upstream = Server(["--require-key", SENTINEL])
    gateway = None
    try:
        gateway = Gateway(tmp_path / "class", ["--upstream", upstream.base_url])
        with Together(api_key=gateway.add("ada", images=2), base_url=gateway.root) as client:
            response = client.images.generate(
                prompt="a kite", model=models.DEFAULT_MODEL, seed=1, width=256, height=256
            )
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()
    assert view.captions(response)[0].split(" · ")[-1] == "gateway"
    card = gallery.card_caption_html(response, 0)
    assert f'<span style="{view.BADGE_STYLES["gateway"]}">gateway</span>' in card


_ASK = "prompt='a fox', model=MODEL, width=256, height=256, response_format='base64', seed=1"
MAKERS = {
    "the client wing's face": (
        f"from together_magic.client import Together\nr = Together().images.generate({_ASK})"
    ),
    "the clients module": (
        f"from together_magic.client.clients import Together\nr = Together().images.generate({_ASK})"
    ),
    "the package": f"import together_magic as tm\nr = tm.Together().images.generate({_ASK})",
    "the async client": (
        "import asyncio\nfrom together_magic.client import AsyncTogether\n"
        "async def make():\n    async with AsyncTogether() as client:\n"
        f"        return await client.images.generate({_ASK})\n"
        "r = asyncio.run(make())"
    ),
    "the type itself": (
        "import base64, io\nfrom PIL import Image\nfrom together_magic.types import ImageResponse\n"
        "out = io.BytesIO(); Image.new('RGB', (8, 8), 'red').save(out, format='PNG')\n"
        "body = {'data': [{'index': 0, 'b64_json': base64.b64encode(out.getvalue()).decode()}]}\n"
        "r = ImageResponse.model_validate(body)"
    ),
}


@pytest.mark.parametrize("made_by", list(MAKERS))
def test_every_way_of_making_a_response_gives_it_an_html_view(made_by: str) -> None:
    """A fresh interpreter imports only what that way of making a response imports: its view comes with
    the type, not from a module the user happened to import (or not) beforehand."""
    code = (
        f"MODEL = {models.DEFAULT_MODEL!r}\n{MAKERS[made_by]}\n"
        "data, meta = r._repr_mimebundle_()\n"
        "assert '<img' in data['text/html'], data\n"
        "assert data['text/plain'].startswith('ImageResponse: 1 image'), data\n"
        "import sys; print(sorted(m for m in sys.modules if m.startswith('together_magic.display')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"  # no display module was needed
