"""Shared helpers for the panel tests: a shell with a private configuration, a panel, its cards."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image, PngImagePlugin

from together_magic import config as tm_config
from together_magic.widgets.panel import ImaginePanel


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    settings = tm_config.Imagine(cache_dir=str(tmp_path / "cache"), save_dir=str(tmp_path / "saved"))
    tm_config.set_current(settings)
    yield ip
    tm_config.set_current(None)
    for name in ("panel_reference", "latest"):
        ip.user_ns.pop(name, None)


def make(shell: InteractiveShell, **kwargs: Any) -> ImaginePanel:
    panel = ImaginePanel(shell=shell, **kwargs)
    panel.prompt.value = "a red fox in a snowy forest"
    panel.width.value, panel.height.value = 320, 256
    return panel


def shown(panel: ImaginePanel) -> list[Any]:
    """The gallery's widgets as the browser orders them (CSS ``order``; children are oldest first)."""
    return sorted(panel.gallery.children, key=lambda widget: int(widget.layout.order))


def card_parts(panel: ImaginePanel, position: int = 0) -> dict[str, Any]:
    """The parts of the card at ``position`` as the gallery shows them (0: the newest)."""
    thumb, caption, actions, note = shown(panel)[position].children
    return {
        "image": thumb.children[0],
        "enlarge": thumb.children[1],
        "caption": caption.value,
        "note": note,
        "buttons": {b.description: b for b in actions.children},
    }


def upload(widget: Any, data: bytes, name: str) -> None:
    """What the browser sends when a file is chosen in a FileUpload."""
    widget.value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "last_modified": datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc),
            "content": memoryview(data),
        },
    )


def png(color: tuple[int, int, int], text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), color).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


async def generate(panel: ImaginePanel) -> None:
    panel.generate.click()
    assert panel.task is not None, panel.status.value
    await panel.task
