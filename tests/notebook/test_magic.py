"""``%%imagine`` in a real in-process IPython shell, against the offline backend."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from PIL import Image

import together_magic as tm
from together_magic.generation import loop
from together_magic.offline import BackendOptions, shared_backend

from ..conftest import Server
from ..shells import magic_shell

SENTINEL = "tm-magic-sentinel-key-51515151"
PRO = "black-forest-labs/FLUX.1.1-pro"  # the model Together documents negative_prompt for


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "cache", forget=("r_", "img")) as shell:
        yield shell


def run(ip: InteractiveShell, cell: str) -> Any:
    """Run a cell; fail the test on any error, and return the cell's result."""
    result = ip.run_cell(cell)
    if not result.success:
        raise AssertionError(f"cell failed: {result.error_before_exec or result.error_in_exec!r}")
    return result.result


def usage_error(ip: InteractiveShell, cell: str) -> str:
    """Run a cell that must fail with a one-line message and no traceback; return what the user saw."""
    with capture_output() as captured:
        result = ip.run_cell(cell)
    assert not result.success
    shown = (captured.stdout + captured.stderr).strip()
    assert "Traceback" not in shown and len(shown.splitlines()) == 1, shown
    return shown


# ----------------------------------------------------------------------------- options -> request


def test_options_become_one_request(ip: InteractiveShell, tmp_path: Path) -> None:
    response = run(
        ip,
        "%%imagine -m black-forest-labs/FLUX.2-flex -n 2 -s 7 --size 512x384 --steps 3 "
        "-g 5.5 --format png -p disable_safety_checker=true "
        "-p loras='[1, 2]' -p strength=0.5 -p tag=v1 -o r_opts\n"
        "  a red fox in a snowy forest  \n",
    )
    request = response.request
    assert request.payload() == {
        "prompt": "a red fox in a snowy forest",
        "model": "black-forest-labs/FLUX.2-flex",
        "seed": 7,
        "n": 2,
        "width": 512,
        "height": 384,
        "steps": 3,
        "guidance_scale": 5.5,
        "output_format": "png",
        "response_format": "base64",
        "disable_safety_checker": True,
        "loras": [1, 2],
        "strength": 0.5,
        "tag": "v1",
    }
    assert ip.user_ns["r_opts"] is response
    assert [c.format for c in response.data] == ["png", "png"]
    assert response.data[0].size == (512, 384)


def test_aspect_ratio_and_editing_send_what_the_model_takes(ip: InteractiveShell, tmp_path: Path) -> None:
    Image.new("RGB", (64, 48), (200, 40, 40)).save(tmp_path / "fox.png")
    edit = run(
        ip,
        "%%imagine --aspect-ratio 16:9 -m black-forest-labs/FLUX.1-kontext-pro "
        f"--image {tmp_path / 'fox.png'} -s 2\nmake it snow",
    )
    body = edit.request.payload()
    assert body["aspect_ratio"] == "16:9" and "width" not in body and "height" not in body
    assert body["image_url"].startswith("data:image/png;base64,") and "reference_images" not in body
    assert edit.data[0].size == (1344, 768)  # the model's standard 16:9 size
    flux2 = run(
        ip,
        f"%%imagine -m black-forest-labs/FLUX.2-dev --size 512x512 --image {tmp_path / 'fox.png'} "
        f"--reference {tmp_path / 'fox.png'} -g 4 -s 2\nfox",
    ).request.payload()
    assert (
        len(flux2["reference_images"]) == 2 and "image_url" not in flux2
    )  # FLUX.2 dev takes references only
    assert flux2["guidance_scale"] == 4 and "guidance" not in flux2 and "prompt_upsampling" not in flux2
    pro = run(ip, "%%imagine -m black-forest-labs/FLUX.2-pro --size 512x512 --no-upsample -s 2\nfox")
    assert pro.request.payload()["prompt_upsampling"] is False  # on unless sent false: FLUX.2 pro only
    wide = run(ip, "%%imagine -m black-forest-labs/FLUX.2-pro --aspect-ratio 16:9 -s 2\nfox")
    assert (wide.request.width, wide.request.height) == (1344, 768)  # no aspect_ratio there: its size instead
    shown = usage_error(ip, f"%%imagine -m openai/gpt-image-2 --image {tmp_path / 'fox.png'}\nx")
    assert "takes no image input; models that do: black-forest-labs/FLUX.1-kontext-max" in shown


def test_width_height_and_defaults_from_config(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Imagine.size = '256x256'")
    ip.run_line_magic("config", "Imagine.model = 'black-forest-labs/FLUX.1-schnell-Free'")
    response = run(ip, "%%imagine -W 320 -s 1\nsea")
    assert (response.request.width, response.request.height) == (320, 256)
    assert response.request.model == "black-forest-labs/FLUX.1-schnell-Free"


def test_a_retired_model_runs_with_one_grey_line_once_per_model(ip: InteractiveShell) -> None:
    """The seeds' own example still runs offline, and the cell says, once per model per kernel, that the
    model is retired and what to use instead: a grey line (display data, never stderr)."""
    from together_magic.display import status

    status._retired_noticed.clear()
    shown = []
    for model in (
        "black-forest-labs/FLUX.1-schnell-Free",
        "black-forest-labs/FLUX.1-schnell-Free",
        "Lykon/DreamShaper",
    ):
        with capture_output() as captured:
            run(ip, f"%%imagine -m {model} --size 256x256 -s 1 --no-display\nsea")
        assert captured.stderr == ""
        shown.append(
            [o.data["text/plain"] for o in captured.outputs if "is retired" in o.data.get("text/plain", "")]
        )
    assert [len(lines) for lines in shown] == [1, 0, 1]
    assert "use black-forest-labs/FLUX.2-dev instead" in shown[0][0]
    assert "opacity:.75" in captured.outputs[-1].data["text/html"]  # grey, small
    assert "use stabilityai/stable-diffusion-xl-base-1.0 instead" in shown[2][0]


def test_strict_makes_a_retired_model_the_clouds_404(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Imagine.strict = True")
    shown = usage_error(ip, "%%imagine -m black-forest-labs/FLUX.1-schnell --size 256x256 -s 1\nsea")
    assert shown.startswith("NotFoundError: 404 invalid_request_error: Unable to access model")
    assert (
        "black-forest-labs/FLUX.1-schnell is retired" in shown and "use black-forest-labs/FLUX.2-dev" in shown
    )
    run(ip, "%%imagine --size 256x256 -s 1 --no-display\nsea")  # listed models are unaffected


def test_line_magic_takes_a_quoted_prompt(ip: InteractiveShell) -> None:
    response = run(ip, '%imagine "a lake at dawn" --size 256x256 -s 2')
    assert response.request.prompt == "a lake at dawn"


def test_reference_image_from_file_variable_and_response(ip: InteractiveShell, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(buffer, format="PNG")
    path = tmp_path / "ref.png"
    path.write_bytes(buffer.getvalue())
    ip.user_ns["img_ref"] = Image.new("RGB", (32, 32), (0, 200, 0))
    kontext = "-m black-forest-labs/FLUX.1-kontext-pro"
    from_file = run(ip, f"%%imagine {kontext} --size 256x256 -s 3 --image {path}\nsea")
    from_var = run(ip, f"%%imagine {kontext} --size 256x256 -s 3 --image img_ref\nsea")
    assert from_file.request.model_extra["image_url"].startswith("data:image/png;base64,")
    assert from_file.image_bytes() == from_var.image_bytes()
    ip.user_ns["img_prev"] = from_file
    assert run(ip, f"%%imagine {kontext} --size 256x256 -s 3 --image img_prev\nsea").data
    flux2 = run(ip, "%%imagine -m black-forest-labs/FLUX.2-dev --size 512x512 -s 3 --image img_ref\nsea")
    assert flux2.request.model_extra["reference_images"][0].startswith("data:image/png;base64,")


# ----------------------------------------------------------------------------- prompt and seeds


def test_interpolation_in_loops_and_literal_braces(ip: InteractiveShell) -> None:
    ip.user_ns["img_subjects"] = ["fox", "owl"]
    run(
        ip,
        "r_loop = []\nfor s in img_subjects:\n"
        "    r_loop.append(get_ipython().run_line_magic(\n"
        "        'imagine', '\"a {{ s }} in {x} forest\" --size 256x256 -s 1'))",
    )
    prompts = [r.request.prompt for r in ip.user_ns["r_loop"]]
    assert prompts == ["a fox in {x} forest", "a owl in {x} forest"]
    ip.user_ns["img_n"] = 3
    response = run(
        ip, "%%imagine --size 256x256 --seed {{ img_n * 2 }}\n{{ img_subjects[1] }} and {{ 1 + 1 }}"
    )
    assert response.request.prompt == "owl and 2" and response.request.seed == 6
    literal = run(ip, "%%imagine --size 256x256 -s 1 --no-interpolate\nkeep {{ this }}")
    assert literal.request.prompt == "keep {{ this }}"
    shown = usage_error(ip, "%%imagine --size 256x256\na {{ missing_name }}")
    assert "{{ missing_name }} in the prompt failed: NameError" in shown and "--no-interpolate" in shown


def test_random_seed_is_drawn_sent_and_shown(ip: InteractiveShell) -> None:
    first = run(ip, "%%imagine --size 256x256\nsnow")
    second = run(ip, "%%imagine --size 256x256\nsnow")
    assert isinstance(first.request.seed, int) and first.request.seed != second.request.seed
    assert first.image_bytes() != second.image_bytes()
    assert f"seed {first.request.seed}" in first._repr_mimebundle_()[0]["text/plain"]
    again = run(ip, f"%%imagine --size 256x256 -s {first.request.seed}\nsnow")
    assert again.image_bytes() == first.image_bytes()


# ----------------------------------------------------------------------------- display and namespace


def test_result_is_returned_once_and_bound(ip: InteractiveShell) -> None:
    with capture_output() as captured:
        result = ip.run_cell("%%imagine -n 3 -s 1 --size 256x256 -o r_bound\nmoon")
    assert result.success
    # nothing displayed on the side but, once per kernel, the offline notice; the result is the one display
    side = [o for o in captured.outputs if "offline backend" not in str(o.data.get("text/plain"))]
    assert side == []
    assert captured.stdout.count("ImageResponse: 3 images") == 1
    assert ip.user_ns["_"] is result.result is ip.user_ns["r_bound"]
    data, metadata = result.result._repr_mimebundle_()
    html = data["text/html"]
    assert html.count("<img ") == 3 and 'alt="moon"' in html and html.count("<figcaption") == 3
    assert metadata["together_magic"]["seed"] == 1
    assert metadata["together_magic"]["request"]["prompt"] == "moon"


def test_no_display_binds_without_showing(ip: InteractiveShell) -> None:
    with capture_output() as captured:
        result = ip.run_cell("%%imagine --no-display -o r_quiet --size 256x256 -s 1\nmoon")
    assert result.success and result.result is None
    assert "ImageResponse" not in captured.stdout
    assert ip.user_ns["r_quiet"].data


def test_previews_respect_the_preview_size(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Imagine.preview_size = 200")
    response = run(ip, "%%imagine -s 1 --size 1024x512\ncity")
    html = response._repr_mimebundle_()[0]["text/html"]
    assert 'width="200" height="100"' in html
    terminal = response._repr_mimebundle_(include={"text/plain"})[0]
    assert set(terminal) == {"text/plain"}


# ----------------------------------------------------------------------------- saving and reproducing


def test_save_embeds_parameters_and_from_reproduces(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run(
        ip,
        f'%%imagine -m {PRO} -n 2 -s 11 --size 256x256 --negative "rain" --save {out} --format png\n'
        "A Fox / ../../x",
    )
    paths = first.saved_paths
    # each image is named by its own seed: image k of "-n 2 -s 11" is seed 11 + k
    assert [p.name for p in paths] == ["a-fox-x-s11.png", "a-fox-x-s12.png"]
    assert all(p.parent == out for p in paths)
    assert "saved" in first._repr_mimebundle_()[0]["text/plain"]
    again = run(
        ip,
        f"%%imagine -m {PRO} -n 2 -s 11 --size 256x256 --negative rain --save {out} --format png\n"
        "A Fox / ../../x",
    )
    assert again.saved_paths == paths  # the same images again: found, not copied
    other = run(
        ip,
        f"%%imagine -m {PRO} -s 11 --size 256x256 --negative snow --save {out} --format png\nA Fox / ../../x",
    )
    assert [p.name for p in other.saved_paths] == ["a-fox-x-s11-1.png"]  # another picture: never overwrites
    assert sorted(p.name for p in out.iterdir()) == [
        "a-fox-x-s11-1.png",
        "a-fox-x-s11.png",
        "a-fox-x-s12.png",
    ]
    request = tm.read_parameters(paths[1])
    assert request == first.data[1].provenance.request and request.seed == 12 and request.n == 1
    with Image.open(paths[0]) as img:
        assert img.text["parameters"].startswith("A Fox / ../../x\nNegative prompt: rain\n")
        assert "Seed: 11, Size: 256x256" in img.text["parameters"]
    rerun = run(ip, f"%imagine --from {paths[1]}")
    assert rerun.image_bytes() == [first.data[1].image_bytes()]


def test_jpeg_save_round_trip(ip: InteractiveShell, tmp_path: Path) -> None:
    response = run(ip, f"%%imagine -s 4 --size 256x256 --save {tmp_path}\nsunset")
    path = response.saved_paths[0]
    assert path.suffix == ".jpg" and path.read_bytes()[:2] == b"\xff\xd8"
    assert tm.read_parameters(path).seed == 4
    changed = run(ip, f"%imagine --from {path} --seed 5")
    assert changed.request.seed == 5 and changed.request.prompt == "sunset"


# ----------------------------------------------------------------------------- cache


def test_seeded_requests_are_cached(
    ip: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_BASE_URL", "offline")
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    stats = shared_backend().stats
    first = run(ip, "%%imagine -s 21 --size 256x256\nforest")
    before = stats["requests"]
    second = run(ip, "%%imagine -s 21 --size 256x256\nforest")
    assert stats["requests"] == before and second.cached and not first.cached
    assert second.image_bytes() == first.image_bytes()
    assert "cached" in second._repr_mimebundle_()[0]["text/plain"]
    third = run(ip, "%%imagine -s 21 --size 256x256 --no-cache\nforest")
    assert stats["requests"] == before + 1 and not third.cached
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file():
            assert SENTINEL.encode() not in entry.read_bytes()


def test_cache_is_bounded(ip: InteractiveShell, tmp_path: Path) -> None:
    ip.run_line_magic("config", "Imagine.cache_size_mb = 1")
    for seed in range(8):
        run(ip, f"%%imagine -s {seed} --size 768x768\nmeadow with flowers")
    total = sum(p.stat().st_size for p in (tmp_path / "cache" / "images").iterdir())
    assert 0 < total <= 1_000_000


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%%imagine --seeed 3\nx", "unknown option --seeed; did you mean --seed?"),
        ("%%imagine --colour red\nx", "unknown option --colour"),
        ("%%imagine --size 10x\nx", "--size must look like WIDTHxHEIGHT"),
        ("%%imagine --size 1000x1001\nx", "multiple of 8 between 256 and 1920 for black-forest-labs/FLUX.2-"),
        ("%%imagine --size 500x500\nx", "--size 500x500: width and height must each be a multiple of 8"),
        ("%%imagine --size 500x500\nx", "; try 496x496 or 504x504"),
        ("%%imagine -W 500 -H 512\nx", "--width must be a multiple of 8 between 256 and 1920 for black-"),
        ("%%imagine -W 500 -H 512\nx", "got 500; try 496 or 504"),
        ("%%imagine -n 5\nx", "--n must be between 1 and 4 for black-forest-labs/FLUX.2-dev, got 5"),
        ("%%imagine -n two\nx", "--n must be a whole number, got 'two'"),
        ("%%imagine -g abc\nx", "--guidance must be a number, got 'abc'"),
        ("%%imagine --steps 99\nx", "--steps must be between 1 and 50"),
        ("%%imagine --format gif\nx", "--format must be jpeg or png, got 'gif'"),
        ("%%imagine -p nokey\nx", "--param expects KEY=VALUE"),
        ("%%imagine -p x='{bad json'\nx", "not valid JSON"),
        ("%%imagine -p x=nan\nx", "-p x: 'nan' is not a number JSON can carry"),
        (
            "%%imagine -m black-forest-labs/FLUX.1-kontext-pro --image /no/such/file.png\nx",
            "--image: no file",
        ),
        (
            "%%imagine -m openai/gpt-image-2 --image x.png\nx",
            "--image: openai/gpt-image-2 takes no image input; models",
        ),
        (
            "%%imagine --negative x -m black-forest-labs/FLUX.2-pro\nx",
            "--negative: black-forest-labs/FLUX.2-pro",
        ),
        ("%%imagine --aspect-ratio 5:7\nx", "--aspect-ratio must be one of 1:1, 16:9"),
        ("%%imagine --lora a --lora b --lora c -m black-forest-labs/FLUX.1-dev-lora\nx", "--lora: at most 2"),
        ("%%imagine --lora a\nx", "--lora: LoRA image generation is no longer available"),
        (
            "%%imagine --upsample\nx",
            "--upsample: black-forest-labs/FLUX.2-dev does not take prompt_upsampling",
        ),
        (
            "%%imagine -m black-forest-labs/FLUX.1-kontext-pro --aspect-ratio 2:3\nx",
            "one of 1:1, 16:9, 9:16, 4:3, 3:2",
        ),
        ("%%imagine\n   \n", "the prompt is empty"),
        ("%%imagine --size 512x512 -W 10\nx", "either --size or --width/--height"),
        ("%%imagine -o 9lives\nx", "--out must be a Python variable name"),
        ("%%imagine fox\na fox", "the prompt goes in the cell body"),
        ("%imagine --from /no/such.png", "--from: no file"),
        ("%%imagine -s -4\nx", "--seed must be between 0 and"),
        ("%%imagine -p seed=abc\nx", "--seed: Input should be a valid integer"),
        ("%%imagine -p negative_prompt=5\nx", "--negative: Input should be a valid string, got '5'"),
        ('%%imagine --negative "open\nx', "check the quotes"),
    ],
)
def test_user_mistakes_are_one_line(ip: InteractiveShell, cell: str, expected: str) -> None:
    shown = usage_error(ip, cell)
    assert shown.startswith("UsageError: ") and expected in shown, shown


def test_api_errors_are_one_line_with_advice(
    ip: InteractiveShell, start_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = start_server("--require-key", "the-right-key")
    monkeypatch.setenv("TOGETHER_BASE_URL", srv.base_url)
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    shown = usage_error(ip, "%%imagine --size 256x256 -o r_never\nfox")
    assert shown.startswith("AuthenticationError: 401") and "getpass.getpass()" in shown
    assert "%env" not in shown  # %env would echo the key into the saved notebook and the history
    assert SENTINEL not in shown and "r_never" not in ip.user_ns
    monkeypatch.setenv("TOGETHER_API_KEY", "the-right-key")
    shown = usage_error(ip, "%%imagine -m black-forest-labs/NOPE\nfox")
    assert "404" in shown and "models Together lists (together_magic.list_models() shows them all)" in shown
    shown = usage_error(ip, "%%imagine -m black-forest-labs/FLUX.2-de\nfox")
    assert "did you mean black-forest-labs/FLUX.2-dev?" in shown
    ip.run_line_magic("config", "Imagine.timeout = 0.2")
    ip.run_line_magic("config", "Imagine.max_retries = 0")
    monkeypatch.setenv("TOGETHER_BASE_URL", "offline")
    backend = shared_backend()
    saved = backend.options
    backend.options = BackendOptions(latency=1.0)
    try:
        shown = usage_error(ip, "%%imagine --size 256x256\nfox")
    finally:
        backend.options = saved
    assert "0.2 s read timeout" in shown and "%config Imagine.timeout" in shown
    assert shown.count("timeout = ") == 1  # the advice once, not twice


# ----------------------------------------------------------------------------- loops and interrupts


def test_runs_on_ipythons_own_loop(ip: InteractiveShell) -> None:
    from IPython.core.async_helpers import get_asyncio_loop

    run(ip, "%%imagine --size 256x256 -s 1\nfox")
    ipython_loop = get_asyncio_loop()
    entry = loop._clients.get(ipython_loop)
    assert entry is not None and entry[1].offline
    assert not [t for t in asyncio.all_tasks(ipython_loop) if not t.done()]


def test_ctrl_c_cancels_promptly(ip: InteractiveShell, backend_latency: Callable[[float], None]) -> None:
    from IPython.core.async_helpers import get_asyncio_loop

    backend_latency(5.0)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C sends
    started = time.perf_counter()
    timer.start()
    with capture_output() as captured:
        result = ip.run_cell("%%imagine --size 256x256 -o r_cancelled\nfox")
    elapsed = time.perf_counter() - started
    assert isinstance(result.error_in_exec, loop.ImagineCancelled)
    assert elapsed < 1.5, elapsed
    assert "generation cancelled" in captured.stdout + captured.stderr
    assert "Traceback" not in captured.stdout + captured.stderr
    assert "r_cancelled" not in ip.user_ns
    assert not [t for t in asyncio.all_tasks(get_asyncio_loop()) if not t.done()]
    backend_latency(0.0)
    assert run(ip, "%%imagine --size 256x256 -s 1 -o r_after\nfox").data


def test_inside_a_running_loop_uses_a_worker_thread(ip: InteractiveShell) -> None:
    async def main() -> Any:
        return ip.run_cell("%%imagine --size 256x256 -s 1 -o r_thread\nfox")

    result = asyncio.run(main())
    assert result.success and ip.user_ns["r_thread"].data


# ----------------------------------------------------------------------------- configuration and unloading


def test_config_listing_never_shows_a_key(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    with capture_output() as captured:
        ip.run_cell("%config Imagine")
    assert "Imagine.model" in captured.stdout and "Imagine.preview_size" in captured.stdout
    assert SENTINEL not in captured.stdout
    with capture_output():
        ip.run_cell("%config Imagine.n = 9")  # IPython logs a TraitError raised by %config
    assert "Imagine.n must be between 1 and 4, got 9" in caplog.text
    assert ip.magics_manager.registry["ImagineMagics"].settings.n == 1


def test_ipython_config_sets_defaults(tmp_path: Path) -> None:
    shell = InteractiveShell.instance()
    shell.config.Imagine.model = "black-forest-labs/FLUX.2-flex"
    shell.config.Imagine.size = "320x256"
    try:
        shell.run_line_magic("load_ext", "together_magic")
        shell.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path)!r}")
        response = run(shell, "%%imagine -s 1\nfox")
        assert response.request.model == "black-forest-labs/FLUX.2-flex"
        assert (response.request.width, response.request.height) == (320, 256)
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
        del shell.config["Imagine"]


def test_help_lists_every_option(ip: InteractiveShell) -> None:
    """What ``%%imagine?`` and Shift+Tab show: IPython's own inspector, which reads a ``getdoc()``."""
    from IPython.core import oinspect

    doc = oinspect.getdoc(ip.magics_manager.magics["cell"]["imagine"])
    assert doc is not None and doc.startswith("::\n\n  %imagine ")  # the magic_arguments usage line
    for flag in (
        "--model",
        "--seed",
        "--size",
        "--negative",
        "--param",
        "--save",
        "--from",
        "--no-interpolate",
    ):
        assert flag in doc


def test_unload_removes_everything() -> None:
    shell = InteractiveShell.instance()
    before = (
        len(shell.input_transformers_cleanup),
        len(shell.events.callbacks["pre_run_cell"]),
        len(shell.events.callbacks["post_run_cell"]),
    )
    shell.run_line_magic("load_ext", "together_magic")
    assert "imagine" in shell.magics_manager.magics["cell"]
    shell.run_line_magic("unload_ext", "together_magic")
    after = (
        len(shell.input_transformers_cleanup),
        len(shell.events.callbacks["pre_run_cell"]),
        len(shell.events.callbacks["post_run_cell"]),
    )
    assert after == before
    assert not [c for c in shell.configurables if type(c).__name__ in ("Imagine", "ImagineMagics")]
    assert "ImagineMagics" not in shell.magics_manager.registry
    assert "imagine" not in shell.magics_manager.magics["cell"]
    assert "imagine" not in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "together_magic")  # and it loads again
    assert "imagine" in shell.magics_manager.magics["line"]
    shell.run_line_magic("unload_ext", "together_magic")


def test_line_magic_inside_a_function_sees_its_locals(ip: InteractiveShell) -> None:
    run(
        ip,
        "def img_make(subject, seed):\n"
        '    response = %imagine "a {{ subject }} at night" --size 256x256 --seed {{ seed }}\n'
        "    return response\n"
        "r_fn = [img_make('fox', 1), img_make('owl', 2)]",
    )
    assert [(r.request.prompt, r.request.seed) for r in ip.user_ns["r_fn"]] == [
        ("a fox at night", 1),
        ("a owl at night", 2),
    ]
