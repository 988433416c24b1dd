"""Each image's caption says its own cost and backend (issue 26 item 5): a table of what the provenance
holds and what the student reads."""

from __future__ import annotations

import pytest

from together_magic import ImageRequest, ImageResponse, Provenance
from together_magic.types import ImageProvenance, attach_provenance
from together_magic.types.view import caption_parts

from .test_types import choice_of, encoded

REQUEST = ImageRequest(prompt="a fox", model="black-forest-labs/FLUX.2-dev", seed=5, n=2)


def response(whole: Provenance, own: list[ImageProvenance] | None) -> ImageResponse:
    made = ImageResponse(data=[choice_of(encoded("JPEG"), 0), choice_of(encoded("JPEG"), 1)])
    return attach_provenance(made, whole, own)


def one(seed: int, **facts: object) -> ImageProvenance:
    return ImageProvenance(REQUEST.model_copy(update={"n": 1, "seed": seed}), 0, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("whole", "own", "tails"),
    [
        # A raw n=2 answer: the response's cost shared out, the response's badge on both.
        (Provenance(request=REQUEST, cost=0.04, backend="together"), None,
         [["$0.0200", "together"], ["$0.0200", "together"]]),
        # Through a gateway that fell back for the second image: its own price and badge each.
        (Provenance(request=REQUEST, cost=0.0154, backend="gateway"),
         [one(5, backend="gateway", cost=0.0154), one(6, backend="offline", cost=0.0)],
         [["$0.0154", "gateway"], ["free", "offline"]]),
        # One part from the local store, one made now: the first says cached, the second its price.
        (Provenance(request=REQUEST, cost=0.0154, backend="together"),
         [one(5, backend="together", cost=0.0, cached=True), one(6, backend="together", cost=0.0154)],
         [["cached", "together"], ["$0.0154", "together"]]),
        # A price nobody knows: no cost at all, never a made-up one.
        (Provenance(request=REQUEST, backend="http://127.0.0.1:9/v1"),
         [one(5), one(6, backend="offline")],
         [["custom"], ["offline"]]),
    ],
)  # fmt: skip
def test_each_caption_says_its_own_cost_and_backend(
    whole: Provenance, own: list[ImageProvenance] | None, tails: list[list[str]]
) -> None:
    made = response(whole, own)
    for position, tail in enumerate(tails):
        parts = caption_parts(made, position)
        assert parts[-len(tail) :] == tail, parts
        assert not any(p.startswith("$") for p in parts[: -len(tail)]), parts
