"""What the gateway answers and remembers for one request: the admitted request, its wall row, its reply.

Kept apart from ``core`` (the order of decisions) so that the shapes read on their own: Together's success
and error bodies, the wall row (its texts clipped: the wall shows a card, not an archive, and its answer
must stay small however long the prompts), and the refusals' statuses.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from ..client.base import BACKEND_HEADER, CACHE_HEADER
from ..offline.apierror import OfflineAPIError
from ..offline.backend import Reply
from ..offline.reply import error_reply, json_reply
from ..offline.validate import Job
from .ledger import Ask, Refused, WallEntry
from .roster import Student
from .upstream import Made

__all__ = [
    "BACKEND_HEADER",
    "CACHE_HEADER",
    "WALL_NEGATIVE",
    "WALL_PROMPT",
    "Admitted",
    "clip",
    "error",
    "hidden",
    "images_reply",
    "refusal",
    "stored_request",
    "wall_entry",
]

WALL_PROMPT = 400
WALL_NEGATIVE = 200
"""Characters of a prompt and a negative prompt kept on a wall row (a card shows three lines of prompt)."""
STORED_TEXT = 500
"""Characters of each text kept in the class store's copy of a request. The shared cache finds an answer by
the key of the whole request (computed before this), never by these texts, and the student's own answer
and history keep everything; the store's copy (its text index included) is for the teacher's eyes, so a
prompt at the API's limit costs kilobytes of class data, not a megabyte."""


@dataclasses.dataclass(frozen=True)
class Admitted:
    """One admitted request: who, what they sent, what will go upstream, and what it costs."""

    student: Student
    job: Job
    forward: dict[str, Any]
    key: str
    """The cache key of ``forward`` (seeded: the gateway picks a seed when the student gave none)."""
    seeded: bool
    """Whether the student chose the seed: only then may the cache answer (otherwise they want a new one)."""
    ask: Ask
    cost: float | None
    base_url: str
    request_id: str


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stored_request(forward: dict[str, Any]) -> dict[str, Any]:
    """``forward`` as the class store keeps it: the texts clipped to :data:`STORED_TEXT`."""
    kept = dict(forward)
    for name in ("prompt", "negative_prompt"):
        if isinstance(kept.get(name), str):
            kept[name] = clip(kept[name], STORED_TEXT)
    return kept


def wall_entry(req: Admitted, made: Made, generation: int | None, label: str, how: str) -> WallEntry:
    job = req.job
    params: dict[str, Any] = {
        "model": job.model.id,
        "width": job.width,
        "height": job.height,
        "seed": int(req.forward["seed"]),
        "n": len(made.images),
    }
    if job.steps is not None:
        params["steps"] = job.steps
    for name in ("guidance_scale", "guidance", "negative_prompt", "aspect_ratio"):
        if req.forward.get(name) not in (None, ""):
            params[name] = req.forward[name]
    if isinstance(params.get("negative_prompt"), str):
        params["negative_prompt"] = clip(params["negative_prompt"], WALL_NEGATIVE)
    prompt = clip(job.prompt, WALL_PROMPT)
    return WallEntry(req.student.id, generation, len(made.images), prompt, params, label, how, req.key)


def images_reply(
    req: Admitted, images: tuple[bytes, ...], model: str, entry: WallEntry, label: str, cache: str
) -> Reply:
    as_url = req.job.response_format == "url" and entry.generation_id is not None
    data: list[dict[str, Any]] = []
    for index, image in enumerate(images):
        if as_url:
            data.append(
                {"index": index, "type": "url", "url": f"{req.base_url}/shrt/{entry.url_token}-{index}"}
            )
        else:
            data.append(
                {"index": index, "type": "b64_json", "b64_json": base64.b64encode(image).decode("ascii")}
            )
    payload = {"id": req.request_id, "model": model, "object": "list", "data": data}
    return json_reply(
        200, payload, {"x-request-id": req.request_id, BACKEND_HEADER: label, CACHE_HEADER: cache}
    )


def error(request_id: str, err: OfflineAPIError) -> Reply:
    reply = error_reply(request_id, err)
    reply.headers.setdefault("x-request-id", request_id)
    reply.headers.setdefault(BACKEND_HEADER, "gateway")
    return reply


def refusal(verdict: Refused) -> OfflineAPIError:
    kinds = {401: "invalid_request_error", 402: "budget_exceeded", 429: "rate_limit"}
    headers = {"x-should-retry": "false"} if verdict.status != 429 else {}
    if verdict.retry_after is not None:
        headers["retry-after"] = str(int(verdict.retry_after))
    return OfflineAPIError(
        verdict.status,
        verdict.message,
        type=kinds.get(verdict.status, "invalid_request_error"),
        code=verdict.code,
        headers=headers,
    )


def hidden() -> OfflineAPIError:
    """A request whose image the teacher hid from the class (only its maker still gets it)."""
    return OfflineAPIError(
        403,
        "Your teacher hid the image this exact request makes (same prompt, seed and settings) from the "
        "class; change the prompt or the seed.",
        code="hidden_by_teacher",
        headers={"x-should-retry": "false"},
    )
