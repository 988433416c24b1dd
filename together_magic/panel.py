"""``%imagine_panel``: generate from a form, keep a gallery, and show the class the code.

The form becomes an ``ImagineOptions`` and goes through the magic's own plan and service, so "copy as code"
(``ImagineOptions.to_cell``) shows a cell that builds exactly the same request. Nothing is written into the
user's namespace except the variable they name ("Bind to"); an uploaded reference image stays in the panel
and is written to a file next to the notebook only when code that needs it is copied. A click
schedules the generation as a task on the kernel's running loop and returns at once; the kernel stays
free, Cancel stops the request, and Generate is disabled while one runs (no duplicate requests). The task
updates widgets through their traits only (never ``with out:``, which follows the *current* cell).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import random
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from . import config as _config
from . import models
from .errors import OptionError, TogetherError, explain
from .files import atomic_write_new
from .gallery import captions, preview
from .options import ImagineOptions, from_request
from .outputs import save_images
from .plan import Plan, build_plan
from .runner import run_blocking
from .service import generate
from .types import ImageChoicesData, ImageResponse, sniff_format

__all__ = ["ImaginePanel", "panel"]

PRESETS = {"square": (1024, 1024), "portrait": (768, 1024), "landscape": (1024, 768)}
REFERENCE_FOLDER = "references"
SEED_LOW, SEED_HIGH = models.SEED_RANGE
BUSY_NOTE = "Generate is disabled until this finishes; Cancel stops it."


class ImaginePanel(w.VBox):
    """The panel widget. ``responses`` holds every response (newest last); ``last`` the newest."""

    def __init__(self, *, bind: str | None = None, shell: Any = None, **kwargs: Any) -> None:
        self.settings = _config.current()
        self.shell = shell
        self.responses: list[ImageResponse] = []
        self.task: asyncio.Task[Any] | None = None
        self.sent = 0
        self._started = 0.0
        self._reference: bytes | None = None
        s = self.settings
        layout = w.Layout(width="100%")
        self.prompt = w.Textarea(
            placeholder="Describe the image…", description="Prompt", layout=layout, rows=3
        )
        self.negative = w.Text(
            placeholder="what it should not contain", description="Negative", layout=layout
        )
        self.model = w.Combobox(
            options=list(models.MODELS),
            value=s.model,
            description="Model",
            ensure_option=False,
            layout=layout,
        )
        self.preset = w.ToggleButtons(
            options=[*PRESETS, "custom"], value=self._preset_of(s.width, s.height), description="Size"
        )
        self.width = w.IntText(value=s.width, description="Width")
        self.height = w.IntText(value=s.height, description="Height")
        self.steps = w.BoundedIntText(
            value=s.steps or 0, min=0, max=200, description="Steps", tooltip="0 lets the model choose"
        )
        low, high = models.GUIDANCE_RANGE
        self.guidance = w.BoundedFloatText(
            value=s.guidance if s.guidance is not None else models.DEFAULT_GUIDANCE,
            min=low,
            max=high,
            step=0.5,
            description="Guidance",
        )
        self.n = w.IntSlider(value=s.n, min=models.N_RANGE[0], max=models.N_RANGE[1], description="Images")
        self.seed = w.BoundedIntText(
            value=random.randrange(SEED_LOW, SEED_HIGH + 1), min=SEED_LOW, max=SEED_HIGH, description="Seed"
        )
        self.dice = w.Button(description="new seed", icon="random", tooltip="draw a random seed")
        self.lock = w.ToggleButton(
            value=False,
            description="lock seed",
            icon="lock",
            tooltip="keep this seed; unlocked, every Generate draws a new one",
        )
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Reference")
        self.clear_reference = w.Button(description="clear reference", disabled=True)
        self.reference_preview = w.Image(format="jpeg", layout=w.Layout(max_width="96px", display="none"))
        self.bind = w.Text(value=bind or "", placeholder="optional variable name", description="Bind to")
        self.generate = w.Button(description="Generate", button_style="primary", icon="paint-brush")
        self.cancel = w.Button(description="Cancel", disabled=True, icon="stop")
        self.status = w.HTML(value="ready")
        self.gallery = w.VBox()
        self.preset.observe(self._on_preset, names="value")
        self.width.observe(self._on_size, names="value")
        self.height.observe(self._on_size, names="value")
        self.dice.on_click(lambda _: self._new_seed())
        self.upload.observe(self._on_upload, names="value")
        self.clear_reference.on_click(lambda _: self.set_reference(None))
        self.generate.on_click(self._on_generate)
        self.cancel.on_click(self._on_cancel)
        super().__init__(
            children=[
                self.prompt,
                self.negative,
                self.model,
                self.preset,
                w.HBox([self.width, self.height]),
                w.HBox([self.steps, self.guidance]),
                w.HBox([self.n]),
                w.HBox([self.seed, self.dice, self.lock]),
                w.HBox([self.upload, self.clear_reference, self.reference_preview]),
                self.bind,
                w.HBox([self.generate, self.cancel]),
                self.status,
                self.gallery,
            ],
            **kwargs,
        )
        self.add_class("together-magic-panel")

    # ------------------------------------------------------------------------------ public surface
    def __repr__(self) -> str:
        # Short on purpose: the default widget repr lists every child (and the random seed), which would
        # make saved notebooks noisy and their tests flaky.
        return f"ImaginePanel({len(self.responses)} responses)"

    @property
    def last(self) -> ImageResponse | None:
        return self.responses[-1] if self.responses else None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def options(self) -> ImagineOptions:
        """The form as options (what "copy as code" and Generate both start from)."""
        spec = models.find_model(self.model.value.strip())
        takes = spec.takes if spec else (lambda field: True)
        guidance = self.guidance.value if (takes("guidance_scale") or takes("guidance")) else None
        return ImagineOptions(
            prompt=self.prompt.value.strip() or None,
            model=self.model.value.strip() or None,
            n=self.n.value,
            seed=self.seed.value,
            width=self.width.value,
            height=self.height.value,
            steps=self.steps.value or None if takes("steps") else None,
            guidance=guidance,
            negative=self.negative.value.strip() or None,
            image=self._reference,
            interpolate=False,
        )

    def set_reference(self, data: bytes | None) -> None:
        self._reference = data
        self.clear_reference.disabled = data is None
        self.reference_preview.layout.display = "none" if data is None else ""
        if data is not None:
            self.reference_preview.value = preview(ImageChoicesData.from_bytes(data), 96)[0]

    # ------------------------------------------------------------------------------ events
    def _on_preset(self, change: dict[str, Any]) -> None:
        size = PRESETS.get(change["new"])
        if size:
            self.width.value, self.height.value = size

    def _on_size(self, _: dict[str, Any]) -> None:
        self.preset.value = self._preset_of(self.width.value, self.height.value)

    @staticmethod
    def _preset_of(width: int, height: int) -> str:
        return next((name for name, size in PRESETS.items() if size == (width, height)), "custom")

    def _new_seed(self) -> None:
        self.seed.value = random.randrange(SEED_LOW, SEED_HIGH + 1)

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            self.set_reference(bytes(files[0]["content"]))

    def _on_generate(self, _: Any = None) -> None:
        if self.busy:  # the button is disabled meanwhile; this guards programmatic double clicks
            return
        if not self.lock.value:
            self._new_seed()
        try:
            plan = build_plan(self.options(), config=self.settings, namespace=self._namespace())
        except OptionError as exc:
            self._show_error(str(exc))
            return
        bind = self.bind.value.strip()
        if bind and not bind.isidentifier():
            self._show_error(f"Bind to must be a Python variable name, got {bind!r}")
            return
        self._started = time.perf_counter()
        self.generate.disabled, self.cancel.disabled = True, False
        self.status.value = f"generating… 0.0 s — {BUSY_NOTE}"
        coroutine = self._run(plan, bind or None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no kernel loop (plain Python): run it here, blocking
            try:
                run_blocking(lambda: coroutine)
            finally:
                self._idle()
            return
        self.task = loop.create_task(coroutine)
        self.task.add_done_callback(self._after)

    def _after(self, task: asyncio.Task[Any]) -> None:
        self._idle()
        if task.cancelled():
            seconds = time.perf_counter() - self._started
            self.status.value = f"cancelled after {seconds:.1f} s (nothing was kept)"

    def _idle(self) -> None:
        self.generate.disabled, self.cancel.disabled = False, True

    def _on_cancel(self, _: Any = None) -> None:
        if self.busy and self.task is not None:
            self.task.cancel()

    # ------------------------------------------------------------------------------ the work
    async def _run(self, plan: Plan, bind: str | None) -> None:
        ticker = asyncio.ensure_future(self._tick(self._started))
        self.sent += 1
        try:
            response = (await generate(plan, self.settings, source="panel")).response
        except TogetherError as err:
            self._show_error(str(explain(err, "notebook")))
            return
        except Exception as exc:  # a widget callback must never die silently
            self._show_error(f"{type(exc).__name__}: {exc}")
            return
        finally:
            ticker.cancel()
        self.responses.append(response)
        if bind:
            self._namespace()[bind] = response
        self._add_to_gallery(response)
        seconds = "cached" if response.cached else f"{response.elapsed or 0:.1f} s"
        self.status.value = f"done: {len(response)} image{'s' if len(response) != 1 else ''} ({seconds})"

    async def _tick(self, started: float) -> None:
        while True:
            self.status.value = f"generating… {time.perf_counter() - started:.1f} s — {BUSY_NOTE}"
            await asyncio.sleep(0.25)

    def _show_error(self, message: str) -> None:
        self.status.value = f'<span style="color:#c62828">⚠ {html.escape(message)}</span>'

    # ------------------------------------------------------------------------------ the gallery
    def _add_to_gallery(self, response: ImageResponse) -> None:
        items = [
            self._gallery_item(response, choice, caption)
            for choice, caption in zip(response.data or [], captions(response), strict=False)
        ]
        self.gallery.children = (*items, *self.gallery.children)

    def _gallery_item(self, response: ImageResponse, choice: ImageChoicesData, caption: str) -> w.VBox:
        data, _, width, height = preview(choice, min(self.settings.preview_size or 512, 512))
        image = w.Image(value=data, format="jpeg", width=width, height=height)
        image.add_class("together-magic-image")
        note = w.HTML()
        code = w.Textarea(layout=w.Layout(width="100%", display="none"), rows=4)
        code.add_class("together-magic-code")
        actions = {
            "save": lambda: self._save(response, choice, note),
            "reuse this seed": lambda: self._reuse_seed(choice),
            "use as reference": lambda: self.set_reference(choice.image_bytes()),
            "copy as code": lambda: self._show_code(choice, code),
        }
        buttons = []
        for label, action in actions.items():
            button = w.Button(description=label)
            button.on_click(lambda _, act=action: act())
            buttons.append(button)
        label = w.HTML(f"<code>{html.escape(caption)}</code>")
        return w.VBox([image, label, w.HBox(buttons), note, code])

    def _save(self, response: ImageResponse, choice: ImageChoicesData, note: w.HTML) -> None:
        folder = Path(self.settings.save_dir or "images")
        report = save_images([choice], folder, response.request)
        if not report.ok:
            self._show_error(report.summary(folder))
            return
        path = report.paths[0]
        verb = "already saved as" if report.existing and report.existing[0] else "saved"
        note.value = f'<span title="{html.escape(str(path))}">{verb} {html.escape(str(path))}</span>'

    def _reuse_seed(self, choice: ImageChoicesData) -> None:
        if choice.seed is not None:
            self.seed.value = choice.seed
            self.lock.value = True

    def code_for(self, choice: ImageChoicesData) -> str:
        """The ``%%imagine`` cell that reproduces this one image alone (a reference becomes a file)."""
        request = choice.provenance.request
        if request is None:
            return ""
        options = from_request(request.payload(), default_format=self.settings.response_format)
        if isinstance(options.image, bytes):
            options = options.replace(image=str(_reference_file(options.image)))
        options = options.replace(
            references=tuple(
                str(_reference_file(r)) if isinstance(r, bytes) else r for r in options.references
            )
        )
        return options.to_cell()

    def _show_code(self, choice: ImageChoicesData, box: w.Textarea) -> None:
        try:
            box.value = self.code_for(choice)
        except OSError as exc:
            self._show_error(f"copy as code: could not write the reference image: {exc.strerror or exc}")
            return
        box.layout.display = ""

    def _namespace(self) -> dict[str, Any]:
        if self.shell is None:
            from IPython import get_ipython

            self.shell = get_ipython()
        if self.shell is None:
            return {}
        ns: dict[str, Any] = self.shell.user_ns
        return ns


def _reference_file(data: bytes) -> Path:
    """Write an uploaded reference next to the notebook (content-named, so copying twice reuses it)."""
    ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}.get(
        sniff_format(data) or "", ".bin"
    )
    path = Path(REFERENCE_FOLDER) / f"reference-{hashlib.sha256(data).hexdigest()[:12]}{ext}"
    if path.is_file() and path.read_bytes() == data:
        return path
    return atomic_write_new(path, data)


def panel(*, bind: str | None = None) -> ImaginePanel:
    """A new panel widget; display it (or make it a cell's last expression)."""
    from IPython import get_ipython

    return ImaginePanel(bind=bind, shell=get_ipython())
