"""``%imagine_panel``: generate from a form, keep a gallery, and show the class the code.

The form (``form``) becomes an ``ImagineOptions`` and goes through the magic's own plan and service,
so "copy as code" gives a cell that builds exactly the same request; Compare (``compare``) sweeps one
axis of it as ``%%imagine --vary`` would. Nothing is written into the user's
namespace except the variable they name ("Bind to"). A click schedules the generation as a task on the
kernel's running loop and returns at once; the kernel stays free, Cancel stops the request, and Generate and
Compare are disabled while one runs (no duplicate requests). The task updates widgets through their traits
only (never ``with out:``, which follows the *current* cell).

Displaying the panel makes two outputs: the widget, and a static HTML copy of its gallery (updated on every
result through its display id). Live, the panel's style sheet hides the copy; in a saved notebook, in
nbconvert's HTML or on GitHub, where widgets have no state, the copy is what shows the images.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

import ipywidgets as w

from .. import config as _config
from .. import models
from ..client.base import resolve_settings
from ..display.status import GATEWAY_OFFLINE_TEXT, offline_text
from ..errors import OptionError, TogetherError, explain
from ..generation.cost import session
from ..generation.generate import generate
from ..generation.live import fetch_soon
from ..generation.loop import run_blocking
from ..generation.plan import Plan, build_plan
from ..imagefiles import metadata
from ..imagefiles.containers import image_info
from ..types import ImageResponse
from ..types.view import BADGE_STYLES, backend_badge
from .bridges import PromptKeys
from .cards import REFERENCE_FOLDER, last_panel, remember_panel, style_html
from .compare import BUSY_NOTE, PanelCompare
from .form import PanelForm
from .gallery import PanelGallery

__all__ = ["BUSY_NOTE", "REFERENCE_FOLDER", "ImaginePanel", "last_panel", "panel"]

SAVED_TEXT = "together-magic panel: run this cell to use its form (a copy of its gallery is below)"
_BACKEND_NOTES = {
    "offline": "stand-in pictures, not a diffusion model · TOGETHER_API_KEY for Together AI",
    "together": "Together AI: images are billed to your key",
    "gateway": "your class's gateway: your teacher's key, your class budget",
}
_GATEWAY_OFFLINE_NOTE = "stand-in pictures from your class's gateway, not a diffusion model · free"


class ImaginePanel(PanelForm, PanelCompare, PanelGallery, w.VBox):
    """The panel widget. ``responses`` holds every response (newest last), ``last`` the newest; ``sweeps``
    every compare grid's ``Sweep`` (newest last)."""

    def __init__(self, *, bind: str | None = None, shell: Any = None, **kwargs: Any) -> None:
        self.settings = _config.current()
        self.shell = shell
        self.responses: list[ImageResponse] = []
        self.task: asyncio.Task[Any] | None = None
        self.sent = 0
        self._started = 0.0
        self._reference: bytes | None = None
        self._reference_name = ""
        self._snapshot: Any = None
        self.cost = w.HTML()
        self.load_settings = w.FileUpload(
            accept=".png,.jpg,.jpeg,.webp",
            description="",
            icon="folder-open",
            tooltip="settings from an image",
        )
        self.load_settings.add_class("together-magic-upload")
        form = self._build_form(bind, [])
        left = form.children[0]  # the compare row ends the left column (it needs the model chosen above)
        left.children = (*left.children, self._build_compare())
        self._build_gallery()
        self.header = w.HTML(layout={"flex": "0 0 auto"})
        self.prompt_keys = PromptKeys(layout={"display": "none"})
        self.prompt_keys.on_submit(self._on_submit)
        self.generate = w.Button(
            description="Generate",
            button_style="primary",
            icon="paint-brush",
            layout={"width": "auto", "flex": "0 0 auto"},
        )
        self.cancel = w.Button(
            description="Cancel", disabled=True, icon="stop", layout={"width": "auto", "flex": "0 0 auto"}
        )
        self.status = w.HTML(
            value="ready", layout={"margin": "0 8px 0 6px", "flex": "1 1 auto", "min_width": "0"}
        )
        self.status.add_class("together-magic-status")
        # One line above the form: which backend answers, what the panel is doing, "settings from an image"
        # and the price; Generate ends the left column. (A row less each: the form, Generate and the newest
        # image fit a projector's 1024x768 screen with JupyterLab's file browser open, for every model.)
        top = w.HBox(
            [self.header, self.status, self.load_settings, self.cost], layout={"align_items": "center"}
        )
        top.add_class("together-magic-top")
        style = w.HTML(layout={"display": "none"})
        actions = w.HBox([self.generate, self.cancel], layout={"align_items": "center"})
        actions.add_class("together-magic-go")
        left.children = (*left.children, actions)
        self.generate.on_click(self._on_generate)
        self.cancel.on_click(self._on_cancel)
        self.load_settings.observe(self._on_load_settings, names="value")
        for box in (self.model, self.width, self.height, self.steps, self.n, self.preset):
            box.observe(lambda _: self._show_cost(), names="value")
        super().__init__(
            children=[
                style,
                self.prompt_keys,
                top,
                self.model_row,
                form,
                self.code,
                self.gallery,
                self.viewer,
            ],
            **kwargs,
        )
        self.add_class("together-magic-panel")
        style.value = style_html(self.model_id)
        self._show_backend(self._expected_backend())
        self._show_cost()
        # with a key and no list kept today: the cloud's list, fetched on the kernel's loop, never waited for
        self.models_task = None if self.live_models is not None else fetch_soon(self.settings, self.use_live)
        remember_panel(self)  # %imagine_history's cards send images to the panel made last

    # ------------------------------------------------------------------------------ public surface
    def __repr__(self) -> str:
        # Short on purpose: the default widget repr lists every child (and the random seed), which would
        # make saved notebooks noisy and their tests flaky.
        return f"ImaginePanel({len(self.responses)} responses)"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The text a saved notebook, nbconvert or GitHub show instead of the widget: a count here would be
        # the count when the cell ran ("0 responses" above a copy of the gallery's many images).
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = SAVED_TEXT
        return data

    @property
    def last(self) -> ImageResponse | None:
        return self.responses[-1] if self.responses else None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def _ipython_display_(self) -> None:
        """Show the widget, then the static copy of its gallery (one display id, updated per result)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        bundle = self._snapshot_bundle()
        if self._snapshot is None:
            self._snapshot = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            display(bundle, raw=True, display_id=self._snapshot.display_id)  # type: ignore[no-untyped-call]

    def _snapshot_bundle(self) -> dict[str, str]:
        count = sum(len(r.data or []) for r in self.responses)
        text = f"ImaginePanel gallery: {count} image{'s' if count != 1 else ''}"
        if self.sweeps:
            text += f", {len(self.sweeps)} compare grid{'s' if len(self.sweeps) != 1 else ''}"
        return {"text/html": self.snapshot_html(), "text/plain": f"{text} (static copy)"}

    def _after_result(self, backend: str | None) -> None:
        """A result is in the gallery: the header, the cost line and the static copy catch up."""
        if backend is not None:
            self._show_backend(backend)
        self._show_cost()
        if self._snapshot is not None:
            self._snapshot.update(self._snapshot_bundle(), raw=True)

    # ------------------------------------------------------------------------------ header and cost
    def _expected_backend(self) -> str | None:
        try:
            return resolve_settings(base_url=self.settings.base_url).backend
        except TogetherError:
            return None

    def _show_backend(self, backend: str | None) -> None:
        badge = backend_badge(backend)
        chip = f'<span style="{BADGE_STYLES[badge]}">{badge}</span>' if badge in BADGE_STYLES else ""
        note = _BACKEND_NOTES.get(badge or "", f"custom endpoint {backend}")
        title = offline_text() if badge == "offline" else note
        if title == GATEWAY_OFFLINE_TEXT:  # a gateway answered offline: this student did set a key
            note = _GATEWAY_OFFLINE_NOTE
        self.header.value = (
            f'<span title="{html.escape(title, quote=True)}">{chip or html.escape(note)}</span>'
        )
        if self.status.value == "ready" or self.status.value.startswith("ready: "):
            self.status.value = f"ready: {html.escape(note)}"

    def _show_cost(self) -> None:
        try:
            cost = self.estimate()
        except OptionError:
            cost = None
        text = "price unknown" if cost is None else f"≈ ${cost:.4f}"
        title = (
            f"estimated from the catalogue's prices ({models.PRICES_AS_OF}; most have none published); "
            "Imagine.prices overrides them"
        )
        budget = self.settings.budget
        if budget is not None:
            text += f", ${max(budget - session().spent, 0):.4f} of the budget left"
        self.cost.value = (
            f'<span style="font-size:13px;opacity:.85;white-space:nowrap" '
            f'title="{html.escape(title, quote=True)}">{html.escape(text)}</span>'
        )

    # ------------------------------------------------------------------------------ events
    def _on_generate(self, _: Any = None) -> None:
        if self.busy:  # the button is disabled meanwhile; this guards programmatic double clicks
            return
        refused = self._reference_refused()
        if refused:
            self._show_error(refused)
            return
        bind = self.bind.value.strip()
        if bind and not bind.isidentifier():
            self._show_error(f"Bind to must be a Python variable name, got {bind!r}")
            return
        self._seed_to_send()
        try:
            plan = build_plan(self.options(), config=self.settings, namespace=self._namespace())
        except OptionError as exc:
            self._show_error(str(exc))
            return
        self._seed_sent()
        self._started = time.perf_counter()
        self._busy(True)
        self.code.layout.display = "none"
        self.status.value = f"generating… 0.0 s — {BUSY_NOTE}"
        coroutine = self._run(plan, bind or None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no kernel loop (plain Python): run it here, blocking
            try:
                run_blocking(lambda: coroutine)
            finally:
                self._busy(False)
            return
        self.task = loop.create_task(coroutine)
        self.task.add_done_callback(self._after)

    def _on_submit(self) -> None:
        """Enter in the prompt box: Generate, unless a generation or comparison is running."""
        if not self.generate.disabled:
            self._on_generate()

    def _reference_refused(self) -> str | None:
        """A reference image is set but the chosen model takes none: say so in the panel's words (the plan's
        error names the magic's ``--image`` and a list of model ids)."""

        def takes_images(spec: models.ModelSpec) -> bool:
            return spec.takes("image_url") or spec.takes("reference_images")

        if self._reference_missing:
            return self._reference_missing
        spec = self.spec()
        if self._reference is None or spec is None or takes_images(spec):
            return None
        takers = [s.display_name for s in models.MODELS.values() if s.listed and takes_images(s)]
        return (
            f"{spec.display_name} takes no image: remove the reference image, or choose a model that takes "
            f"one ({', '.join(takers)})"
        )

    def _after(self, task: asyncio.Task[Any]) -> None:
        self._busy(False)
        if task.cancelled():
            seconds = time.perf_counter() - self._started
            self.status.value = f"cancelled after {seconds:.1f} s (nothing was kept)"

    def _busy(self, busy: bool) -> None:
        self.generate.disabled = self.compare.disabled = busy
        self.cancel.disabled = not busy

    def _on_cancel(self, _: Any = None) -> None:
        if self.busy and self.task is not None:
            self.cancel.disabled = True  # one cancel: a second would cut short the sweep's own cleanup
            self.task.cancel()

    def _on_load_settings(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        self.load_settings.value = ()
        name = str(item.get("name") or "the image")
        try:
            record = _record_of(bytes(item["content"]), name)
        except (ValueError, OSError) as exc:
            self._show_error(f"settings from an image: {exc}")
            return
        except Exception as exc:  # a decompression bomb, a truncated file: one line, never a traceback
            self._show_error(f"settings from an image: {name} could not be read ({type(exc).__name__})")
            return
        payload = record.get("request")
        if not isinstance(payload, dict):
            self._show_error(f"settings from an image: {name} holds no generation parameters")
            return
        notes = self.apply_request(payload, record.get("omitted"))
        loaded = f"settings loaded from {html.escape(name)}: seed {self.seed.value} (locked)"
        self.status.value = "; ".join([loaded, *(html.escape(n) for n in notes)])

    # ------------------------------------------------------------------------------ the work
    async def _run(self, plan: Plan, bind: str | None) -> None:
        ticker = asyncio.ensure_future(self._tick(self._started))
        self.sent += 1
        try:
            # keep_partial: images made and charged before a part failed (a class budget spent after two
            # of four) are shown and kept; then the failure is the status line, as in a cell
            generated = await generate(plan, self.settings, source="panel", keep_partial=True)
            response = generated.response
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
        try:
            self._add_to_gallery(response)
            self._after_result(response.provenance.backend)
        except Exception as exc:  # kept in panel.responses; the gallery says what went wrong
            self._show_error(f"the images arrived but could not be shown: {type(exc).__name__}: {exc}")
            return
        if generated.failure is not None:
            self._show_error(str(explain(generated.failure, "notebook")))
            return
        seconds = "cached" if response.cached else f"{response.elapsed or 0:.1f} s"
        self.status.value = f"done: {len(response)} image{'s' if len(response) != 1 else ''} ({seconds})"

    async def _tick(self, started: float) -> None:
        while True:
            self.status.value = f"generating… {time.perf_counter() - started:.1f} s — {BUSY_NOTE}"
            await asyncio.sleep(0.25)

    def _namespace(self) -> dict[str, Any]:
        if self.shell is None:
            from IPython import get_ipython

            self.shell = get_ipython()
        if self.shell is None:
            return {}
        ns: dict[str, Any] = self.shell.user_ns
        return ns


def _record_of(data: bytes, name: str) -> dict[str, Any]:
    """The parameters in uploaded image bytes (read in memory: no temporary file, no pixel decoded)."""
    image_info(data, name)  # one line for what is not an image, a truncated file or a bomb
    record = metadata.extract(data)
    if record is None:
        raise ValueError(f"{name} holds no generation parameters")
    return record


def panel(*, bind: str | None = None) -> ImaginePanel:
    """A new panel widget; display it (or make it a cell's last expression)."""
    from IPython import get_ipython

    return ImaginePanel(bind=bind, shell=get_ipython())
