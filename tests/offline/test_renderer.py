"""The procedural renderer: deterministic, and its pictures follow what each parameter does."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from together_magic.models import MODELS
from together_magic.offline.renderer import RenderSpec, encode, render, scene_words

BASE = RenderSpec(
    prompt="a red fox in a snowy forest", model="m", width=320, height=320, steps=4, default_steps=4, seed=42
)


def sharpness(img: Image.Image) -> float:
    """Mean high-frequency energy: blurred pictures score low, detailed ones high."""
    return float(ImageStat.Stat(img.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0])


def saturation(img: Image.Image) -> float:
    return float(ImageStat.Stat(img.convert("HSV").getchannel("S")).mean[0])


def differs(a: Image.Image, b: Image.Image) -> float:
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean))


def test_same_spec_same_bytes_other_seed_other_picture() -> None:
    assert encode(render(BASE), "jpeg") == encode(render(BASE), "jpeg")
    assert encode(render(BASE), "png") == encode(render(BASE), "png")
    assert differs(render(BASE), render(replace(BASE, seed=43))) > 5


def test_exact_size_and_real_encodings() -> None:
    spec = replace(BASE, width=512, height=256)
    img = render(spec)
    assert img.size == (512, 256) and img.mode == "RGB"
    with Image.open(io.BytesIO(encode(img, "png"))) as png:
        assert png.format == "PNG" and png.size == (512, 256)


def test_few_steps_look_soft_many_look_refined() -> None:
    """Denoising: one step is soft blobs, the default sharp, more add little (test_knobs measures it)."""
    soft = sharpness(render(replace(BASE, steps=1)))
    default = sharpness(render(BASE))
    refined = sharpness(render(replace(BASE, steps=12)))
    assert soft < default <= refined


def test_guidance_goes_from_muted_to_vivid() -> None:
    low = saturation(render(replace(BASE, guidance=1.0)))
    mid = saturation(render(replace(BASE, guidance=3.5)))
    high = saturation(render(replace(BASE, guidance=10.0)))
    assert low < mid < high


def test_colours_in_the_prompt_show() -> None:
    red = ImageStat.Stat(render(replace(BASE, prompt="a red abstract painting"))).mean
    blue = ImageStat.Stat(render(replace(BASE, prompt="a blue abstract painting"))).mean
    assert red[0] > red[2] and blue[2] > blue[0]


def test_scene_words_and_negative_prompt() -> None:
    features, palette = scene_words("sunny beach by the sea with clouds and a red kite")
    assert {"sun", "sea", "cloud"} <= features and palette == [(205, 40, 40)]
    features, _ = scene_words("sunny beach by the sea with clouds", "sun, clouds")
    assert "sun" not in features and "cloud" not in features and "sea" in features
    assert scene_words("night city")[0] >= {"night", "moon", "city"}
    _, palette = scene_words("red and blue", "red")
    assert palette == [(45, 95, 210)]


def test_negative_prompt_changes_the_picture_where_the_sun_was() -> None:
    sunny = replace(BASE, prompt="a sunny day over the sea")
    without = replace(sunny, negative_prompt="sun")
    a, b = render(sunny), render(without)
    assert differs(a, b) > 0.5
    # the brightest part of the sky is the sun; without it the sky's peak brightness drops
    top = (0, 0, a.width, a.height // 2)
    assert (
        ImageStat.Stat(a.crop(top).convert("L")).extrema[0][1]
        > ImageStat.Stat(b.crop(top).convert("L")).extrema[0][1]
    )


def solid(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (40, 30), colour)


def mean(img: Image.Image) -> list[float]:
    return list(ImageStat.Stat(img).mean)


def test_the_image_to_edit_is_blended_in_strongly() -> None:
    plain = mean(render(BASE))
    edited = mean(render(replace(BASE, edits=(solid((0, 255, 0)),))))
    guided = mean(render(replace(BASE, references=(solid((0, 255, 0)),))))
    assert edited[1] > guided[1] + 10 and guided[1] > plain[1] + 40


def test_every_reference_image_counts() -> None:
    red, blue = solid((255, 0, 0)), solid((0, 0, 255))
    only_red = mean(render(replace(BASE, references=(red,))))
    both = mean(render(replace(BASE, references=(red, blue))))
    reordered = mean(render(replace(BASE, references=(blue, red))))
    assert both[2] > only_red[2] + 30 and both[0] < only_red[0] - 30
    assert max(abs(a - b) for a, b in zip(both, reordered, strict=True)) < 2  # each weighs alike
    many = (*(solid((0, 0, 255)) for _ in range(9)), red)
    tenth = mean(render(replace(BASE, references=many)))
    assert tenth[0] > mean(render(replace(BASE, references=many[:9])))[0] + 3  # the last of ten shows too


def test_a_lora_restyles_in_proportion_to_its_scale_and_by_its_path() -> None:
    plain = render(BASE)
    path = "https://huggingface.co/some/lora"

    def with_lora(scale: float, lora_path: str = path) -> Image.Image:
        return render(replace(BASE, loras=((lora_path, scale),)))

    strengths = [differs(plain, with_lora(scale)) for scale in (0.5, 1.0, 2.0)]
    assert 2 < strengths[0] < strengths[1] < strengths[2]
    assert abs(strengths[1] / strengths[0] - 2) < 0.3  # proportional: twice the scale, twice the change
    assert differs(plain, with_lora(0.0)) == 0
    assert encode(with_lora(1.0), "png") == encode(with_lora(1.0), "png")
    looks = {encode(with_lora(1.0, f"user/lora-{i}"), "png") for i in range(8)}
    assert len(looks) == 8
    two = render(replace(BASE, loras=((path, 1.0), ("other/lora", 1.0))))
    assert differs(two, with_lora(1.0)) > 2


def test_prompt_upsampling_adds_modest_detail() -> None:
    plain = render(BASE)
    upsampled = render(replace(BASE, upsample=True))
    assert sharpness(upsampled) > sharpness(plain)
    assert 0.5 < differs(plain, upsampled) < 40


def test_gemini_presets_render_at_their_exact_size() -> None:
    sizes = [(w, h) for _, w, h in MODELS["google/gemini-3-pro-image"].limits.presets]
    for size in {max(sizes), max(sizes, key=lambda s: s[0] * s[1]), min(sizes)}:
        assert render(replace(BASE, width=size[0], height=size[1])).size == size


@pytest.mark.parametrize(
    "prompt", ["", "🦊🦊", "sky", "night", "a" * 5000, "mountain lake forest city snow rain desert meadow"]
)
def test_any_prompt_renders(prompt: str) -> None:
    assert render(replace(BASE, prompt=prompt, width=256, height=512)).size == (256, 512)
