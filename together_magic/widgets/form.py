"""The panel's form: two columns, only the controls the chosen model takes, with that model's ranges and
defaults from the catalogue (``models``). A reference image has one source of truth (``_reference``), so the
controls never disagree with what Generate sends. The form becomes an ``ImagineOptions``, as the magic's line.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .. import models
from ..config import Imagine
from ..generation.line import parse_lora
from ..generation.live import cached_live
from ..generation.options import ImagineOptions
from ..models.feed import LiveModel
from ..types import ImageChoicesData
from ..types.view import preview
from .choices import bounds, model_choices, model_note, row_label, show
from .loading import ASPECT, MISSING, MISSING_SHORT, apply_request

__all__ = ["MISSING", "READABLE_SEEDS", "SIZES", "PanelForm", "model_choices", "row_label"]

READABLE_SEEDS = models.DRAWN_SEED_RANGE
"""The seeds the panel draws: five digits a class can read aloud (any seed in range can be typed)."""
SIZES = {"square": (1024, 1024), "portrait": (768, 1024), "landscape": (1024, 768)}
CUSTOM = "custom"
LABEL = {"description_width": "62px"}
FILL = "auto"  # in a flex column "auto" fills the width *with* the margins; "100%" overflows by 2 px
SMALL_BOX = "130px"
FORM_GRID = {"grid_template_columns": "repeat(auto-fit, minmax(260px, 1fr))", "grid_gap": "0 12px"}
"""JupyterLab at 1024x768 (file browser open, a notebook that scrolls) gives a 577 px output: two columns
must fit there, so every row fits in 260 px (the image row wraps), or the form would hide the results."""


class PanelForm:
    """The form half of ``ImaginePanel`` (a mixin: the panel is one widget with one namespace)."""

    settings: Imagine
    _reference: bytes | None
    _reference_name: str
    _syncing: bool

    def _build_form(self, bind: str | None, tail: list[w.Widget]) -> w.GridBox:
        s = self.settings
        self._syncing = False
        self.prompt = w.Textarea(
            placeholder="Describe the image…",
            description="Prompt",
            rows=2,
            style=LABEL,
            layout={"width": FILL},
        )
        self.negative = w.Text(
            placeholder="what it should not contain",
            description="Negative",
            style=LABEL,
            layout={"width": FILL},
        )
        self.upload = w.FileUpload(
            accept="image/*", multiple=False, description="", icon="upload", tooltip="upload an image"
        )
        self.upload.add_class("together-magic-upload")
        self.clear_reference = w.Button(
            description="remove",
            icon="times",
            disabled=True,
            tooltip="send no image with the next request",
            layout={"width": "auto", "display": "none"},
        )
        self.reference_preview = w.Image(format="jpeg", layout={"max_width": "40px", "display": "none"})
        self.reference_label = w.HTML(layout={"min_width": "0"})
        self.reference_label.add_class("together-magic-reference")
        self.reference_row = w.HBox(
            [
                row_label("Image"),
                self.upload,
                self.reference_preview,
                self.reference_label,
                self.clear_reference,
            ],
            layout={"align_items": "center", "width": FILL, "flex_flow": "row wrap"},
        )
        self.loras = w.Text(
            placeholder="repo[:scale], …",  # whole in a 260 px column; the tooltip says the rest
            tooltip="LoRAs: a Hugging Face repo or a URL, each with an optional :scale, comma-separated",
            description="LoRAs",
            style=LABEL,
            layout={"width": FILL},
        )
        self.upsample = w.Checkbox(
            description="let the model rewrite the prompt", indent=False, layout={"width": FILL}
        )
        self.bind = w.Text(
            value=bind or "",
            placeholder="optional variable name",
            description="Bind to",
            style=LABEL,
            layout={"width": FILL},
        )
        self.live_models = cached_live(s)  # the cloud's list, fetched today (a key is set); else None
        self.model = w.Dropdown(
            options=model_choices(s.model, self.live_models),
            value=s.model,
            description="Model",
            style=LABEL,
            layout={"width": FILL},
        )
        self.model_note = w.HTML(layout={"width": FILL})
        self.preset = w.Dropdown(description="Size", style=LABEL, layout={"width": FILL})
        wide = {"min": 0, "max": 1_000_000, "style": LABEL}  # the chosen model's bounds are set below
        self.width = w.BoundedIntText(value=s.width, description="Width", layout={"width": "50%"}, **wide)
        self.height = w.BoundedIntText(value=s.height, description="Height", layout={"width": "50%"}, **wide)
        self.steps = w.BoundedIntText(value=s.steps or 0, description="Steps", **wide)
        self.steps.layout.width = SMALL_BOX
        self.steps_hint = w.HTML(layout={"margin": "0 0 0 6px"})
        self.guidance = w.BoundedFloatText(
            value=s.guidance if s.guidance is not None else models.DEFAULT_GUIDANCE,
            step=0.5,
            description="Guidance",
            layout={"width": SMALL_BOX},
            **wide,
        )
        self.n = w.BoundedIntText(value=s.n, description="Images", layout={"width": SMALL_BOX}, **wide)
        self.seed = w.BoundedIntText(
            value=self._draw_seed(),
            min=models.SEED_RANGE[0],
            max=models.SEED_RANGE[1],
            description="Seed",
            style=LABEL,
            layout={"width": "170px"},
        )
        self.dice = w.Button(icon="random", tooltip="draw a new seed", layout={"width": "40px"})
        self.lock = w.ToggleButton(
            icon="lock",
            tooltip="keep this seed; unlocked, every Generate draws a new one",
            layout={"width": "40px"},
        )
        self.steps_row = w.HBox([self.steps, self.steps_hint], layout={"align_items": "center"})
        self.size_row = w.HBox([self.width, self.height], layout={"width": FILL})
        self.prompt.add_class("together-magic-prompt")
        self.model_row = w.VBox([self.model, self.model_note], layout={"min_width": "0"})
        """Across the whole form: a model's full name and maker fit there, never cut off."""
        left = w.VBox(
            [self.prompt, self.negative, self.reference_row, self.loras, *tail],
            layout={"min_width": "0"},
        )
        right = w.VBox(
            [
                self.preset,
                self.size_row,
                self.steps_row,
                w.HBox([self.guidance, self.n]),
                w.HBox([self.seed, self.dice, self.lock]),
                self.bind,
                self.upsample,
            ],
            layout={"min_width": "0"},
        )
        self.preset.observe(self._on_preset, names="value")
        self.width.observe(self._on_size, names="value")
        self.height.observe(self._on_size, names="value")
        self.model.observe(self._on_model, names="value")
        self.dice.on_click(lambda _: self._new_seed())
        self._seed_changed = True  # the pre-filled seed is sent by the first Generate
        self.seed.observe(self._on_seed, names="value")
        self._reference_missing = ""
        self.upload.observe(self._on_upload, names="value")
        self.clear_reference.on_click(lambda _: self.set_reference(None))
        self._on_model()
        return w.GridBox([left, right], layout=FORM_GRID)

    # ------------------------------------------------------------------------------ reading the form
    def spec(self) -> models.ModelSpec | None:
        """The chosen model's entry; one only the cloud's list has takes the common parameters only."""
        value = str(self.model.value)
        live = (m.spec() for m in self.live_models or () if m.id == value)
        return models.find_model(value) or next(live, None)

    def options(self) -> ImagineOptions:
        """The form as options (what "copy as code" and Generate both start from)."""
        spec = self.spec()
        takes: Callable[[str], bool] = spec.takes if spec else (lambda field: True)
        ratio, up = self.aspect_ratio(), spec is not None and spec.limits.upsample  # up: sent if not this
        loras = tuple(
            parse_lora(item) for item in self.loras.value.split(",") if item.strip() and self._lora_visible()
        )
        return ImagineOptions(
            prompt=self.prompt.value.strip() or None,
            model=str(self.model.value),
            n=self.n.value,
            seed=self.seed.value,
            width=None if ratio else self.width.value,
            height=None if ratio else self.height.value,
            aspect_ratio=ratio,
            steps=(self.steps.value or None) if takes("steps") else None,
            guidance=self.guidance.value if takes("guidance_scale") else None,
            negative=(self.negative.value.strip() or None) if takes("negative_prompt") else None,
            image=self._reference,
            loras=loras,
            upsample=None if self.upsample.value == up or not takes("prompt_upsampling") else not up,
            interpolate=False,
        )

    def aspect_ratio(self) -> str | None:
        """The aspect ratio chosen in Size (None: width and height are sent)."""
        value = str(self.preset.value or "")
        spec = self.spec()
        taken = spec is None or spec.takes("aspect_ratio")
        return value.removeprefix(ASPECT) if value.startswith(ASPECT) and taken else None

    def _lora_visible(self) -> bool:
        spec = self.spec()
        return spec is None or spec.limits.loras > 0

    def estimate(self) -> float | None:
        """Dollars the form's request would cost at Together's list prices (None: unknown model)."""
        options = self.options()
        width, height = models.ASPECT_RATIOS.get(
            options.aspect_ratio or "", (self.width.value, self.height.value)
        )
        return models.estimate_cost(
            str(self.model.value),
            width,
            height,
            steps=options.steps,
            n=self.n.value,
            prices=dict(self.settings.prices),
        )

    def use_live(self, found: list[LiveModel]) -> None:
        """The cloud's list arrived (``generation.live``): offer its models; the current choice stays."""
        self.live_models, current = found, self.model.value
        self.model.options = model_choices(current, found)
        self.model.value = current

    # ------------------------------------------------------------------------------ the chosen model
    def _on_model(self, _: Any = None) -> None:
        spec = self.spec()
        self.upsample.value = spec is not None and spec.limits.upsample  # its default
        if spec is not None and spec.takes("guidance_scale") and self.settings.guidance is None:
            self.guidance.value = spec.limits.default_guidance  # its default (FLUX.2 dev/flex: 3)
        self.model_note.value = model_note(spec)
        show(self.model_note, bool(self.model_note.value))
        self._apply_model()

    def _apply_model(self) -> None:
        spec = self.spec()
        limits = spec.limits if spec else models.Limits()
        takes: Callable[[str], bool] = spec.takes if spec else (lambda field: True)
        show(self.negative, takes("negative_prompt"))
        image_input = takes("image_url") or takes("reference_images")
        show(self.reference_row, image_input or self._reference is not None or bool(self._reference_missing))
        self.upload.tooltip = "upload an image to edit" if takes("image_url") else "upload a reference image"
        show(self.loras, limits.loras > 0)
        show(self.upsample, takes("prompt_upsampling"))
        show(self.steps_row, takes("steps"))
        if limits.steps:
            bounds(self.steps, 0, limits.steps[1])
        default = f"0 = default ({limits.default_steps})" if limits.default_steps else "0 = default"
        self.steps_hint.value = f'<span style="font-size:12px;opacity:.75">{default}</span>'
        show(self.guidance, takes("guidance_scale"))
        bounds(self.guidance, *limits.guidance)
        bounds(self.n, *limits.n)
        for box in (self.width, self.height):
            bounds(box, *limits.size)
            box.step = limits.multiple
        self._set_size_choices(limits, takes("aspect_ratio"))
        self._size_boxes()
        self._describe_reference()

    def _set_size_choices(self, limits: models.Limits, aspect: bool) -> None:
        if limits.presets:
            choices = [(f"{label} · {w}x{h}", label) for label, w, h in limits.presets]
        else:
            choices = [(f"{name} {w}x{h}", name) for name, (w, h) in SIZES.items()] + [(CUSTOM, CUSTOM)]
        if aspect:
            ratios = limits.aspect_ratios or tuple(models.ASPECT_RATIOS)
            choices += [(f"{ratio} (aspect ratio only)", f"{ASPECT}{ratio}") for ratio in ratios]
        values = [value for _, value in choices]
        previous = self.preset.value
        self._syncing = True
        try:
            self.preset.options = choices
            if previous in values and str(previous).startswith(ASPECT):
                self.preset.value = previous
            else:
                self.preset.value = self._preset_of(self.width.value, self.height.value) or values[0]
        finally:
            self._syncing = False
        if limits.presets:
            self._on_preset({"new": self.preset.value})
        self._size_boxes()

    def _size_boxes(self) -> None:
        """Width and height show only for a custom size: a named size or an aspect ratio says its own
        (the row would push Generate and the newest image off a projector's screen)."""
        ratio = self.aspect_ratio() is not None
        self.width.disabled = self.height.disabled = ratio
        spec = self.spec()
        presets = spec is not None and bool(spec.limits.presets)
        show(self.size_row, not presets and not ratio and self.preset.value == CUSTOM)

    def _sizes(self) -> dict[str, tuple[int, int]]:
        spec = self.spec()
        if spec and spec.limits.presets:
            return {label: (w, h) for label, w, h in spec.limits.presets}
        return SIZES

    def _preset_of(self, width: int, height: int) -> str | None:
        found = next((name for name, size in self._sizes().items() if size == (width, height)), None)
        spec = self.spec()
        return found if found or (spec and spec.limits.presets) else CUSTOM

    def _on_preset(self, change: dict[str, Any]) -> None:
        self._size_boxes()
        size = self._sizes().get(change["new"])
        if size and not self._syncing:
            self._syncing = True
            try:
                self.width.value, self.height.value = size
            finally:
                self._syncing = False

    def _on_size(self, _: dict[str, Any]) -> None:
        if self._syncing or self.aspect_ratio() is not None:
            return
        found = self._preset_of(self.width.value, self.height.value)
        if found in {value for _, value in self.preset.options}:
            self._syncing = True
            try:
                self.preset.value = found
            finally:
                self._syncing = False

    # ------------------------------------------------------------------------------ seed and reference
    @staticmethod
    def _draw_seed() -> int:
        return random.randint(*READABLE_SEEDS)

    def _new_seed(self) -> None:
        self.seed.value = self._draw_seed()

    def _on_seed(self, _: Any = None) -> None:
        self._seed_changed = True

    def _seed_to_send(self) -> None:
        """Before a request: the seed box is what is sent. Unlocked, a seed already sent and not changed
        since is replaced by a new one (each Generate makes a new image); a seed typed, drawn, reused or
        pre-filled is sent as it stands, lock or not."""
        if not self.lock.value and not self._seed_changed:
            self._new_seed()

    def _seed_sent(self) -> None:
        self._seed_changed = False

    def set_reference(self, data: bytes | None, name: str = "") -> None:
        """The image sent with the next request (None clears it); ``name`` says where it came from."""
        self._reference = data
        self._reference_name = name if data is not None else ""
        self._reference_missing = ""  # given again, or removed on purpose: either way, asked and answered
        self.clear_reference.disabled = data is None
        show(self.clear_reference, data is not None)
        self.reference_preview.layout.display = "none" if data is None else ""
        if data is not None:
            self.reference_preview.value = preview(ImageChoicesData.from_bytes(data), 80)[0]
        self._apply_model()

    def _describe_reference(self) -> None:
        spec = self.spec()
        if self._reference_missing:
            text = f'<span style="color:var(--jp-warn-color0,#b26b00)">⚠ {html.escape(MISSING_SHORT)}</span>'
        elif self._reference is None:
            text = ""
        else:
            text = html.escape(self._reference_name or "an image")
            if spec and not (spec.takes("image_url") or spec.takes("reference_images")):
                warn = f"⚠ {spec.short_name} takes no image"
                text += f' <span style="color:var(--jp-warn-color0,#b26b00)">{warn}</span>'
        self.reference_label.value = f"<span>{text}</span>" if text else ""
        show(self.reference_label, bool(text))

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        self.set_reference(bytes(item["content"]), f"upload {item.get('name', '')}".strip())
        self.upload.value = ()  # the upload button holds nothing: the label above is the one truth

    # ------------------------------------------------------------------------------ loading settings
    def apply_request(self, payload: dict[str, Any], omitted: Any = None) -> list[str]:
        """Fill the form from a stored request (an image's parameters); returns notes on what was kept.
        ``omitted``: the input images a saved file left out, asked for again (``loading``)."""
        return apply_request(self, payload, omitted)
