"""``build_plan``: options + configuration + the catalogue -> checked requests and what to do with them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from together_magic import models
from together_magic.config import Imagine
from together_magic.errors import OptionError
from together_magic.generation.options import ImagineOptions
from together_magic.generation.plan import build_plan
from together_magic.generation.saving import recipe_for
from together_magic.imagefiles.metadata import embed
from together_magic.types import ImageChoicesData

from .test_saving import png

SCHNELL = "black-forest-labs/FLUX.1-schnell"


def test_defaults_come_from_the_configuration_and_only_if_the_model_takes_them() -> None:
    config = Imagine(size="768x512", steps=6, guidance=2.0, n=2)
    plan = build_plan(ImagineOptions(prompt="a fox", seed=3), config=config)
    body = plan.request.payload()
    assert (body["width"], body["height"], body["steps"], body["guidance_scale"], body["n"]) == (
        768,
        512,
        6,
        2.0,
        2,
    )
    imagen = build_plan(ImagineOptions(prompt="a fox", seed=3, model="google/imagen-4.0-fast"), config=config)
    assert "steps" not in imagen.request.payload() and "guidance_scale" not in imagen.request.payload()
    flux2 = build_plan(
        ImagineOptions(prompt="a fox", seed=3, model="black-forest-labs/FLUX.2-dev", size="1024x1024"),
        config=config,
    )
    assert flux2.request.payload()["guidance"] == 2.0  # FLUX.2 dev spells it "guidance"


def test_configured_steps_above_a_models_range_are_capped_not_refused() -> None:
    plan = build_plan(ImagineOptions(prompt="a fox", seed=1), config=Imagine(steps=40))
    assert plan.request.payload()["steps"] == 12  # FLUX.1 schnell's top


def test_split_parts_have_consecutive_seeds_and_wrap_at_the_top() -> None:
    top = models.SEED_RANGE[1]
    plan = build_plan(ImagineOptions(prompt="a fox", n=3, seed=top - 1), config=Imagine())
    assert [p.seed for p in plan.parts] == [top - 1, top, 0] and all(p.n == 1 for p in plan.parts)
    raw = build_plan(ImagineOptions(prompt="a fox", n=3, seed=5), config=Imagine(split_n=False))
    assert raw.parts == (raw.request,) and raw.request.n == 3


def test_drawn_seeds_are_readable_and_come_from_the_rng() -> None:
    plan = build_plan(ImagineOptions(prompt="a fox"), config=Imagine(), rng=random.Random(4))
    low, high = models.DRAWN_SEED_RANGE
    assert plan.request.seed is not None and low <= plan.request.seed <= high
    again = build_plan(ImagineOptions(prompt="a fox"), config=Imagine(), rng=random.Random(4))
    assert again.request.seed == plan.request.seed


def test_aspect_ratio_presets_and_explicit_sizes() -> None:
    kontext = build_plan(
        ImagineOptions(prompt="x", seed=1, model="black-forest-labs/FLUX.1-kontext-pro", aspect_ratio="3:2"),
        config=Imagine(),
    )
    assert kontext.request.width is None and kontext.request.payload()["aspect_ratio"] == "3:2"
    gemini = build_plan(
        ImagineOptions(prompt="x", seed=1, model="google/gemini-3-pro-image", size="2K", aspect_ratio="16:9"),
        config=Imagine(),
    )
    assert (gemini.request.width, gemini.request.height) == (2752, 1536)
    half = build_plan(
        ImagineOptions(
            prompt="x", seed=1, width=1024, aspect_ratio="16:9", model="black-forest-labs/FLUX.2-pro"
        ),
        config=Imagine(),
    )
    assert (half.request.width, half.request.height) == (1024, 576)
    with pytest.raises(OptionError, match="preset sizes are for models such as google/gemini-3-pro-image"):
        build_plan(ImagineOptions(prompt="x", size="2K"), config=Imagine())


def test_unknown_models_pass_through_unchecked() -> None:
    plan = build_plan(
        ImagineOptions(prompt="x", seed=1, model="someone/new-model", steps=200, image="https://x/y.png"),
        config=Imagine(),
    )
    body = plan.request.payload()
    assert body["steps"] == 200 and body["image_url"] == "https://x/y.png" and plan.cost is None


def test_from_a_saved_image_then_override(tmp_path: Path) -> None:
    saved = tmp_path / "saved.png"
    stored = {
        "prompt": "a lighthouse",
        "model": SCHNELL,
        "seed": 77,
        "n": 1,
        "width": 512,
        "height": 384,
        "steps": 3,
    }
    saved.write_bytes(embed(png(), {"request": stored, "index": 0}))
    plan = build_plan(ImagineOptions(from_path=str(saved)), config=Imagine(size="256x256", steps=9))
    assert {k: plan.request.payload()[k] for k in stored} == stored  # the file wins over the configuration
    changed = build_plan(ImagineOptions(from_path=str(saved), seed=78, prompt="a castle"), config=Imagine())
    assert (changed.request.seed, changed.request.prompt, changed.request.width) == (78, "a castle", 512)


def test_cost_estimate_and_handling() -> None:
    plan = build_plan(
        ImagineOptions(prompt="x", seed=1, n=2, save="~/out", display=False, cache=False), config=Imagine()
    )
    assert plan.cost == pytest.approx(2 * 0.0027)
    assert plan.save == Path("~/out").expanduser() and not plan.display and not plan.cache
    steps = build_plan(ImagineOptions(prompt="x", seed=1, steps=8), config=Imagine())
    assert steps.cost == pytest.approx(0.0027 * 2)  # twice the default steps, twice the price


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "   "}, "the prompt is empty"),
        ({"prompt": "x" * (models.PROMPT_MAX + 1)}, "at most 10,000 are accepted"),
        ({"n": 9}, "--n must be between 1 and 4"),
        ({"seed": -1}, "--seed must be between 0 and 4294967295"),
        ({"guidance": 31.0}, "--guidance must be between 0 and 30"),
        ({"model": "google/imagen-4.0-fast", "guidance": 3.0}, "does not take guidance_scale"),
        ({"model": "google/imagen-4.0-fast", "format": "png"}, "does not take output_format"),
        ({"upsample": True}, "does not take prompt_upsampling"),
        (
            {"references": ("x.png",)},
            "--reference: black-forest-labs/FLUX.1-schnell does not take reference_images",
        ),
        ({"params": (("width", "wide"),)}, "--width: Input should be a valid integer"),
    ],
)
def test_mistakes_are_one_line_naming_the_option(fields: dict[str, object], message: str) -> None:
    options = ImagineOptions(**{"prompt": "a fox", **fields})
    with pytest.raises(OptionError) as caught:
        build_plan(options, config=Imagine())
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("model", "flag", "field"),
    [("black-forest-labs/FLUX.1-kontext-pro", "--image", "image_url"),
     ("google/flash-image-2.5", "--reference", "reference_images")],
)  # fmt: skip
def test_from_a_saved_edit_asks_for_its_input_image_again(
    tmp_path: Path, model: str, flag: str, field: str
) -> None:
    """The file leaves a data: URL input out; --from must not send a text-to-image request in its place."""
    source = tmp_path / "fox.png"
    Image.effect_noise((96, 96), 60).convert("RGB").save(source)  # noise: too big to keep inline
    given = {"image": str(source)} if flag == "--image" else {"references": (str(source),)}
    edit = build_plan(ImagineOptions(prompt="make it night", model=model, seed=5, **given), config=Imagine())
    assert edit.request.payload()[field]  # the edit really sent its input
    saved = tmp_path / "night.png"
    saved.write_bytes(embed(png(), recipe_for(ImageChoicesData(index=0, b64_json="x"), edit.request)))
    with pytest.raises(OptionError) as refused:
        build_plan(ImagineOptions(from_path=str(saved)), config=Imagine())
    assert str(refused.value) == (
        "--from: night.png was made from an uploaded image, which the file does not hold; "
        f"give it again with {flag} PATH"
    )
    again = build_plan(ImagineOptions(from_path=str(saved), **given), config=Imagine())
    assert again.request.payload() == edit.request.payload()  # the same edit, input and all


def test_from_a_saved_edit_with_both_inputs_asks_for_each(tmp_path: Path) -> None:
    """FLUX.2 flex takes an image to edit and references: --image alone must not drop the references."""
    source, extra = tmp_path / "fox.png", tmp_path / "cat.png"
    for path, seed in ((source, 60), (extra, 90)):
        Image.effect_noise((96, 96), seed).convert("RGB").save(path)
    both = {"image": str(source), "references": (str(extra),)}
    flex = "black-forest-labs/FLUX.2-flex"
    edit = build_plan(ImagineOptions(prompt="combine", model=flex, seed=5, **both), config=Imagine())
    assert {"image_url", "reference_images"} <= set(edit.request.payload())
    saved = tmp_path / "combined.png"
    saved.write_bytes(embed(png(), recipe_for(ImageChoicesData(index=0, b64_json="x"), edit.request)))
    for given, flag in (
        ({}, "--image"),
        ({"image": str(source)}, "--reference"),
        ({"references": (str(extra),)}, "--image"),
    ):
        with pytest.raises(OptionError, match=f"give it again with {flag} PATH$"):
            build_plan(ImagineOptions(from_path=str(saved), **given), config=Imagine())
    again = build_plan(ImagineOptions(from_path=str(saved), **both), config=Imagine())
    assert again.request.payload() == edit.request.payload()
