"""generate_many through the real httpx stack (in-process offline backend): items, resume, refusals."""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

import together_magic as tm
from together_magic.batches.manifest import MANIFEST_NAME
from together_magic.config import Imagine
from together_magic.errors import BudgetError, OptionError
from together_magic.imagefiles import metadata
from together_magic.imagefiles.files import safe_stem
from together_magic.offline import shared_backend

SMALL = {"size": "256x256"}
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"


def sent() -> int:
    return int(shared_backend().stats["requests"])


def many(items: object, out: Path, **kwargs: object) -> tm.Batch:
    return tm.generate_many(items, out=out, config=Imagine(), **{**SMALL, **kwargs})


def images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".jpg", ".png"))


def test_prompts_become_images_with_their_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sent()
    batch = many(["a red fox", "an owl", "a red fox"], tmp_path)
    assert sent() - before == 3
    assert len(batch.done) == 3 and not batch.failed and not batch.pending
    assert len(images(tmp_path)) == 3  # the same prompt twice: two seeds, two files
    for item in batch.done:
        (path,) = item.files
        assert path.parent == tmp_path and path.name == f"{safe_stem(item.prompt)}-s{item.seed}.jpg"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256[0]
        assert metadata.read_recipe(path)["request"] == item.request
        assert item.attempts == 1 and item.request["width"] == 256
    summary = batch.summary
    assert (summary.done, summary.failed, summary.made, summary.requests) == (3, 0, 3, 3)
    assert "3 of 3 done" in repr(batch) and summary.cost is not None and summary.cost > 0
    assert capsys.readouterr().err == ""  # no bar and no noise when stderr is not a terminal


def test_running_the_same_call_again_sends_nothing(tmp_path: Path) -> None:
    prompts = [f"a lantern {i}" for i in range(5)]
    first = many(prompts, tmp_path, steps=2)
    before = sent()
    again = many(prompts, tmp_path, steps=2)
    assert sent() == before
    assert [it.files for it in again.done] == [it.files for it in first.done]
    assert again.summary.made == 0 and again.summary.done == 5


def test_a_changed_default_is_refused_unless_new(tmp_path: Path) -> None:
    many(["a kite", "a boat"], tmp_path)
    before = sent()
    with pytest.raises(OptionError) as info:
        many(["a kite", "a boat"], tmp_path, size="512x512")
    message = str(info.value)
    assert "\n" not in message and "width was 256, now 512" in message and "new=True" in message
    assert sent() == before
    with pytest.raises(OptionError, match="item 1: prompt was 'a boat', now 'a ship'"):
        many(["a kite", "a ship"], tmp_path)
    with pytest.raises(OptionError, match="batch of 2 items and this call gives 1"):
        many(["a kite"], tmp_path)
    old = images(tmp_path)
    fresh = many(["a kite", "a boat"], tmp_path, size="512x512", new=True)
    assert len(fresh.done) == 2 and set(old) < set(images(tmp_path))  # nothing was deleted
    assert all(it.request["width"] == 512 for it in fresh.done)


def test_items_appended_later_are_the_only_ones_sent(tmp_path: Path) -> None:
    many(["one", "two"], tmp_path)
    before = sent()
    batch = many(["one", "two", "three"], tmp_path)
    assert sent() - before == 1 and len(batch.done) == 3 and batch.summary.made == 1


def test_dicts_templates_and_per_item_fields(tmp_path: Path) -> None:
    rows = [
        {"animal": "fox", "place": "forest", "seed": 7},
        {"animal": "owl", "place": "barn", "seed": 8, "size": "256x512"},
        {"animal": "cat", "place": "sofa", "steps": 3},
    ]
    batch = many(rows, tmp_path, prompt="a {{ item.animal }} in the {{ item['place'] }}")
    prompts = [it.prompt for it in batch.done]
    assert prompts == ["a fox in the forest", "a owl in the barn", "a cat in the sofa"]
    assert [it.seed for it in batch.done][:2] == [7, 8]
    assert (batch.done[1].request["width"], batch.done[1].request["height"]) == (256, 512)
    assert batch.done[2].request["steps"] == 3 and batch.done[0].request.get("steps") is None
    pro = "black-forest-labs/FLUX.1.1-pro"  # the model that takes a negative prompt
    rows = [
        {"prompt": "a tree", "negative": "snow", "model": pro},
        {"prompt": "a bush", "guidance_scale": 2.5},
    ]
    plain = many(rows, tmp_path / "plain")
    assert (
        plain.done[0].request["negative_prompt"] == "snow" and plain.done[1].request["guidance_scale"] == 2.5
    )


def test_files_as_items(tmp_path: Path) -> None:
    keys = {"a fox": 1, "an owl": 2}.keys()  # a Set too, but ordered: not refused like a set
    assert [it.prompt for it in many(keys, tmp_path / "k").done] == ["a fox", "an owl"]
    (tmp_path / "p.txt").write_text("a fox\n\n  an owl  \n")
    (tmp_path / "p.csv").write_text('prompt,seed,steps\na fox,1,2\n"an owl, at night",2,\n')
    (tmp_path / "p.jsonl").write_text('"a fox"\n{"prompt": "an owl", "seed": 5}\n\n')
    assert [it.prompt for it in many(tmp_path / "p.txt", tmp_path / "t").done] == ["a fox", "an owl"]
    csv_batch = many(str(tmp_path / "p.csv"), tmp_path / "c")
    assert [(it.prompt, it.seed) for it in csv_batch.done] == [("a fox", 1), ("an owl, at night", 2)]
    assert csv_batch.done[0].request["steps"] == 2 and "steps" not in csv_batch.done[1].request
    assert [it.prompt for it in many(tmp_path / "p.jsonl", tmp_path / "j").done] == ["a fox", "an owl"]
    # Excel in a locale whose decimal sign is a comma writes ';' (and a BOM, and CRLF): read as such
    (tmp_path / "excel.csv").write_bytes("\ufeffprompt;seed\r\na fox, at dawn;7\r\n\r\nan owl;8\r\n".encode())
    excel = many(tmp_path / "excel.csv", tmp_path / "x").done
    assert [(it.prompt, it.seed) for it in excel] == [("a fox, at dawn", 7), ("an owl", 8)]


def test_a_dataframe(tmp_path: Path) -> None:
    import pandas  # the test extra installs it (a missing one fails here); the package does not need it

    frame = pandas.DataFrame({"animal": ["fox", "owl"], "seed": [3, None]})
    batch = many(frame, tmp_path, prompt="a {{ item.animal }}")
    assert [it.prompt for it in batch.done] == ["a fox", "a owl"] and batch.done[0].seed == 3
    table = batch.to_pandas()
    assert list(table["status"]) == ["done", "done"] and list(table["prompt"]) == ["a fox", "a owl"]


@pytest.mark.parametrize(
    ("items", "kwargs", "message"),
    [
        ([], {}, "there are no items"),
        ([{"prompt": "x", "sede": 3}], {}, "item 0: unknown field 'sede'; did you mean seed?"),
        ([{"animal": "fox"}], {}, "item 0 has no prompt"),
        (["fox"], {"prompt": "a watercolour"}, "the template has no {{ item }}"),
        ([{"a": 1}], {"prompt": "{{ item.b }}"}, "item 0: {{ item.b }} in the prompt failed: AttributeError"),
        (  # the prompt was "a {'animal': 'fox'} in snow"
            [{"animal": "fox"}],
            {"prompt": "a {{item}} in snow"},
            "item 0: {{ item }} is the whole row (animal); use a field of it, e.g. {{ item.animal }}",
        ),
        (["ok", "x"], {"steps": 99}, "item 0: --steps must be between"),
        (["ok", {"prompt": "x", "seed": "abc"}], {}, "item 1: seed must be a whole number, got 'abc'"),
        ([3], {}, "item 0 is a int; items are prompts"),
        ([{"prompt": "x", "seed": True}], {}, "item 0: seed must be a whole number, got True"),
        ([{"prompt": "x", "guidance": False}], {}, "item 0: guidance must be a number, got False"),
        (["ok"], {"seed": True}, "generate_many: seed must be a whole number, got True"),
        (["ok"], {"steps": False}, "generate_many: steps must be a whole number, got False"),
        ([{"prompt": "x", "image_loras": 5}], {}, "item 0: image_loras must be PATH[:SCALE] text or a list"),
        ([{"prompt": "x", "reference_images": 5}], {}, "item 0: reference_images must be an image path"),
        ([{"prompt": "x", "prompt_upsampling": 5}], {}, "item 0: prompt_upsampling must be true or false"),
        ([{"prompt": "x", "disable_safety_checker": 2}], {}, "disable_safety_checker must be true or false"),
        ("nothing-here.csv", {}, "items: no file"),
        ("notes.md", {}, "not a .txt (one prompt a line), .csv or .jsonl file"),
        ({"prompt": "x"}, {}, "items must be a list of prompts or dicts"),
        ({"a fox", "an owl"}, {}, "items: a set has no order"),  # each process ordered it its own way
        (frozenset({"a fox"}), {}, "items: a set has no order"),
        (["ok"], {"colour": "red"}, "generate_many: unknown field 'colour'"),
        (["ok"], {"concurrency": 0}, "--concurrency must be 1 or more"),
        (["ok"], {"rpm": -1}, "--rpm must be more than 0"),
        ([{"prompt": {"text": "a fox"}}], {}, "item 0: prompt must be text, got a dict"),
        ([{"prompt": ["a", "fox"]}], {}, "item 0: prompt must be text, got a list"),
        (["ok"], {"concurrency": 2.5}, "--concurrency must be a whole number, 1 or more, got 2.5"),
        (["ok"], {"concurrency": "4"}, "--concurrency must be a whole number, 1 or more, got '4'"),
        (["ok"], {"concurrency": True}, "--concurrency must be a whole number, 1 or more, got True"),
        (["ok"], {"rpm": "60"}, "--rpm must be more than 0 requests a minute, got '60'"),
        (["ok"], {"rpm": float("nan")}, "--rpm must be more than 0 requests a minute, got nan"),
    ],
)
def test_mistakes_are_one_line_and_send_nothing(
    tmp_path: Path, items: object, kwargs: dict[str, object], message: str
) -> None:
    before = sent()
    with pytest.raises(OptionError) as info:
        many(items, tmp_path / "out", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert sent() == before


@pytest.mark.parametrize("out", [None, "", "  ", 3])
def test_out_must_name_a_folder(tmp_path: Path, out: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # "" used to mean the current folder: a batch spilled where the user stood
    with pytest.raises(OptionError, match=r"^--out must name a folder for the images and the manifest, got"):
        tm.generate_many(["ok"], out=out, config=Imagine(), **SMALL)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_every_field_of_a_csv_row_reaches_its_request(tmp_path: Path) -> None:
    """A CSV cell is text: a LoRA column was dropped without a word, an upsampling flag of 1 too."""
    (tmp_path / "loras.csv").write_text(
        "prompt,image_loras,disable_safety_checker\n"
        "a fox,https://x.example/a.safetensors:0.5 https://x.example/b.safetensors,1\n"
    )
    lora_model = "black-forest-labs/FLUX.1-dev-lora"  # retired: the only kind that takes LoRAs now
    done = many(tmp_path / "loras.csv", tmp_path / "o", model=lora_model).done
    assert done[0].request["image_loras"] == [
        {"path": "https://x.example/a.safetensors", "scale": 0.5},
        {"path": "https://x.example/b.safetensors", "scale": 1.0},
    ]
    assert done[0].request["disable_safety_checker"] is True


def test_bad_files_name_their_line(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('"ok"\n{not json\n')
    (tmp_path / "wide.csv").write_text("prompt\nx,y\n")
    (tmp_path / "headless.csv").write_text(",\nx,y\n")
    with pytest.raises(OptionError, match=r"line 2 of bad\.jsonl is not JSON"):
        many(tmp_path / "bad.jsonl", tmp_path / "o")
    with pytest.raises(OptionError, match=r"line 2 of wide\.csv has more cells than the header"):
        many(tmp_path / "wide.csv", tmp_path / "o")
    with pytest.raises(OptionError, match="needs a header row"):
        many(tmp_path / "headless.csv", tmp_path / "o")
    (tmp_path / "open.csv").write_text('prompt\n"a fox\nan owl\na cat\n')  # was one prompt of 3 lines
    with pytest.raises(
        OptionError, match=r"^items: line 2 of open\.csv cannot be read as CSV \(.*check its quotes$"
    ):
        many(tmp_path / "open.csv", tmp_path / "o")
    (tmp_path / "long.csv").write_text("prompt\n" + "a" * 200_000 + "\n")  # was a _csv.Error traceback
    with pytest.raises(
        OptionError, match=r"^items: line 2 of long\.csv cannot be read as CSV \(field larger"
    ):
        many(tmp_path / "long.csv", tmp_path / "o")
    (tmp_path / "latin.txt").write_bytes("a fox\na caf\u00e9 owl\n".encode("latin-1"))
    with pytest.raises(
        OptionError, match=r"^items: line 2 of latin\.txt is not UTF-8 text .*save the file as UTF-8$"
    ):
        many(tmp_path / "latin.txt", tmp_path / "o")
    (tmp_path / "flag.jsonl").write_text('{"prompt": "a fox", "seed": true}\n')  # was sent as seed 1
    with pytest.raises(OptionError, match=r"^line 1 of flag\.jsonl: seed must be a whole number, got True$"):
        many(tmp_path / "flag.jsonl", tmp_path / "o")


def test_files_written_before_a_crash_are_adopted_not_asked_again(tmp_path: Path) -> None:
    first = many(["a comet", "a moon", "a star"], tmp_path)
    names = images(tmp_path)
    # As if the process had died after writing the files but before recording them.
    with sqlite3.connect(tmp_path / MANIFEST_NAME) as db:
        db.execute("UPDATE items SET status='pending', files='[]'")
    before = sent()
    again = many(["a comet", "a moon", "a star"], tmp_path)
    assert sent() == before and again.summary.adopted == 3
    assert images(tmp_path) == names
    assert [it.sha256 for it in again.done] == [it.sha256 for it in first.done]


def test_several_images_per_item_each_with_its_own_seed(tmp_path: Path) -> None:
    batch = many(["a bell"], tmp_path, n=2, seed=40)
    (item,) = batch.done
    assert [p.name for p in item.files] == ["a-bell-s40.jpg", "a-bell-s41.jpg"]
    assert [metadata.read_recipe(p)["request"]["seed"] for p in item.files] == [40, 41]


def test_the_budget_is_checked_before_anything_is_sent(tmp_path: Path) -> None:
    before = sent()
    with pytest.raises(BudgetError, match="this batch would cost about"):
        tm.generate_many(["a"] * 20, out=tmp_path, config=Imagine(budget=0.0001), **SMALL)
    rows = [{"prompt": "a", "model": "ideogram/ideogram-4.0"}, {"prompt": "b"}]  # no price published
    with pytest.raises(BudgetError, match=r"^this batch uses ideogram/ideogram-4\.0 whose price is unknown"):
        tm.generate_many(rows, out=tmp_path / "unpriced", config=Imagine(budget=100.0), **SMALL)
    assert sent() == before


def test_the_display_is_one_page_of_thumbnails(tmp_path: Path) -> None:
    batch = many([f"a pebble {i}" for i in range(30)], tmp_path, size="256x256")
    data, _ = batch._repr_mimebundle_()
    assert data["text/html"].count("<figure") == 24 and "page 1 of 2" in data["text/html"]
    assert ".page(2) shows the next" in data["text/html"]
    second, _ = batch.page(2)._repr_mimebundle_()
    assert second["text/html"].count("<figure") == 6
    with pytest.raises(ValueError, match="page must be between 1 and 2"):
        batch.page(3)
    assert len(json.dumps(data)) < 24 * 20_000  # small previews, not full images


def test_a_second_process_cannot_fill_the_same_folder(tmp_path: Path) -> None:
    from together_magic.batches.manifest import Manifest

    with Manifest.open(tmp_path), pytest.raises(OptionError, match="another process is filling"):
        many(["x"], tmp_path)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


def test_batch_images_are_in_the_history_each_reproducible_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's promise: every generation, batches included, is in the history, each image with the
    request that makes it alone (its own seed) and where it was saved (a path valid from anywhere)."""
    config = Imagine(cache_dir=str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    out = Path("set")
    batch = tm.generate_many(["a bell", "a kite"], out=out, config=config, n=2, seed=70, **SMALL)
    assert len(batch.done) == 2
    found = tm.history(config=config)
    assert {r.source for r in found} == {"batch"}
    seeds = sorted(choice.seed for r in found for choice in r.response.data or [])
    assert seeds == [70, 70, 71, 71]  # each item: 70 and 71, one record per request
    on_disk = {p.name: pixels(p.read_bytes()) for item in batch.done for p in item.files}
    for record in found:
        (choice,) = record.response.data or []
        own = choice.provenance.request
        assert own is not None and own.n == 1 and own.seed == choice.seed
        name = f"{safe_stem(own.prompt)}-s{own.seed}.jpg"
        assert pixels(choice.image_bytes()) == on_disk[name]  # the batch's picture (files embed parameters)
        assert [Path(p) for p in record.generation.saved_paths] == [tmp_path / "set" / name]
    before = sent()
    again = tm.generate_many(["a bell"], out=tmp_path / "elsewhere", config=config, n=2, seed=70, **SMALL)
    assert len(again.done) == 1 and sent() - before == 2  # a batch is a batch: it asks (and resumes)
    assert len(tm.history(config=config)) == 6
    unrecorded = Imagine(cache_dir=str(tmp_path / "off"), cache_size_mb=0)  # 0 turns recording off
    tm.generate_many(["a drum"], out=tmp_path / "drum", config=unrecorded, **SMALL)
    assert len(tm.history(config=unrecorded)) == 0
    private = Imagine(cache_dir=str(tmp_path / "private"), history=False)  # its seeds are drawn: no rows
    tm.generate_many(["a secret harp"], out=tmp_path / "harp", config=private, seed=5, **SMALL)
    assert len(tm.history(config=private)) == 0


def test_preset_sizes_work_per_item_and_as_defaults_like_in_the_magic(tmp_path: Path) -> None:
    gemini = "google/gemini-3-pro-image"
    items = [{"prompt": "a dune", "size": "1K"}, {"prompt": "a reef", "size": "2K"}, "a glacier"]
    batch = many(items, tmp_path / "set", model=gemini, size="1K")
    sizes = sorted((item.request["width"], item.request["height"]) for item in batch.done)
    assert len(batch.done) == 3 and sizes[0] == sizes[1] and sizes[2][0] > sizes[0][0]
    with pytest.raises(OptionError, match=r"^item 0: --size must be one of .*got 'huge'$"):
        many([{"prompt": "x", "size": "huge"}], tmp_path / "bad", model=gemini)


def test_each_thumbnails_hover_is_the_cell_that_makes_that_item_alone(tmp_path: Path) -> None:
    """The page shows index, seed and prompt; the model, size and steps were shown nowhere, so a picture
    of the batch could not be made again from what the notebook showed. Its hover is now the whole cell."""
    from IPython.core.interactiveshell import InteractiveShell

    batch = many(["a bell", "a kite"], tmp_path / "o", model="black-forest-labs/FLUX.2-flex", steps=3, seed=5)
    page = batch._repr_mimebundle_()[0]["text/html"]
    titles = [html.unescape(t) for t in re.findall(r'<img [^>]*title="([^"]*)"', page)]
    assert len(titles) == 2
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "together_magic")
    try:
        for item, code in zip(batch.done, titles, strict=True):
            assert code.startswith("%%imagine ") and "--model black-forest-labs/FLUX.2-flex" in code
            result = shell.run_cell(code.replace("%%imagine", "%%imagine --no-display -o made", 1))
            assert result.success
            made = shell.user_ns.pop("made")
            assert pixels(made.image_bytes()[0]) == pixels(item.files[0].read_bytes())
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
    # An image input the manifest keeps only as "<N characters>" is never offered as code to run.
    photo = tmp_path / "photo.png"
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(photo)  # too big to keep inline
    edits = many([{"prompt": "add snow", "image_url": str(photo)}], tmp_path / "e", model=KONTEXT, seed=2)
    assert edits.done[0].request["image_url"].endswith(" characters>")
    page = edits._repr_mimebundle_()[0]["text/html"]
    assert re.findall(r'<img [^>]*title="([^"]*)"', page) == ["add snow"]
