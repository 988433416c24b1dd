"""metadata is a codec: any record goes into PNG and JPEG bytes and comes back equal, the pixels untouched,
and the image browsers people use (A1111's PNG-info, Pillow, exiftool's rules) read the infotext."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from together_magic.imagefiles.a1111 import a1111_parameters
from together_magic.imagefiles.containers import ImageFileError, TruncatedImageError
from together_magic.imagefiles.metadata import (
    DamagedRecipeError,
    NoRecipeError,
    embed,
    extract,
    read_recipe,
)

from .test_a1111 import check_a1111_reads, payloads


def encode(fmt: str, size: tuple[int, int] = (48, 32), **options: Any) -> bytes:
    image = Image.new("RGB", size)
    image.putdata([((x * 5) % 256, (x * 11) % 256, 90) for x in range(size[0] * size[1])])
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


IMAGES = {"PNG": encode("PNG"), "JPEG": encode("JPEG", quality=90)}


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.tobytes()


def exif_comment(data: bytes) -> bytes | None:
    """UserComment as Pillow sees it (the raw tag, as A1111's piexif path gets it)."""
    with Image.open(io.BytesIO(data)) as img:
        value = img.getexif().get_ifd(0x8769).get(0x9286)
    return bytes(value) if value is not None else None


def piexif_load(raw: bytes) -> str:
    """piexif.helper.UserComment.load, which A1111 uses: an 8-byte charset prefix, UNICODE = UTF-16-BE."""
    prefix, body = raw[:8], raw[8:]
    codec = {
        b"UNICODE\x00": "utf_16_be",
        b"ASCII\x00\x00\x00": "ascii",
        b"JIS\x00\x00\x00\x00\x00": "shift_jis",
    }
    return body.decode(codec[prefix], errors="replace")


def segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, body) of a JPEG's segments up to SOS, walked independently of our code."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out


records = st.fixed_dictionaries(
    {"request": payloads},
    optional={
        "index": st.integers(0, 3),
        "elapsed": st.floats(0, 100, allow_nan=False),
        "cached": st.booleans(),
        "saved": st.lists(st.text(max_size=40), max_size=3),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records, fmt=st.sampled_from(sorted(IMAGES)))
def test_any_record_round_trips_and_a1111_reads_it(record: dict[str, Any], fmt: str) -> None:
    original = IMAGES[fmt]
    data = embed(original, record)
    assert extract(data) == record
    assert pixels(data) == pixels(original)
    index = record.get("index", 0)
    if fmt == "PNG":
        with Image.open(io.BytesIO(data)) as img:
            text = img.text["parameters"]  # type: ignore[attr-defined]
        check_a1111_reads(text, record["request"], index)
        return
    comment = exif_comment(data)
    infotext = a1111_parameters(record["request"], index)
    if len(infotext.encode("utf-16-be")) + 8 + 44 + 6 <= 0xFFFF - 2:
        assert comment is not None and comment.startswith(b"UNICODE\x00")
        check_a1111_reads(piexif_load(comment), record["request"], index)
    else:  # an infotext over 64 kB cannot be an EXIF segment: left out, the JSON has everything
        assert comment is None


def test_huge_prompts_round_trip_in_jpeg_over_several_segments() -> None:
    from together_magic.models import PROMPT_MAX

    record = {
        "request": {"prompt": "\x01🦊" * (PROMPT_MAX // 2), "negative_prompt": "\x02文" * (PROMPT_MAX // 2)}
    }
    data = embed(IMAGES["JPEG"], record)
    assert extract(data) == record
    ours = [body for marker, body in segments(data) if marker == 0xFE]
    assert len(ours) > 1 and all(len(body) <= 0xFFFF - 2 for body in ours)


def test_lone_surrogates_survive_in_the_record(tmp_path: Path) -> None:
    record = {"request": {"prompt": "a\ud800b", "seed": 1, "model": "m"}}
    for fmt, image in IMAGES.items():
        data = embed(image, record)
        assert extract(data) == record, fmt
        assert pixels(data) == pixels(image)


def test_pillow_and_a1111_see_the_exif_user_comment() -> None:
    request = {"prompt": "a fox 🦊", "seed": 7, "steps": 4, "width": 256, "height": 256, "model": "m"}
    data = embed(IMAGES["JPEG"], {"request": request})
    raw = exif_comment(data)
    assert raw is not None
    assert raw[:8] == b"UNICODE\x00" and raw[8:10] == b"\x00a"  # UTF-16 big-endian, as piexif writes it
    assert piexif_load(raw) == a1111_parameters(request)
    tiff = next(body for marker, body in segments(data) if marker == 0xE1)[6:]
    assert tiff[:4] == b"MM\x00\x2a"  # big-endian TIFF: the byte order exiftool and PHP then use too
    markers = [marker for marker, _ in segments(data)]
    assert markers[0] == 0xE0 and markers[1] == 0xE1  # JFIF APP0 stays first, EXIF right after it


@pytest.mark.parametrize("order", ["<", ">"])
def test_an_existing_exif_block_keeps_its_tags(order: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00old comment"
    image = Image.new("RGB", (40, 20), (9, 9, 9))
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    original = out.getvalue()
    if order == "<":  # rewrite as little-endian, as many cameras write
        original = embed_order_little(original)
    record = {"request": {"prompt": "new", "seed": 3, "model": "m"}}
    data = embed(original, record)
    with Image.open(io.BytesIO(data)) as img:
        seen = img.getexif()
        assert seen[0x0112] == 6 and seen[0x010F] == "Camera maker"
    raw = exif_comment(data)
    assert raw is not None and piexif_load(raw) == a1111_parameters(record["request"])
    assert [m for m, _ in segments(data)].count(0xE1) == 1
    assert extract(data) == record and pixels(data) == pixels(original)


def embed_order_little(jpeg: bytes) -> bytes:
    """The same JPEG with its EXIF block rewritten little-endian by Pillow."""
    with Image.open(io.BytesIO(jpeg)) as img:
        exif = img.getexif()
        exif.endian = "<"
        pixels_ = img.copy()
    out = io.BytesIO()
    pixels_.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    data = out.getvalue()
    assert next(body for marker, body in segments(data) if marker == 0xE1)[6:8] == b"II"
    return data


def test_embedding_again_replaces_what_was_there() -> None:
    for fmt, image in IMAGES.items():
        first = embed(image, {"request": {"prompt": "one", "seed": 1, "model": "m"}, "index": 1})
        second = embed(first, {"request": {"prompt": "two", "seed": 2, "model": "m"}})
        assert extract(second) == {"request": {"prompt": "two", "seed": 2, "model": "m"}}, fmt
        assert (
            second == embed(image, {"request": {"prompt": "two", "seed": 2, "model": "m"}}) or fmt == "JPEG"
        )
        if fmt == "PNG":
            with Image.open(io.BytesIO(second)) as img:
                assert img.text["parameters"].startswith("two\n")  # type: ignore[attr-defined]
            assert second.count(b"iTXtparameters") == 1 and second.count(b"iTXttogether_magic") == 1
        else:
            raw = exif_comment(second)
            assert raw is not None and piexif_load(raw).startswith("two\n")
            assert [m for m, _ in segments(second)].count(0xE1) == 1


def test_a_record_too_big_for_a_jpeg_drops_its_biggest_fields_first() -> None:
    data_url = "data:image/png;base64," + "A" * 2_000_000
    references = ["data:image/png;base64," + "B" * 300_000]
    record = {
        "request": {"prompt": "keep me", "seed": 5, "image_url": data_url, "reference_images": references},
        "index": 2,
    }
    jpeg = embed(IMAGES["JPEG"], record)
    back = extract(jpeg)
    assert back == {
        "request": {"prompt": "keep me", "seed": 5},
        "index": 2,
        "dropped": ["request.image_url", "request.reference_images"],
    }
    assert len(jpeg) < len(IMAGES["JPEG"]) + 300_000
    assert extract(embed(IMAGES["PNG"], record)) == record  # PNG chunks have room for everything


def test_other_formats_come_back_unchanged() -> None:
    for fmt in ("GIF", "WEBP"):
        image = encode(fmt)
        assert embed(image, {"request": {"prompt": "x"}}) == image
    assert embed(b"not an image", {"request": {}}) == b"not an image"


def test_cut_images_are_refused_rather_than_spliced() -> None:
    for image in IMAGES.values():
        with pytest.raises(TruncatedImageError, match=r"^the image is truncated$"):
            embed(image[: len(image) // 3], {"request": {"prompt": "x"}})


def test_hostile_records_are_damaged_not_crashes(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("together_magic", "[" * 100_000)
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="PNG", pnginfo=info)
    with pytest.raises(DamagedRecipeError, match=r"^the image has a damaged together_magic recipe$"):
        extract(out.getvalue())


def test_a_huge_hostile_infotext_is_read_in_linear_time() -> None:
    for line in ("a" * 1_000_000, "k: " + '"x, ' * 250_000, "a b-c/d " * 120_000):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "prompt\n" + line)
        out = io.BytesIO()
        Image.new("RGB", (4, 4)).save(out, format="PNG", pnginfo=info)
        started = time.perf_counter()
        record = extract(out.getvalue())
        assert time.perf_counter() - started < 2.0
        assert record is not None and record["request"]["prompt"].startswith("prompt\n")


def test_files_written_by_a1111_and_others_are_read() -> None:
    text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768"
    expected = {
        "prompt": "a cat",
        "negative_prompt": "dog",
        "steps": 20,
        "guidance_scale": 7.0,
        "seed": 42,
        "width": 512,
        "height": 768,
    }
    image = Image.new("RGB", (16, 16))
    for how in ("tEXt", "zTXt", "iTXt"):
        info = PngImagePlugin.PngInfo()
        if how == "tEXt":
            info.add_text("parameters", text)  # what A1111 does for Latin-1 text
        else:
            info.add_text("parameters", text, zip=how == "zTXt")
            if how == "iTXt":
                info = PngImagePlugin.PngInfo()
                info.add_itxt("parameters", text, zip=True)
        out = io.BytesIO()
        image.save(out, format="PNG", pnginfo=info)
        assert extract(out.getvalue())["request"] == expected, how  # type: ignore[index]
    for fmt in ("JPEG", "WEBP"):  # A1111 writes EXIF UserComment for both, through piexif
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
        out = io.BytesIO()
        image.save(out, format=fmt, exif=exif.tobytes())
        assert extract(out.getvalue())["request"] == expected, fmt  # type: ignore[index]


def test_old_files_of_ours_are_still_read() -> None:
    """Before this codec, JPEGs had one COM segment straight after SOI (before JFIF)."""
    record = {"request": {"prompt": "old", "seed": 9, "model": "m"}, "index": 0}
    comment = b"together_magic:" + json.dumps(record).encode()
    jpeg = IMAGES["JPEG"]
    old = jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]
    assert extract(old) == record


def test_compressed_text_bombs_are_not_inflated() -> None:
    bomb = zlib.compress(b"\x00" * 40_000_000, 9)  # inflates past the 16 MB cap
    body = b"parameters\x00\x00" + bomb
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    png = IMAGES["PNG"]
    data = png[:33] + chunk + png[33:]
    started = time.perf_counter()
    assert extract(data) is None
    assert time.perf_counter() - started < 1.0


@settings(max_examples=400, deadline=None)
@given(
    fmt=st.sampled_from(sorted(IMAGES)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_damaged_files_never_crash_the_reader(
    fmt: str, edits: list[tuple[float, int]], cut: float | None
) -> None:
    data = bytearray(embed(IMAGES[fmt], {"request": {"prompt": "p, q", "seed": 1, "model": "m"}, "index": 1}))
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(len(data) * cut)]
    try:
        found = extract(bytes(data))
    except DamagedRecipeError as exc:
        assert "\n" not in str(exc)
    else:
        assert found is None or isinstance(found, dict)


# --- Files -----------------------------------------------------------------------------------------------


def test_read_record(tmp_path: Path) -> None:
    request = {"prompt": "fox", "seed": 4, "steps": 3, "width": 256, "height": 256, "model": "m/x"}
    path = tmp_path / "fox.jpg"
    path.write_bytes(embed(IMAGES["JPEG"], {"request": request, "index": 0}))
    assert read_recipe(path) == {"request": request, "index": 0}
    png = tmp_path / "fox.png"
    png.write_bytes(embed(IMAGES["PNG"], {"request": request, "index": 2}))
    assert read_recipe(png) == {"request": request, "index": 2}


def record_file_cases(folder: Path) -> dict[str, tuple[Path, type[Exception], str]]:
    def png_with(key: str, text: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text(key, text)
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info)
        return out.getvalue()

    files = {
        "plain.png": (IMAGES["PNG"], NoRecipeError, "{} holds no generation parameters"),
        "plain.gif": (encode("GIF"), NoRecipeError, "{} holds no generation parameters"),
        "garbled.png": (png_with("together_magic", "{not json"), DamagedRecipeError, "{} has a damaged"),
        "list.png": (png_with("together_magic", "[1, 2]"), DamagedRecipeError, "{} has a damaged"),
        "cut.png": (
            embed(IMAGES["PNG"], {"request": {"prompt": "x"}})[:-40],
            TruncatedImageError,
            "{} is trunc",
        ),
        "empty.jpg": (b"", ImageFileError, "{} is empty"),
        "text.png": (b"prompt: a fox", ImageFileError, "{} is not a JPEG, PNG, WebP or GIF image"),
    }
    cases = {}
    for name, (data, error, message) in files.items():
        (folder / name).write_bytes(data)
        cases[name] = (folder / name, error, message.replace("{}", str(folder / name)))
    (folder / "dir.png").mkdir()
    cases["folder"] = (folder / "dir.png", ImageFileError, f"{folder / 'dir.png'} is a folder")
    cases["missing"] = (folder / "nope.png", FileNotFoundError, f"{folder / 'nope.png'} does not exist")
    return cases


def test_read_record_refuses_in_one_line(tmp_path: Path) -> None:
    for name, (path, error, message) in record_file_cases(tmp_path).items():
        with pytest.raises(error) as caught:
            read_recipe(path)
        assert isinstance(caught.value, ValueError), name
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value), name
