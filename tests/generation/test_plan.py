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

DEV = models.DEFAULT_MODEL  # FLUX.2 [dev]
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"


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
    gpt = build_plan(ImagineOptions(prompt="a fox", seed=3, model="openai/gpt-image-2"), config=config)
    assert "steps" not in gpt.request.payload() and "guidance_scale" not in gpt.request.payload()
    flex = build_plan(
        ImagineOptions(prompt="a fox", seed=3, model="black-forest-labs/FLUX.2-flex", guidance=4.0),
        config=config,
    )
    body = flex.request.payload()
    assert body["guidance_scale"] == 4.0 and "guidance" not in body  # the 2026-10 field on FLUX.2 dev/flex


def test_configured_steps_above_a_models_range_are_capped_not_refused() -> None:
    plan = build_plan(ImagineOptions(prompt="a fox", seed=1), config=Imagine(steps=60))
    assert plan.request.payload()["steps"] == 50  # FLUX.2 [dev]'s top


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
    assert (gemini.request.width, gemini.request.height) == (2688, 1536)  # Together's 2K 16:9
    half = build_plan(
        ImagineOptions(
            prompt="x", seed=1, width=1024, aspect_ratio="16:9", model="black-forest-labs/FLUX.2-pro"
        ),
        config=Imagine(),
    )
    assert (half.request.width, half.request.height) == (1024, 576)
    with pytest.raises(OptionError, match="preset sizes are for models such as google/gemini-3-pro-image"):
        build_plan(ImagineOptions(prompt="x", size="2K"), config=Imagine())
    ratio = build_plan(ImagineOptions(prompt="x", seed=1, aspect_ratio="16:9"), config=Imagine())
    assert (ratio.request.width, ratio.request.height) == (1344, 768)  # the standard size, for FLUX.2 dev


def test_kontext_takes_exactly_its_five_aspect_ratios() -> None:
    for ratio in ("1:1", "16:9", "9:16", "4:3", "3:2"):
        plan = build_plan(
            ImagineOptions(prompt="x", seed=1, model=KONTEXT, aspect_ratio=ratio), config=Imagine()
        )
        assert plan.request.payload()["aspect_ratio"] == ratio
    for ratio in ("2:3", "3:4", "21:9"):
        with pytest.raises(OptionError) as caught:
            build_plan(ImagineOptions(prompt="x", model=KONTEXT, aspect_ratio=ratio), config=Imagine())
        assert str(caught.value) == (
            f"--aspect-ratio must be one of 1:1, 16:9, 9:16, 4:3, 3:2 for {KONTEXT}, got {ratio!r}"
        )


@pytest.mark.parametrize(
    ("size", "tries"),
    [("1000x1000", "1024x1024 or 2048x2048"), ("1280x720", "1344x768 or 2688x1536"),
     ("300x900", "768x1344 or 1536x2688")],
)  # fmt: skip
def test_gemini_sizes_outside_its_table_suggest_only_sizes_it_takes(size: str, tries: str) -> None:
    gemini = models.MODELS["google/gemini-3-pro-image"]
    taken = {f"{w}x{h}" for _, w, h in gemini.limits.presets}
    with pytest.raises(OptionError) as caught:
        build_plan(ImagineOptions(prompt="x", model=gemini.id, size=size), config=Imagine())
    message = str(caught.value)
    assert f"try {tries}," in message and "its 30 sizes (1K/2K/4K)" in message
    import re

    assert set(re.findall(r"\d+x\d+", message)) - {size} <= taken


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
        "model": DEV,
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
    assert plan.cost == pytest.approx(2 * 0.0154)  # FLUX.2 [dev] bills per image (third-party figure)
    assert plan.save == Path("~/out").expanduser() and not plan.display and not plan.cache
    steps = build_plan(ImagineOptions(prompt="x", seed=1, steps=40), config=Imagine())
    assert steps.cost == pytest.approx(0.0154)  # per image: steps do not change it
    kontext = build_plan(ImagineOptions(prompt="x", seed=1, model=KONTEXT, steps=42), config=Imagine())
    assert kontext.cost == pytest.approx(
        1024 * 1024 / 1e6 * 0.04 * 1.5, abs=1e-6
    )  # per MP, 1.5x the default steps
    unknown = build_plan(ImagineOptions(prompt="x", seed=1, model="openai/gpt-image-2"), config=Imagine())
    assert unknown.cost is None  # no published price: no guess


def test_strict_asks_again_for_a_retired_model_rather_than_the_cache() -> None:
    retired = ImagineOptions(prompt="x", seed=1, model="black-forest-labs/FLUX.1-schnell")
    assert build_plan(retired, config=Imagine()).cache
    assert not build_plan(retired, config=Imagine(strict=True)).cache
    assert build_plan(ImagineOptions(prompt="x", seed=1), config=Imagine(strict=True)).cache


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "   "}, "the prompt is empty"),
        ({"prompt": "x" * (models.PROMPT_MAX + 1)}, "at most 10,000 are accepted"),
        ({"n": 9}, "--n must be between 1 and 4"),
        ({"seed": -1}, "--seed must be between 0 and 4294967295"),
        ({"guidance": 31.0}, "--guidance must be between 0 and 30"),
        ({"model": "openai/gpt-image-2", "guidance": 3.0}, "does not take guidance_scale"),
        ({"model": "openai/gpt-image-2", "format": "png"}, "does not take output_format"),
        ({"model": "openai/gpt-image-2", "steps": 4}, "does not take steps"),
        (
            {"upsample": True},
            "--upsample: black-forest-labs/FLUX.2-dev does not take prompt_upsampling; models that do: "
            "black-forest-labs/FLUX.2-pro",
        ),
        (
            {"negative": "blur"},
            "--negative: black-forest-labs/FLUX.2-dev does not take negative_prompt; models that do: "
            "black-forest-labs/FLUX.1.1-pro",
        ),
        ({"loras": (("a/lora", 0.8),)}, "--lora: LoRA image generation is no longer available"),
        ({"loras": (("a/lora", 0.8),)}, "takes none, drop --lora"),
        (
            {"references": ("x.png",), "model": "openai/gpt-image-2"},
            "--reference: openai/gpt-image-2 does not take reference_images",
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
