"""``--vary`` axes: how values are written, typed and checked, and how a value becomes a cell's options."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic import models
from together_magic.errors import OptionError
from together_magic.generation.line import parse_line, split_line
from together_magic.generation.options import ImagineOptions
from together_magic.sweeps.axes import Axis, axes_for, axis_names, make_axis, parse_axis

BASE = ImagineOptions(prompt="a red fox in the snow", seed=1)
LIMIT = 64


def axis(text: str, options: ImagineOptions = BASE, namespace: dict[str, Any] | None = None) -> Axis:
    return parse_axis(text, options, namespace=namespace if namespace is not None else {}, limit=LIMIT)


def refused(text: str, options: ImagineOptions = BASE, **kwargs: Any) -> str:
    with pytest.raises(OptionError) as caught:
        parse_axis(text, options, namespace=kwargs.pop("namespace", {}), limit=LIMIT, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--vary"), message
    return message


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("steps=4,8,16", (4, 8, 16)),
        ("steps = 4, 8 ,16", (4, 8, 16)),
        ("seed=1..4", (1, 2, 3, 4)),
        ("seed=4..1", (4, 3, 2, 1)),
        ("steps=4:28:8", (4, 12, 20, 28)),
        ("steps=28:4:-8", (28, 20, 12, 4)),
        ("steps=1..3,10", (1, 2, 3, 10)),
        ("guidance=1:7:1.5", (1.0, 2.5, 4.0, 5.5, 7.0)),
        ("guidance=0:1:0.1", tuple(round(k / 10, 10) for k in range(11))),
        ("cfg=1,3.5", (1.0, 3.5)),
        ("width=512,768", (512, 768)),
        ("size=512x512, 768X512", ("512x512", "768x512")),
        ("size=2K,1k 16:9", ("2K", "1K 16:9")),
        ("aspect_ratio=1:1,16:9", ("1:1", "16:9")),
        ("aspect-ratio=9:16", ("9:16",)),
        ('negative="",blurry,"text, watermark"', ("", "blurry", "text, watermark")),
        ('negative="say ""cheese"""', ('say "cheese"',)),
        ("format=jpg,png", ("jpeg", "png")),
        ("upsample=true,no", (True, False)),
        ("model=FLUX.2-dev,qwen-image", ("black-forest-labs/FLUX.2-dev", "Qwen/Qwen-Image")),
        ("model=acme/not-catalogued", ("acme/not-catalogued",)),
        ("prompt=fox,owl,cat", ("fox", "owl", "cat")),
        ("prompt:fox=owl,cat", ("owl", "cat")),
    ],
)
def test_values_are_read_and_typed(text: str, values: tuple[Any, ...]) -> None:
    found = axis(text)
    assert found.values == values
    assert [type(v) for v in found.values] == [type(v) for v in values]


def test_prompt_search_and_replace_is_a1111s() -> None:
    first = axis("prompt=fox,owl,cat")
    assert first.target == "fox" and first.title == "prompt: fox"  # the first value is the searched text
    assert first.apply(BASE, "owl").prompt == "a red owl in the snow"
    assert axis("prompt:snow=rain,fog").apply(BASE, "fog").prompt == "a red fox in the fog"


def test_interpolation_gives_real_lists() -> None:
    namespace = {"seeds": [3, 5, 8], "g": range(1, 4), "animals": ("owl", "cat"), "text": "4,8"}
    assert axis("seed={{ seeds }}", namespace=namespace).values == (3, 5, 8)
    assert axis("guidance={{ g }}", namespace=namespace).values == (1.0, 2.0, 3.0)
    assert axis("prompt:fox={{ animals }}", namespace=namespace).values == ("owl", "cat")
    assert axis("steps={{ text }}", namespace=namespace).values == (4, 8)  # text reads like typed values
    assert axis("steps={{ (n for n in (2, 4)) }}", namespace=namespace).values == (2, 4)
    assert axis("steps={{ 6 }}", namespace=namespace).values == (6,)
    assert axis("steps={{ seeds[0] }},10", namespace=namespace).values == (3, 10)  # mixed: filled as text


def test_the_line_keeps_vary_interpolation_for_the_sweep() -> None:
    namespace = {"seeds": [1, 2], "base": 7}
    tokens = split_line("--vary seed={{ seeds }} --vary='steps={{ seeds }}' -s {{ base }}", namespace)
    assert tokens == ["--vary", "seed={{ seeds }}", "--vary=steps={{ seeds }}", "-s", "7"]
    options = parse_line("--vary 'seed={{ seeds }}' --negative '{{ base }}'", "fox", namespace)
    assert options.vary == ("seed={{ seeds }}",) and options.negative == "7"
    literal = parse_line("--vary 'negative={{ base }}' --no-interpolate", "fox {{ x }}", namespace)
    with_literal = axis(literal.vary[0], literal.replace(interpolate=False))
    assert with_literal.values == ("{{ base }}",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("stepz=4,8", "unknown axis 'stepz'; did you mean steps?"),
        ("4,8", "expects AXIS=VALUES"),
        ("steps", "expects AXIS=VALUES (e.g. --vary steps=2,4,8), got 'steps'"),
        ("steps=", "--vary steps= has no values"),
        ("steps=a,b", "--vary steps: values must be whole numbers"),
        ("steps=4.5", "values must be whole numbers"),
        ("steps=1:7:1.5", "values must be whole numbers, got the range 1:7:1.5"),
        ("steps=4:28:-8", "4:28:-8 gives no values"),
        ("steps=4:28:0", "gives no values"),
        ("guidance=low", "--vary guidance: values must be numbers"),
        ("guidance=nan", "values must be numbers"),
        ("steps=4,4", "'4' is listed twice"),
        ("seed=1..1000", "makes 1000 images, more than Imagine.max_sweep_images (64); raise it with %config"),
        ("size=big", "values must look like WIDTHxHEIGHT"),
        ("aspect_ratio=5:4", "values must be among 1:1, 16:9"),
        ("format=gif", "values must be jpeg or png"),
        ("upsample=maybe", "values must be true or false"),
        ("model=flux-schnel", "unknown model 'flux-schnel'; did you mean"),
        ("prompt:owl=cat,dog", "'owl' does not occur in the prompt"),
        ("steps:3=4", "only prompt:WORD= and lora:N= take a ':' part"),
        ("lora=0.5", "give the LoRA with --lora PATH first"),
        ('negative="unclosed', "could not read the values"),
        ("steps={{ missing }}", "--vary steps={{ missing }} failed: NameError"),
        ("steps={{ }}", "empty {{ }}"),
        ("steps={{ iter(int, 1) }}", "makes more than 64 images"),
        ("steps={{ (1 / 0 for _ in [0]) }}", "reading the values failed: ZeroDivisionError"),
    ],
)
def test_mistakes_are_one_line_naming_vary(text: str, fragment: str) -> None:
    message = refused(text) if "prompt:owl" not in text else _checked(text)
    assert fragment in message, message


def _checked(text: str) -> str:
    with pytest.raises(OptionError) as caught:
        axis(text).check(BASE, [models.DEFAULT_MODEL])
    return str(caught.value)


def test_the_limit_advice_fits_the_front_end() -> None:
    assert "--max-images 100" in refused("seed=1..100", where="cli")
    assert "max_images=100" in refused("seed=1..100", where="python")
    assert "{{ }} needs a notebook namespace" in refused("seed={{ x }}", namespace=None)
    # --max-images 10**20 (the CLI takes any int): islice refused a stop above sys.maxsize
    huge = 10**20
    for values in ([1, 2], range(3), (s for s in (4, 5))):
        assert make_axis("seed", values, BASE, limit=huge).values[-1] in (2, 2, 5)
    assert parse_axis("seed=1..3", BASE, namespace={}, limit=huge).values == (1, 2, 3)


def test_an_axis_the_model_does_not_take_names_the_models_that_do() -> None:
    with pytest.raises(OptionError) as caught:
        axis("steps=4,8").check(BASE, ["black-forest-labs/FLUX.2-pro"])
    message = str(caught.value)
    assert message.startswith("--vary steps: black-forest-labs/FLUX.2-pro does not take steps")
    assert "models that do: black-forest-labs/FLUX.2-dev, black-forest-labs/FLUX.2-flex" in message
    axis("guidance=2,4").check(BASE, ["black-forest-labs/FLUX.2-dev"])  # as guidance_scale
    with pytest.raises(
        OptionError, match=r"does not take guidance_scale; models that do: black-forest-labs/FLUX\.2"
    ):
        axis("guidance=2,4").check(BASE, ["openai/gpt-image-2"])
    axis("steps=4,8").check(BASE, ["acme/unknown"])  # unknown ids are the API's to judge


def test_the_axes_a_model_can_take() -> None:
    assert axes_for("black-forest-labs/FLUX.2-pro") == [
        "seed",
        "width",
        "height",
        "size",
        "aspect_ratio",
        "model",
        "prompt",
        "format",
        "upsample",
    ]
    dev = axes_for("black-forest-labs/FLUX.2-dev")
    assert {"steps", "guidance"} <= set(dev) and not {"negative", "lora", "upsample"} & set(dev)
    assert "negative" in axes_for("black-forest-labs/FLUX.1.1-pro") and axes_for("acme/x") == axis_names()
    assert "lora" in axes_for("black-forest-labs/FLUX.1-dev-lora")  # retired: the only ones with LoRAs


def test_lora_axes_pick_their_lora() -> None:
    one = BASE.replace(loras=(("https://x/style.safetensors", 1.0),))
    assert one and axis("lora=0.3,0.9", one).apply(one, 0.3).loras == (("https://x/style.safetensors", 0.3),)
    two = BASE.replace(loras=(("a", 1.0), ("b", 1.0)))
    assert "two --lora" in refused("lora=0.5", two)
    second = axis("lora:2=0.2,0.4", two)
    assert second.apply(two, 0.4).loras == (("a", 1.0), ("b", 0.4)) and second.title == "LoRA 2 scale"
    assert axis("lora:a=0.5", two).target == "0"
    assert "no such --lora" in refused("lora:3=0.5", two)


def test_applying_size_axes_keeps_the_other_dimension() -> None:
    sized = BASE.replace(size="512x384")
    assert axis("width=256,320").apply(sized, 320) == sized.replace(size=None, width=320, height=384)
    assert axis("size=256x256").apply(BASE.replace(width=300), "256x256").width is None
    ratio = axis("aspect_ratio=16:9").apply(sized, "16:9")
    assert (ratio.aspect_ratio, ratio.size, ratio.width) == ("16:9", None, None)
    assert axis('negative="",blurry').apply(BASE.replace(negative="x"), "").negative is None


def test_python_values() -> None:
    assert make_axis("steps", [4.0, 8], BASE, limit=LIMIT).values == (4, 8)
    assert make_axis("guidance", range(1, 3), BASE, limit=LIMIT).values == (1.0, 2.0)
    assert make_axis("size", [(512, 384)], BASE, limit=LIMIT).values == ("512x384",)
    assert make_axis("negative", [None, "blurry"], BASE, limit=LIMIT).values == ("", "blurry")
    assert make_axis("steps", "4:12:4", BASE, limit=LIMIT).values == (4, 8, 12)
    for bad, fragment in [
        (("steps", [True]), "whole numbers"),
        (("model", [3]), "values must be text"),
        (("seed", range(10**9)), "makes 1000000000 images"),
        (("steps", []), "has no values"),
    ]:
        with pytest.raises(OptionError, match=fragment):
            make_axis(*bad, BASE, limit=LIMIT)


def test_lookup_by_value_and_by_short_model_name() -> None:
    models_axis = axis("model=FLUX.2-dev,Qwen/Qwen-Image")
    assert models_axis.index("Qwen-Image") == 1 and models_axis.index("black-forest-labs/FLUX.2-dev") == 0
    assert axis("guidance=1,3.5").index(3.5) == 1 and axis("steps=4,8").index(8.0) == 1
    with pytest.raises(KeyError, match="its values: 4, 8"):
        axis("steps=4,8").index(5)
    assert [models_axis.label(v) for v in models_axis.values] == ["FLUX.2-dev", "Qwen-Image"]
    assert axis('negative="",x').label("") == "(none)"


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        st.tuples(st.just("steps"), st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True)),
        st.tuples(
            st.just("guidance"),
            st.lists(
                st.floats(0, 30, allow_nan=False).map(lambda f: round(f, 3)),
                min_size=1,
                max_size=6,
                unique=True,
            ),
        ),
        st.tuples(st.just("negative"), st.lists(texts, min_size=1, max_size=5, unique=True)),
    )
)
def test_tokens_read_back_as_the_same_axis(case: tuple[str, list[Any]]) -> None:
    """What copy-as-code and the sheet's record write reads back as exactly the same values."""
    name, values = case
    try:
        original = make_axis(name, values, BASE, limit=LIMIT)
    except OptionError:  # e.g. 1.0 and 1 are one value
        return
    again = axis(original.token())
    assert again.values == original.values
    assert all(type(a) is type(b) for a, b in zip(again.values, original.values, strict=True))
    assert not list(itertools.islice(iter(original.token().splitlines()), 1, None))
