"""The catalogue against Together's list of 2026-10-07, and its per-model rules, through the real HTTP stack.

The ids below are typed from Together's list (skills ``references/images/models.md`` @ 4818f98, "serverless
image models as of 2026-10-07"), not read from the catalogue, so a drift in either shows here. Requests go to
a real ``together-magic serve`` on 127.0.0.1 (plain and ``--strict``), through a recording proxy where the
test must see the body a server received, or through the in-process transport.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic import NotFoundError, Together, models
from together_magic.config import Imagine
from together_magic.errors import OptionError
from together_magic.generation.options import ImagineOptions
from together_magic.generation.plan import build_plan
from together_magic.offline.validate import OfflineAPIError, parse_job

from ..conftest import ROOT, Server

LISTED_2026_10_07 = [
    "openai/gpt-image-2", "openai/gpt-image-1.5", "google/flash-image-2.5", "google/gemini-3-pro-image",
    "google/flash-image-3.1", "google/flash-image-3.1-lite", "black-forest-labs/FLUX.2-pro",
    "black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-flex", "black-forest-labs/FLUX.2-max",
    "black-forest-labs/FLUX.1.1-pro", "black-forest-labs/FLUX.1-kontext-pro",
    "black-forest-labs/FLUX.1-kontext-max", "ByteDance/Seedream-5.0-lite", "ByteDance-Seed/Seedream-4.0",
    "ByteDance-Seed/Seedream-3.0", "Qwen/Qwen-Image-2.0-Pro", "Qwen/Qwen-Image-2.0", "Qwen/Qwen-Image",
    "Wan-AI/Wan2.6-image", "ideogram/ideogram-4.0", "ideogram/ideogram-3.0", "prunaai/p-image-ideogram",
    "RunDiffusion/Juggernaut-pro-flux", "Rundiffusion/Juggernaut-Lightning-Flux",
    "stabilityai/stable-diffusion-xl-base-1.0",
]  # fmt: skip
RETIRED_2026_10_07 = [
    "black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-schnell-Free",
    "black-forest-labs/FLUX.1-dev",
    "black-forest-labs/FLUX.1-dev-lora", "black-forest-labs/FLUX.1-kontext-dev", "google/imagen-4.0-preview",
    "google/imagen-4.0-fast", "google/imagen-4.0-ultra", "HiDream-ai/HiDream-I1-Full",
    "HiDream-ai/HiDream-I1-Dev",
    "HiDream-ai/HiDream-I1-Fast", "Lykon/DreamShaper", "stabilityai/stable-diffusion-3-medium",
]  # fmt: skip
GEMINI_1K = [(1024, 1024), (1248, 832), (832, 1248), (1184, 864), (864, 1184), (896, 1152), (1152, 896),
             (768, 1344), (1344, 768), (1536, 672)]  # fmt: skip
GEMINI_30 = {(w * k, h * k) for k in (1, 2, 4) for w, h in GEMINI_1K}
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"
FLUX2 = ["black-forest-labs/FLUX.2-pro", "black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-flex",
         "black-forest-labs/FLUX.2-max"]  # fmt: skip


@pytest.fixture(scope="module")
def plain() -> Iterator[Server]:
    srv = Server([])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict() -> Iterator[Server]:
    srv = Server(["--strict"])
    yield srv
    srv.stop()


def post(srv: Server, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    spec = models.find_model(str(body["model"]))
    w, h = (1024, 1024) if spec and spec.limits.presets else (256, 256)
    payload = {"prompt": "a fox", "width": w, "height": h, "seed": 1, "response_format": "base64", **body}
    return httpx.post(f"{srv.base_url}/images/generations", json=payload, headers=headers, timeout=60)


# ----------------------------------------------------------------------------------------- the catalogue
def test_the_catalogue_is_togethers_list_of_2026_10_07() -> None:
    assert sorted(models.listed_ids()) == sorted(LISTED_2026_10_07)
    assert sorted(s.id for s in models.MODELS.values() if s.retired) == sorted(RETIRED_2026_10_07)
    for spec in models.MODELS.values():
        assert spec.status in models.STATUSES and re.fullmatch(r"\d{4}-\d\d-\d\d", spec.as_of), spec.id
        assert spec.cite("status").date == "2026-10-07"  # listed, or no longer listed, as of that list
        for fact in ("status", "inputs", "sizes", "steps", "price", "replacement"):
            source = spec.cite(fact)
            assert source.ours or source.third_party or len(source.commit) == 40, (spec.id, fact)
    for model_id in RETIRED_2026_10_07:
        gone = models.MODELS[model_id].retirement
        assert gone is not None and gone.learned == "2026-10-07" and gone.chosen_by == "together-magic"
        assert models.MODELS[gone.replacement].listed and gone.reason  # a listed model, and why
    # the 2026-10-07 entries follow the 2026-10-07 sources; OpenAPI (2026-04-28) never decides for them
    assert {models.find_model(m).cite("inputs").date for m in LISTED_2026_10_07} == {"2026-10-07"}  # type: ignore[union-attr]


def test_the_default_is_listed_cheap_and_takes_seed_and_steps() -> None:
    spec = models.find_model(models.DEFAULT_MODEL)
    assert spec is not None and spec.listed and spec.takes("steps")
    assert spec.default_steps == 20 and spec.cite("steps").where.endswith(
        "generate_image.py"
    )  # Together's script
    assert spec.price.unit == "image" and spec.price.amount is not None
    priced = [s.price.amount for s in models.MODELS.values() if s.listed and s.price.unit == "image"]
    assert spec.price.amount == min(a for a in priced if a is not None)
    assert Imagine().model == models.DEFAULT_MODEL


def test_prices_are_honest() -> None:
    """Billing units per Together; an amount only where someone published one, and it says who."""
    per_mp = {s.id for s in models.MODELS.values() if s.listed and s.price.unit == "megapixel"}
    assert per_mp == {"black-forest-labs/FLUX.1.1-pro", KONTEXT, "black-forest-labs/FLUX.1-kontext-max",
                      "black-forest-labs/FLUX.2-max"}  # fmt: skip
    known = {s.id: s.price.text for s in models.MODELS.values() if s.price.known}
    assert known == {
        "black-forest-labs/FLUX.2-dev": "$0.0154/image (third-party, 2026-10-08)",
        "ByteDance-Seed/Seedream-3.0": "$0.018/image (third-party, 2026-10-08)",
        KONTEXT: "$0.04/MP (third-party, 2026-10-08)",
    }
    assert models.estimate_cost("openai/gpt-image-2", 1024, 1024) is None  # unknown stays unknown
    assert models.estimate_cost(KONTEXT, 1000, 1000) == pytest.approx(0.04)  # MP = w x h / 1,000,000


# ----------------------------------------------------------------------------------------- over HTTP
def test_every_listed_id_answers_offline_as_current(plain: Server) -> None:
    for model_id in LISTED_2026_10_07:
        answer = post(plain, model=model_id)
        assert answer.status_code == 200, (model_id, answer.text[:200])
        assert "x-together-magic-retired" not in answer.headers
        assert answer.json()["model"] == model_id and answer.json()["data"][0]["b64_json"]


def test_every_retired_id_answers_with_the_retirement_visible(plain: Server) -> None:
    for model_id in RETIRED_2026_10_07:
        answer = post(plain, model=model_id)
        replacement = models.MODELS[model_id].replacement
        assert answer.status_code == 200, (model_id, answer.text[:200])
        assert answer.headers["x-together-magic-retired"] == f"{model_id}; use {replacement}"


def test_strict_answers_every_retired_id_as_the_cloud_does(plain: Server, strict: Server) -> None:
    for model_id in RETIRED_2026_10_07:
        for answer in (
            post(strict, model=model_id),
            post(plain, {"x-together-magic-strict": "1"}, model=model_id),
        ):
            assert answer.status_code == 404
            body = answer.json()
            assert set(body) == {"id", "error"} and set(body["error"]) == {"message", "type", "param", "code"}
            assert (body["error"]["type"], body["error"]["code"]) == (
                "invalid_request_error",
                "model_not_available",
            )
            message = body["error"]["message"]
            assert message.startswith(
                f"Unable to access model {model_id}. Please visit https://api.together.ai/"
            )
            assert f"use {models.MODELS[model_id].replacement}." in message
    assert post(strict, model=models.DEFAULT_MODEL).status_code == 200  # listed models are unaffected
    banner = strict.log.read_text()
    assert "retired models: 404, as the cloud" in banner


def test_the_client_is_strict_when_asked_in_process_and_over_http(
    plain: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for base_url in ("offline", plain.base_url):
        client = Together(base_url=base_url, strict=True, max_retries=0)
        with client, pytest.raises(NotFoundError) as caught:
            client.images.generate(prompt="a fox", model="google/imagen-4.0-fast", width=256, height=256)
        assert caught.value.code == "model_not_available"
        assert "use google/flash-image-3.1-lite" in str(caught.value)
    monkeypatch.setenv("TOGETHER_MAGIC_STRICT", "1")
    with Together(base_url="offline") as client, pytest.raises(NotFoundError):
        client.images.generate(prompt="a fox", model="Lykon/DreamShaper", width=256, height=256)
    assert Imagine().strict


def test_the_client_says_once_per_model_that_it_is_retired(
    plain: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from together_magic.client import base

    base._retired_noticed.clear()
    with Together(base_url=plain.base_url) as client:
        for model_id in (
            "black-forest-labs/FLUX.1-dev",
            "black-forest-labs/FLUX.1-dev",
            "HiDream-ai/HiDream-I1-Dev",
        ):
            client.images.generate(prompt="a fox", model=model_id, width=256, height=256)
        client.images.generate(prompt="a fox", model=models.DEFAULT_MODEL, width=256, height=256)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and len(lines) == 2 and all(line.startswith("together-magic: ") for line in lines)
    assert "FLUX.1-dev is retired" in lines[0] and "use black-forest-labs/FLUX.2-dev instead" in lines[0]
    assert "HiDream-I1-Dev is retired" in lines[1]


def test_loras_are_refused_on_flux2_naming_the_deprecation(plain: Server) -> None:
    for model_id in FLUX2:
        answer = post(plain, model=model_id, image_loras=[{"path": "a/lora", "scale": 0.8}])
        error = answer.json()["error"]
        assert answer.status_code == 400 and error["param"] == "image_loras", model_id
        assert (
            error["message"].startswith("Unsupported use of 'image_loras'")
            and "deprecated" in error["message"]
        )
        with pytest.raises(OptionError, match=r"^--lora: LoRA image generation is no longer available"):
            build_plan(ImagineOptions(prompt="x", model=model_id, loras=(("a/lora", 0.8),)), config=Imagine())


class _Recorder(BaseHTTPRequestHandler):
    """Forwards every request to ``upstream`` and keeps each JSON body it saw."""

    upstream = ""
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).bodies.append(json.loads(raw))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.post(f"{self.upstream}{self.path}", content=raw, headers=headers, timeout=60)
        self.send_response(answer.status_code)
        for name in ("content-type", "x-request-id"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


def test_flux2_dev_and_flex_guidance_goes_out_as_guidance_scale(plain: Server, tmp_path: Path) -> None:
    """What the server received from the CLI (the magic's own plan and client) over HTTP."""
    _Recorder.upstream, _Recorder.bodies = f"http://127.0.0.1:{plain.port}", []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "TOGETHER_BASE_URL": f"http://127.0.0.1:{proxy.server_address[1]}"}  # fmt: skip
        for model_id in ("black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-flex"):
            done = subprocess.run(
                [sys.executable, "-m", "together_magic", "generate", "a fox", "-m", model_id, "-g", "5",
                 "--seed", "3", "--size", "256x256", "--save", str(tmp_path / "out")],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0 and done.stderr == "", done.stderr
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert [(b["model"], b["guidance_scale"], "guidance" in b) for b in _Recorder.bodies] == [
        ("black-forest-labs/FLUX.2-dev", 5.0, False),
        ("black-forest-labs/FLUX.2-flex", 5.0, False),
    ]


def test_gemini_takes_exactly_its_30_sizes(plain: Server) -> None:
    gemini = "google/gemini-3-pro-image"
    spec = models.MODELS[gemini]
    assert {(w, h) for _, w, h in spec.limits.presets} == GEMINI_30 and len(spec.limits.presets) == 30
    for width, height in sorted(GEMINI_30):
        answer = post(plain, model=gemini, width=width, height=height, response_format="url")
        assert answer.status_code == 200, (width, height, answer.text[:200])
        build_plan(ImagineOptions(prompt="x", model=gemini, width=width, height=height), config=Imagine())
    # sizes the older catalogue offered, which Together does not list
    for width, height in ((848, 1264), (1264, 848), (896, 1200), (1200, 896), (768, 1376), (2752, 1536)):
        assert post(plain, model=gemini, width=width, height=height).status_code == 400


@settings(max_examples=150, deadline=None)
@given(st.integers(32, 768).map(lambda k: k * 8), st.integers(32, 768).map(lambda k: k * 8))
def test_gemini_refuses_every_other_size_and_suggests_only_its_own(width: int, height: int) -> None:
    if (width, height) in GEMINI_30:
        return
    gemini = "google/gemini-3-pro-image"
    with pytest.raises(OfflineAPIError) as refused:
        parse_job({"prompt": "x", "model": gemini, "width": width, "height": height})
    assert refused.value.status == 400
    with pytest.raises(OptionError) as caught:
        build_plan(ImagineOptions(prompt="x", model=gemini, width=width, height=height), config=Imagine())
    suggested = {
        tuple(map(int, s.split("x"))) for s in re.findall(r"\d+x\d+", str(caught.value).split("try ")[1])
    }
    assert suggested and suggested <= GEMINI_30, str(caught.value)


def test_kontext_takes_exactly_five_aspect_ratios(plain: Server) -> None:
    for ratio in ("1:1", "16:9", "9:16", "4:3", "3:2"):
        answer = post(plain, model=KONTEXT, aspect_ratio=ratio, width=None, height=None)
        assert answer.status_code == 200, ratio
    for ratio in ("2:3", "3:4", "21:9"):
        answer = post(plain, model=KONTEXT, aspect_ratio=ratio, width=None, height=None)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "aspect_ratio", ratio


def test_prompt_upsampling_only_on_flux2_pro() -> None:
    pro = build_plan(
        ImagineOptions(prompt="x", model="black-forest-labs/FLUX.2-pro", upsample=False), config=Imagine()
    )
    assert pro.request.payload()["prompt_upsampling"] is False
    assert models.MODELS["black-forest-labs/FLUX.2-pro"].limits.upsample  # on by default there
    for model_id in [m for m in LISTED_2026_10_07 if m != "black-forest-labs/FLUX.2-pro"]:
        assert not models.MODELS[model_id].limits.upsample
        with pytest.raises(
            OptionError,
            match=r"does not take prompt_upsampling; models that do: black-forest-labs/FLUX\.2-pro$",
        ):
            build_plan(ImagineOptions(prompt="x", model=model_id, upsample=True), config=Imagine())


def test_negative_prompt_only_where_documented() -> None:
    assert models.models_taking("negative_prompt") == ["black-forest-labs/FLUX.1.1-pro"]


def test_no_notebook_names_a_retired_model() -> None:
    """Notebooks teach what the cloud serves; the one retired id left is 04's strict demonstration."""
    allowed = {("04-python-api.ipynb", "black-forest-labs/FLUX.1-schnell")}
    short = {spec.short_name: spec for spec in models.MODELS.values()}
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for word in re.findall(r"[\w.-]+/[\w.-]+|[\w.-]+", source):
                spec = models.find_model(word) or short.get(word)
                if spec is not None and spec.retired and (path.name, spec.id) not in allowed:
                    found.append((path.name, word))
    assert not found, found


def test_info_models_and_the_cli_say_status_source_date_and_retirement(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "together_magic", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)

    info = cli("info", "--models")
    assert info.returncode == 0 and info.stderr == ""
    lines = info.stdout.splitlines()
    dev = next(line for line in lines if line.startswith("black-forest-labs/FLUX.2-dev "))
    assert "listed; $0.0154/image (third-party, 2026-10-08); source 2026-10-07" in dev
    schnell = next(line for line in lines if line.startswith("black-forest-labs/FLUX.1-schnell "))
    assert "retired 2026-10-07, use black-forest-labs/FLUX.2-dev; not served" in schnell
    assert "sources:" in lines and any("models.md @ 4818f98 (2026-10-07)" in line for line in lines)
    made = cli("generate", "a fox", "-m", "google/imagen-4.0-ultra", "-s", "1", "--size", "256x256",
               "--save", str(tmp_path / "out"))  # fmt: skip
    assert made.returncode == 0 and made.stderr == ""
    notes = [line for line in made.stdout.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {models.retirement_notice('google/imagen-4.0-ultra')}"]
    assert "use google/gemini-3-pro-image instead" in notes[0]
