"""The batch manifest: a real SQLite file in the folder, one writer at a time, outcomes in one transaction."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from together_magic.batches.manifest import (
    MANIFEST_NAME,
    FileEntry,
    ItemRow,
    Manifest,
    canonical,
    shown_request,
)
from together_magic.errors import OptionError


def rows(count: int) -> list[ItemRow]:
    return [ItemRow(i, f"key{i}", {"prompt": f"p{i}", "seed": i}) for i in range(count)]


def test_a_batch_round_trips_through_the_file(tmp_path: Path) -> None:
    with Manifest.open(tmp_path / "out") as manifest:
        assert manifest.current_batch() is None
        batch = manifest.new_batch({"options": ["--size", "256x256"]}, "python", rows(3))
        manifest.finish(batch, 1, status="done", files=[FileEntry("p1-s1.jpg", "ab" * 32)], attempts=2)
        manifest.finish(batch, 2, status="failed", files=[], attempts=3, error="500 server_error: boom")
    with Manifest.open(tmp_path / "out", create=False) as manifest:
        assert manifest.current_batch() == batch
        assert manifest.defaults(batch) == {"options": ["--size", "256x256"]}
        assert manifest.counts(batch) == {"pending": 1, "done": 1, "failed": 1}
        items = manifest.items(batch)
    assert [it.status for it in items] == ["pending", "done", "failed"]
    assert items[1].files == (FileEntry("p1-s1.jpg", "ab" * 32, 0),) and items[1].attempts == 2
    assert items[2].error == "500 server_error: boom" and items[0].request == {"prompt": "p0", "seed": 0}
    with sqlite3.connect(tmp_path / "out" / MANIFEST_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_batches_keep_the_old_ones_and_items_can_be_appended(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        first = manifest.new_batch({}, "cli", rows(2))
        manifest.add_items(first, [ItemRow(2, "key2", {"prompt": "p2"})])
        assert len(manifest.items(first)) == 3
        second = manifest.new_batch({"changed": True}, "cli", rows(1))
        assert second > first and manifest.current_batch() == second
        assert len(manifest.items(first)) == 3 and len(manifest.items(second)) == 1


def test_a_second_writer_is_refused_in_one_line(tmp_path: Path) -> None:
    with Manifest.open(tmp_path):
        with pytest.raises(OptionError, match="another process is filling") as info:
            Manifest.open(tmp_path)
        assert "\n" not in str(info.value)
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from together_magic.batches.manifest import Manifest\n"
                "try:\n Manifest.open(sys.argv[1])\nexcept Exception as e: print(e)",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "another process is filling" in other.stdout
    Manifest.open(tmp_path).close()  # released when the holder closes (or dies)


def test_a_file_that_is_not_a_manifest_is_one_line(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(OptionError, match="not a readable manifest"):
        Manifest.open(tmp_path)
    Manifest.open(tmp_path / "fresh").close()  # and the lock was released
    (tmp_path / "file").write_text("x")
    with pytest.raises(OptionError, match="is a file, not a folder"):
        Manifest.open(tmp_path / "file")
    with pytest.raises(OptionError, match="holds no batch"):
        Manifest.open(tmp_path / "missing", create=False)


def test_a_newer_manifest_is_refused(tmp_path: Path) -> None:
    Manifest.open(tmp_path).close()
    with sqlite3.connect(tmp_path / MANIFEST_NAME) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='version'")
    with pytest.raises(OptionError, match="newer together-magic"):
        Manifest.open(tmp_path)


def test_a_bad_status_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        batch = manifest.new_batch({}, "python", rows(1))
        with pytest.raises(ValueError, match="status"):
            manifest.finish(batch, 0, status="half", files=[], attempts=1)
        assert manifest.items(batch)[0].status == "pending"


def test_big_reference_images_are_not_copied_into_the_manifest() -> None:
    payload = {"prompt": "x", "image_url": "data:image/png;base64," + "A" * 10_000}
    shown = shown_request(payload)
    assert shown["prompt"] == "x" and shown["image_url"] == "<10022 characters>"
    assert canonical({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_a_full_disk_or_a_blocked_folder_is_one_line_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    """ENOSPC mid-batch was an sqlite3.OperationalError traceback; a read-only folder an OSError one."""
    with Manifest.open(tmp_path / "out") as manifest:
        batch = manifest.new_batch({}, "python", rows(3))
        manifest.finish(batch, 0, status="done", files=[FileEntry("p0.jpg", "ab")], attempts=1)
        pages = manifest._db.execute("PRAGMA page_count").fetchone()[0]
        manifest._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        with pytest.raises(OptionError, match=r"^--out: cannot write the manifest .*full.*make room") as info:
            manifest.new_batch({}, "python", rows(2000))
        assert "\n" not in str(info.value)
    with Manifest.open(tmp_path / "out") as manifest:  # the file is whole and holds what was committed
        assert manifest.current_batch() == batch and manifest.counts(batch)["done"] == 1
    blocked = tmp_path / "blocked"
    (blocked / "together-magic-batch.lock").mkdir(parents=True)  # something not ours where the lock goes
    with pytest.raises(OptionError, match=r"^--out: cannot write in .*blocked: Is a directory$"):
        Manifest.open(blocked)


@pytest.mark.parametrize(
    "name", [MANIFEST_NAME, f"{MANIFEST_NAME}-wal", f"{MANIFEST_NAME}-shm", "together-magic-batch.lock"]
)
@pytest.mark.parametrize("target_exists", [True, False])
def test_a_planted_symlink_in_the_batch_folder_is_refused_and_its_target_untouched(
    tmp_path: Path, name: str, target_exists: bool
) -> None:
    """Someone who can write in the output folder plants a link where the manifest, its log or its lock
    will be: the batch refuses in one line, and nothing is written where the link points."""
    out, target = tmp_path / "out", tmp_path / "elsewhere" / "precious.txt"
    out.mkdir()
    target.parent.mkdir()
    if target_exists:
        target.write_text("keep me")
    (out / name).symlink_to(target)
    with pytest.raises(OptionError) as info:
        Manifest.open(out)
    message = str(info.value)
    assert message.startswith("--out:") and "symbolic link" in message and "\n" not in message
    assert (target.read_text() == "keep me") if target_exists else not target.exists()
    assert sorted(p.name for p in out.iterdir()) == [name]  # nothing else was made in the folder
