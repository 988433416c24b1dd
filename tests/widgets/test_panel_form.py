"""The panel's form: per-model controls, sizes, references, settings from an image, hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from together_magic import models
from together_magic.widgets.form import model_choices

from ..panel_helpers import card_parts, generate, make, png, shell, upload

__all__ = ["shell"]

pytestmark = pytest.mark.anyio


async def test_reference_upload_label_never_goes_stale(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    assert panel.reference_row.layout.display == ""
    upload(panel.upload, png((0, 200, 0)), "ref.png")
    assert "upload ref.png" in panel.reference_label.value and panel.upload.value == ()
    assert "panel_reference" not in shell.user_ns
    await generate(panel)
    assert panel.last.request.model_extra["image_url"].startswith("data:image/png;base64,")
    card_parts(panel)["buttons"]["Use as reference"].click()
    assert "gallery image" in panel.reference_label.value and "ref.png" not in panel.reference_label.value
    panel.clear_reference.click()
    assert not panel.reference_label.value and panel.upload.value == ()  # nothing to say, nothing said
    await generate(panel)
    assert "image_url" not in (panel.last.request.model_extra or {})


async def test_controls_follow_the_chosen_model(shell: InteractiveShell) -> None:
    panel = make(shell)
    for spec in models.MODELS.values():
        if spec.retired:  # offered as the current choice only (Imagine.model, a loaded image)
            panel.model.options = model_choices(spec.id)
        panel.model.value = spec.id

        def shown(widget: Any) -> bool:
            return bool(widget.layout.display != "none")

        assert shown(panel.steps_row) == spec.takes("steps"), spec.id
        assert shown(panel.guidance) == spec.takes("guidance_scale"), spec.id
        if spec.takes("guidance_scale"):
            assert panel.guidance.value == spec.limits.default_guidance  # FLUX.2 dev/flex: 3
        assert shown(panel.model_note) == spec.retired, spec.id
        if spec.retired:
            assert f"use {spec.replacement} instead" in panel.model_note.value
        assert shown(panel.negative) == spec.takes("negative_prompt"), spec.id
        assert shown(panel.reference_row) == (spec.takes("image_url") or spec.takes("reference_images"))
        aspects = [value for _, value in panel.preset.options if value.startswith("aspect ")]
        assert aspects == [f"aspect {r}" for r in spec.limits.aspect_ratios if spec.takes("aspect_ratio")]
        assert shown(panel.loras) == (spec.limits.loras > 0), spec.id
        assert shown(panel.upsample) == spec.takes("prompt_upsampling"), spec.id
        custom = panel.preset.value == "custom"  # width and height show for a custom size only
        assert shown(panel.size_row) == (not spec.limits.presets and custom), spec.id
        assert (panel.width.min, panel.width.max, panel.width.step) == (
            *spec.limits.size,
            spec.limits.multiple,
        )
        assert panel.n.max == spec.limits.n[1]
        if spec.limits.steps:
            assert panel.steps.max == spec.limits.steps[1]
            assert f"({spec.limits.default_steps})" in panel.steps_hint.value  # "0 = the model's default (4)"
        options = panel.options()
        if not spec.takes("steps"):
            assert options.steps is None
        if spec.limits.presets:  # preset-only models get a preset, never a free size
            assert (options.width, options.height) in {(w, h) for _, w, h in spec.limits.presets}


async def test_model_list_is_the_listed_catalogue_grouped_by_maker() -> None:
    choices = model_choices()
    assert sorted(value for _, value in choices) == sorted(models.listed_ids())  # never a retired model
    makers = [models.MODELS[value].maker for _, value in choices]
    assert makers == sorted(makers, key=makers.index)  # each maker's models together
    assert model_choices("acme/new-model")[0] == ("acme/new-model (not in the catalogue)", "acme/new-model")
    schnell = "black-forest-labs/FLUX.1-schnell"
    assert model_choices(schnell)[0] == (
        "FLUX.1 [schnell] · Black Forest Labs (retired: use FLUX.2 [dev])",
        schnell,
    )
    assert model_choices(models.DEFAULT_MODEL) == choices


async def test_lora_and_aspect_ratio_reach_the_request(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.model.value = "black-forest-labs/FLUX.2-dev"
    assert panel.loras.layout.display == "none"  # LoRAs are deprecated: no listed model takes them
    panel.loras.value = "https://example.com/lora.safetensors:0.7"
    await generate(panel)
    assert "image_loras" not in (panel.last.request.model_extra or {})
    old = "black-forest-labs/FLUX.1-dev-lora"  # a retired model loaded from an old image still has them
    panel.apply_request({"prompt": "a fox", "model": old, "image_loras": [{"path": "a/b", "scale": 0.7}]})
    assert panel.model.value == old and panel.loras.layout.display == ""
    panel.width.value = panel.height.value = 512
    await generate(panel)
    assert panel.last.request.model_extra["image_loras"] == [{"path": "a/b", "scale": 0.7}]
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    panel.preset.value = "aspect 16:9"
    assert panel.width.disabled and panel.height.disabled
    await generate(panel)
    assert panel.last.request.model_extra["aspect_ratio"] == "16:9"
    assert panel.last.request.width is None


async def test_load_settings_from_a_saved_image(shell: InteractiveShell, tmp_path: Path) -> None:
    panel = make(shell)
    panel.steps.value = 5
    await generate(panel)
    card_parts(panel)["buttons"]["Save"].click()
    saved = next((tmp_path / "saved").iterdir())
    fresh = make(shell)
    fresh.prompt.value = ""
    upload(fresh.load_settings, saved.read_bytes(), saved.name)
    assert fresh.prompt.value == "a red fox in a snowy forest"
    assert (fresh.seed.value, fresh.lock.value) == (panel.last.request.seed, True)
    assert (fresh.width.value, fresh.height.value, fresh.steps.value) == (320, 256, 5)
    assert "settings loaded from" in fresh.status.value and fresh.load_settings.value == ()
    await generate(fresh)
    assert fresh.last.image_bytes() == panel.last.image_bytes()


async def test_load_settings_from_automatic1111_and_from_junk(shell: InteractiveShell) -> None:
    panel = make(shell)
    info = "a castle\nNegative prompt: fog\nSteps: 7, CFG scale: 5.5, Seed: 123, Size: 512x768, Model: sd_xl"
    upload(panel.load_settings, png((1, 2, 3), {"parameters": info}), "a1111.png")
    assert (panel.prompt.value, panel.negative.value, panel.seed.value) == ("a castle", "fog", 123)
    assert (panel.width.value, panel.height.value, panel.steps.value, panel.guidance.value) == (
        512,
        768,
        7,
        5.5,
    )
    assert "not a Together model" in panel.status.value  # sd_xl: the model is kept
    assert panel.model.value == models.DEFAULT_MODEL
    upload(panel.load_settings, png((1, 2, 3)), "plain.png")
    assert "⚠ settings from an image: plain.png holds no generation parameters" in panel.status.value
    upload(panel.load_settings, b"not an image at all", "notes.txt")
    assert "⚠ settings from an image: notes.txt is not a JPEG, PNG, WebP or GIF image" in panel.status.value


async def test_presets_set_the_size(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.preset.value = "portrait"
    assert (panel.width.value, panel.height.value) == (768, 1024)
    panel.width.value = 512
    assert panel.preset.value == "custom"
    panel.height.value, panel.width.value = 1024, 1024
    assert panel.preset.value == "square"


async def test_hostile_text_is_escaped_everywhere(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.prompt.value = '<img src=x onerror=alert(1)> "fox" & <script>alert(2)</script>'
    await generate(panel)
    shown = [card_parts(panel)["caption"], panel.snapshot_html(), panel.status.value]
    assert not any("<script" in text or "<img src=x" in text for text in shown)
    upload(panel.load_settings, b"\x89PNG\r\n\x1a\n<script>", "<b>evil</b>.png")
    assert "<b>" not in panel.status.value and "&lt;b&gt;evil&lt;/b&gt;.png" in panel.status.value
    panel.bind.value = "not a name"
    panel.generate.click()
    assert "Bind to must be a Python variable name" in panel.status.value


def bomb_png() -> bytes:
    """A PNG that declares 30000x30000 pixels (900 M): Pillow refuses it before decoding anything."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


async def test_load_settings_from_a_decompression_bomb_is_one_line(shell: InteractiveShell) -> None:
    panel = make(shell)
    upload(panel.load_settings, bomb_png(), "bomb.png")
    assert panel.status.value.count("⚠") == 1 and "bomb.png" in panel.status.value
    assert panel.prompt.value == "a red fox in a snowy forest"  # the form is untouched


async def test_upsampling_box_starts_at_the_models_default_and_unticking_it_is_sent(
    shell: InteractiveShell,
) -> None:
    """FLUX.2 [pro] upsamples unless told not to (Together's default, and the only model that takes it). The
    box shows the model's default, and a box that differs from it is sent explicitly."""
    panel = make(shell)
    takers = [s for s in models.MODELS.values() if s.takes("prompt_upsampling")]
    assert [(s.id, s.limits.upsample) for s in takers] == [("black-forest-labs/FLUX.2-pro", True)]
    for spec in takers:
        panel.model.value = spec.id
        assert panel.upsample.value is spec.limits.upsample, spec.id
        assert panel.options().upsample is None  # the default: nothing sent, as the raw API
        panel.upsample.value = not spec.limits.upsample
        assert panel.options().upsample is (not spec.limits.upsample), spec.id
        sent = panel.options().to_line()
        assert ("--no-upsample" if spec.limits.upsample else "--upsample") in sent, sent
