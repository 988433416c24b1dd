"""Each limit is defined once (the models wing): the magic's checks, the offline backend and the panel's boxes
agree
for every model.

Nothing here re-types a number: the expected ranges are read from the catalogue, and each side is asked
the same out-of-range question; both must answer with the same bounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from together_magic import Together, models
from together_magic.config import Imagine
from together_magic.errors import BadRequestError, OptionError
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.widgets.form import model_choices
from together_magic.widgets.panel import ImaginePanel

from .panel_helpers import make, shell

__all__ = ["shell"]  # the fixture, used by name

SPECS = list(models.MODELS.values())


@pytest.fixture(scope="module")
def client() -> Iterator[Together]:
    with Together(base_url="offline", announce_offline=False, max_retries=0) as made:
        yield made


def small_size(spec: models.ModelSpec) -> tuple[int, int]:
    if spec.limits.presets:
        _, w, h = spec.limits.presets[0]
        return w, h
    low = spec.limits.size[0]
    return low, low


def magic_error(spec: models.ModelSpec, line: str) -> str:
    w, h = small_size(spec)
    size = "" if "-W" in line or "-H" in line else f"-W {w} -H {h}"
    with pytest.raises(OptionError) as caught:
        build_plan(parse_line(f"-m {spec.id} {size} --seed 1 {line}", "a fox", {}), config=Imagine())
    return str(caught.value)


def backend_error(client: Together, spec: models.ModelSpec, **fields: object) -> str:
    w, h = small_size(spec)
    body: dict[str, object] = {"width": w, "height": h, "seed": 1, **fields}
    with pytest.raises(BadRequestError) as caught:
        client.images.generate(prompt="a fox", model=spec.id, **body)  # type: ignore[arg-type]
    return caught.value.message


def bounds(text: str) -> tuple[str, str]:
    found = re.search(r"between (\d+) and (\d+)", text)
    assert found, text
    return found.group(1), found.group(2)


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_magic_and_backend_agree_on_n(client: Together, spec: models.ModelSpec) -> None:
    top = spec.limits.n[1]
    expected = (str(spec.limits.n[0]), str(top))
    assert bounds(magic_error(spec, f"-n {top + 1}")) == expected
    assert bounds(backend_error(client, spec, n=top + 1)) == expected


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.limits.presets], ids=lambda s: s.id)
def test_magic_and_backend_agree_on_sizes(client: Together, spec: models.ModelSpec) -> None:
    low, high = spec.limits.size
    expected = (str(low), str(high))
    magic = magic_error(spec, f"-W {high + spec.limits.multiple}")
    backend = backend_error(client, spec, width=high + spec.limits.multiple)
    assert bounds(magic) == bounds(backend) == expected
    assert (
        f"multiple of {spec.limits.multiple}" in magic and f"multiples of '{spec.limits.multiple}'" in backend
    )


@pytest.mark.parametrize("spec", [s for s in SPECS if s.limits.presets], ids=lambda s: s.id)
def test_preset_sizes_are_the_same_list(client: Together, spec: models.ModelSpec) -> None:
    magic = magic_error(spec, "-W 1000 -H 1000")
    backend = backend_error(client, spec, width=1000, height=1000)
    catalogue = {f"{w}x{h}" for _, w, h in spec.limits.presets}
    said_magic = set(re.findall(r"\d+x\d+", magic)) - {"1000x1000"}
    said_backend = set(re.findall(r"\d+x\d+", backend))
    # both name sizes from the one preset list (each in its own words), and both name the 1K square
    assert said_magic and said_backend and said_magic <= catalogue and said_backend <= catalogue
    assert "1024x1024" in said_magic & said_backend


@pytest.mark.parametrize("spec", [s for s in SPECS if s.limits.steps], ids=lambda s: s.id)
def test_magic_and_backend_agree_on_steps(client: Together, spec: models.ModelSpec) -> None:
    assert spec.limits.steps is not None
    low, high = spec.limits.steps
    assert bounds(magic_error(spec, f"--steps {high + 1}")) == (str(low), str(high))
    assert bounds(backend_error(client, spec, steps=high + 1)) == (str(low), str(high))


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_image_inputs_refused_alike(client: Together, spec: models.ModelSpec) -> None:
    """An image input the model does not take: the magic names it before sending; the backend says 400."""
    options = {
        "image_url": "--image x.png",
        "reference_images": "--reference x.png",
        "image_loras": "--lora a",
    }
    values: dict[str, object] = {
        "image_url": "data:image/png;base64,AAAA",
        "reference_images": ["data:image/png;base64,AAAA"],
        "image_loras": [{"path": "a", "scale": 1}],
    }
    for field in models.IMAGE_INPUTS:
        if spec.takes(field):
            continue
        if field == "image_url" and spec.takes("reference_images"):
            continue  # --image goes to reference_images for such models
        assert "take" in magic_error(spec, options[field]), (spec.id, field)
        assert backend_error(client, spec, **{field: values[field]}).startswith(
            f"Unsupported use of '{field}'"
        )


def _distinctive_limits() -> dict[int, str]:
    """Every number of the catalogue's public constants that is too specific to be a coincidence elsewhere."""
    found: dict[int, str] = {}
    for name in models.__all__:
        value = getattr(models, name)
        numbers = value if isinstance(value, tuple) else (value,)
        for number in numbers:
            if type(number) is int and number >= 10_000:
                found[number] = name
    return found


def test_no_module_retypes_a_catalogue_number() -> None:
    """A limit written out again drifts (``MAX_REFERENCE_BYTES`` lived in references.py and offline/images.py
    both): every module must import it from the models wing instead."""
    import ast
    from pathlib import Path

    import together_magic

    limits = _distinctive_limits()
    assert {"PROMPT_MAX", "SEED_RANGE", "MAX_REFERENCE_BYTES"} <= set(limits.values())
    package = Path(together_magic.__file__).parent
    retyped = []
    for path in sorted(package.rglob("*.py")):
        if path.parent == package / "models":  # the catalogue itself
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in limits:
                where = f"{path.relative_to(package)}:{node.lineno}"
                retyped.append(f"{where} re-types {limits[node.value]} ({node.value})")
    assert not retyped, retyped


GUIDED = [s for s in SPECS if s.takes("guidance_scale")]


@pytest.mark.parametrize("spec", GUIDED, ids=[s.id for s in GUIDED])
def test_magic_and_backend_agree_on_guidance(client: Together, spec: models.ModelSpec) -> None:
    field = "guidance_scale"  # every model's spelling now (FLUX.2 dev/flex included)
    low, high = spec.limits.guidance
    expected = (f"{low:g}", f"{high:g}")
    assert bounds(magic_error(spec, f"-g {high + 1:g}")) == expected
    assert bounds(backend_error(client, spec, **{field: high + 1})) == expected


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_the_panel_offers_the_ranges_the_magic_enforces(
    shell: InteractiveShell, spec: models.ModelSpec
) -> None:
    """The panel's boxes hold exactly the bounds the magic (and so the backend, above) reports."""
    panel: ImaginePanel = make(shell)
    if spec.retired:  # offered only as the current choice (a loaded image, Imagine.model)
        panel.model.options = model_choices(spec.id)
    panel.model.value = spec.id
    assert (str(panel.n.min), str(panel.n.max)) == bounds(magic_error(spec, f"-n {spec.limits.n[1] + 1}"))
    if spec in GUIDED:
        said = bounds(magic_error(spec, f"-g {spec.limits.guidance[1] + 1:g}"))
        assert (f"{panel.guidance.min:g}", f"{panel.guidance.max:g}") == said, spec.id
    if spec.limits.steps:
        top = spec.limits.steps[1]
        assert str(panel.steps.max) == bounds(magic_error(spec, f"--steps {top + 1}"))[1]  # 0 = default
    if not spec.limits.presets:
        said = bounds(magic_error(spec, f"-W {spec.limits.size[1] + spec.limits.multiple}"))
        for box in (panel.width, panel.height):
            assert (str(box.min), str(box.max)) == said and box.step == spec.limits.multiple, spec.id
