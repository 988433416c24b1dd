"""``client.models.list()``: the image models a server lists, through the real httpx stack."""

from __future__ import annotations

import pytest

from together_magic import AsyncTogether, AuthenticationError, Together
from together_magic.models import MODELS

from ..cloud_helpers import ADDED, DROPPED, REPRICED, Cloud, cloud

__all__ = ["cloud"]

pytestmark = pytest.mark.anyio


def test_the_offline_backend_lists_the_listed_catalogue() -> None:
    with Together(base_url="offline", announce_offline=False) as client:
        listed = client.models.list()
    assert [m.id for m in listed] == [s.id for s in MODELS.values() if s.listed]
    dev = listed[0]
    assert (dev.display_name, dev.organization, dev.price, dev.unit) == (
        "FLUX.2 [dev]", "Black Forest Labs", 0.0154, "image"
    )  # fmt: skip


async def test_a_simulated_cloud_is_listed_with_its_key_and_only_its_image_models(cloud: Cloud) -> None:
    async with AsyncTogether(api_key=cloud.key, base_url=cloud.root) as client:
        listed = {m.id: m for m in await client.models.list()}
    assert set(ADDED) <= set(listed) and DROPPED not in listed and "acme/chatter" not in listed
    assert listed[REPRICED[0]].price == REPRICED[1] and listed[ADDED[1]].price == 0.003
    assert listed[ADDED[0]].price is None  # pricing all 0: not published
    with (
        Together(api_key="sk-wrong", base_url=cloud.root) as wrong,
        pytest.raises(AuthenticationError) as info,
    ):
        wrong.models.list()
    assert info.value.status_code == 401 and "sk-wrong" not in str(info.value)
