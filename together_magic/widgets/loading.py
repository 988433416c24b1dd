"""Filling the panel's form from a stored request: "settings from an image" and the history's "Reuse in
the panel". The reference image comes along when the request holds it; when a saved file left it out (its
recipe's ``omitted``), the form says so and asks for it, as ``--from`` does, rather than make a different
image without a word.
"""

from __future__ import annotations

from typing import Any

from .. import models
from ..generation.options import from_request
from ..generation.plan import missing_input
from .choices import model_choices
from .choices import show as _show

__all__ = ["ASPECT", "MISSING", "MISSING_SHORT", "apply_request"]

ASPECT = "aspect "
"""Size choices starting with this send ``aspect_ratio`` instead of width and height."""
MISSING = (
    "this image was made with a reference image, which the file does not hold: upload it again "
    "(Image), or press remove to go on without it"
)
"""What the form says when settings come from an image whose reference the file left out (``--from``
asks for it again the same way)."""
MISSING_SHORT = "reference image missing: upload it again"


def apply_request(form: Any, payload: dict[str, Any], omitted: Any = None) -> list[str]:
    """Fill the form from a stored request (an image's parameters); returns notes on what was kept.

    ``omitted`` names the input images a saved file left out (``saving.omitted_inputs``): the form
    then asks for that image again, as ``--from`` does, instead of silently making a different image.
    """
    options = from_request(payload)
    notes: list[str] = []
    given = next((r for r in (options.image, *options.references) if isinstance(r, bytes)), None)
    if given is not None:
        form.set_reference(given, "the reference of the loaded image")
    elif missing_input(omitted, options) is not None:
        form.set_reference(None)
        form._reference_missing = MISSING
        form.clear_reference.disabled = False
        _show(form.clear_reference, True)
        notes.append(MISSING)
    else:
        form.set_reference(None)
    if options.model:
        known = {value for _, value in form.model.options}
        if options.model not in known and ("/" in options.model or models.find_model(options.model)):
            form.model.options = model_choices(options.model, form.live_models)
        if options.model in {value for _, value in form.model.options}:
            form.model.value = options.model
        else:
            notes.append(f"model {options.model!r} is not a Together model; kept {form.model.value}")
    form.prompt.value = options.prompt or ""
    form.negative.value = options.negative or ""
    if options.width and options.height:
        form.width.value, form.height.value = options.width, options.height
    if f"{ASPECT}{options.aspect_ratio}" in {value for _, value in form.preset.options}:
        form.preset.value = f"{ASPECT}{options.aspect_ratio}"
    form.steps.value = options.steps or 0
    if options.guidance is not None:
        form.guidance.value = options.guidance
    if options.seed is not None:
        form.seed.value, form.lock.value = options.seed, True
    if options.n is not None:
        form.n.value = options.n
    form.loras.value = ", ".join(f"{path}:{scale:g}" for path, scale in options.loras)
    form._apply_model()
    return notes
