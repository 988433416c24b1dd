"""Names built from prompts stay inside their folder; writes are atomic and never replace a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from together_magic.files import atomic_write_new, safe_stem, unique_path


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",
        "/abs/path",
        "a\x00b",
        "..",
        ".hidden",
        "C:\\windows\\system32",
        "x" * 500,
        "狐狸 🦊",
        "",
    ],
)
def test_safe_stem_cannot_leave_the_folder(text: str, tmp_path: Path) -> None:
    stem = safe_stem(text)
    assert stem and len(stem) <= 80
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem and ".." not in stem
    assert not stem.startswith(".")
    assert (tmp_path / stem).resolve().parent == tmp_path.resolve()


def test_safe_stem_is_readable() -> None:
    assert safe_stem("A Red Fox, in the Snow!") == "a-red-fox-in-the-snow"
    assert safe_stem("Café crème") == "cafe-creme"


def test_unique_path_and_atomic_write(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "a", ".png") == tmp_path / "a.png"
    first = atomic_write_new(tmp_path / "a.png", b"1")
    second = atomic_write_new(tmp_path / "a.png", b"2")
    assert (first.name, second.name) == ("a.png", "a-1.png")
    assert first.read_bytes() == b"1" and second.read_bytes() == b"2"
    assert unique_path(tmp_path, "a", ".png") == tmp_path / "a-2.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-1.png", "a.png"]
