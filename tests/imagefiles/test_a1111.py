"""The infotext we write is the one AUTOMATIC1111 writes, and what A1111 reads back from it is the request.

``a1111_read`` below is an independent reader written from A1111's rules
(``modules/infotext_utils.py::parse_generation_parameters``), not from our code, so the two can disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic.imagefiles.a1111 import a1111_parameters, parse_a1111
from together_magic.models import MODELS, PROMPT_MAX

_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def a1111_read(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, settings) exactly as A1111's infotext parser finds them."""
    prompt = ""
    negative_prompt = ""
    done_with_prompt = False
    *lines, lastline = text.strip().split("\n")
    if len(_RE_PARAM.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    found: dict[str, str] = {}
    for key, value in _RE_PARAM.findall(lastline):
        if value[0] == '"' and value[-1] == '"':
            value = json.loads(value)
        found[key] = value
    return prompt, negative_prompt, found


def a1111_sees(text: str) -> str:
    """What A1111 shows for a prompt it reads: every line stripped, leading blank space gone (the text is
    stripped as a whole, and the prompt starts it)."""
    return "\n".join(line.strip() for line in text.lstrip().split("\n"))


def ambiguous(text: str) -> bool:
    """A line starting "Negative prompt:" inside a prompt cannot be told apart in A1111's format."""
    return any(line.strip().startswith("Negative prompt:") for line in text.split("\n"))


prompt_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("ab ,:\n\"'\\\t🦊éNegativ prompt")), max_size=120),
    st.just("x" * PROMPT_MAX),
    st.just("🦊" * PROMPT_MAX),
    st.sampled_from(
        ["a, b, c", "Steps: 4, Seed: 1, Size: 1x1", "line\n\nline", " padded ", "Negative prompt: x"]
    ),
)
model_ids = st.one_of(
    st.sampled_from(sorted(MODELS)), st.sampled_from(["org/m:v2", "a, b", '"quoted"', " spaced ", "x\ny"])
)
payloads = st.fixed_dictionaries(
    {"prompt": prompt_text},
    optional={
        "negative_prompt": prompt_text,
        "steps": st.integers(1, 50),
        "guidance_scale": st.one_of(st.floats(0, 30, allow_nan=False), st.integers(0, 30)),
        "seed": st.integers(0, 2**32 - 1),
        "width": st.integers(32, 240).map(lambda k: k * 8),
        "height": st.integers(32, 240).map(lambda k: k * 8),
        "model": model_ids,
        "n": st.integers(1, 4),
        "response_format": st.sampled_from(["b64_json", "url"]),
        "output_format": st.sampled_from(["jpeg", "png"]),
    },
)


def check_a1111_reads(text: str, payload: dict[str, Any], index: int) -> None:
    """A1111's reader finds the request's prompt, negative prompt and settings in ``text``."""
    prompt, negative, found = a1111_read(text)
    if not ambiguous(payload["prompt"]):
        assert prompt == a1111_sees(payload["prompt"])
        want_negative = payload.get("negative_prompt") or ""
        if not ambiguous(want_negative):
            assert negative == "\n".join(line.strip() for line in want_negative.split("\n")).lstrip("\n")
    assert len(found) >= 3  # A1111 took the last line as settings, not as more prompt
    expected = {
        "Steps": (payload.get("steps"), None),
        "Seed": (payload.get("seed"), "unknown"),  # sparse requests are padded to A1111's three pairs
        "Model": (payload.get("model"), None),
        "Batch pos": (index or None, "0"),
    }
    for key, (value, padding) in expected.items():
        assert found.get(key) in ((str(value),) if value is not None else (None, padding)), key
    if "guidance_scale" in payload:
        assert float(found["CFG scale"]) == payload["guidance_scale"]
    if "width" in payload and "height" in payload:
        assert found["Size"] == f"{payload['width']}x{payload['height']}"


@settings(max_examples=300, deadline=None)
@given(payload=payloads, index=st.integers(0, 3))
def test_a1111_reads_what_we_write(payload: dict[str, Any], index: int) -> None:
    check_a1111_reads(a1111_parameters(payload, index), payload, index)


@settings(max_examples=300, deadline=None)
@given(payload=payloads, index=st.integers(0, 3))
def test_our_reader_agrees_with_a1111s(payload: dict[str, Any], index: int) -> None:
    text = a1111_parameters(payload, index)
    prompt, negative, found = a1111_read(text)
    record = parse_a1111(text)
    request = record["request"]
    assert request["prompt"] == prompt
    assert request.get("negative_prompt", "") == negative
    assert record["a1111"] == found
    for field in ("steps", "seed", "guidance_scale", "width", "height"):
        assert request.get(field) == payload.get(field) or ({"width", "height"} - payload.keys())
    if payload.get("model"):
        assert request["model"] == payload["model"]
    assert record.get("index", 0) == index


def test_the_layout_is_a1111s() -> None:
    payload = {
        "prompt": "a fox, in snow",
        "negative_prompt": "rain",
        "steps": 4,
        "guidance_scale": 3.5,
        "seed": 11,
        "width": 256,
        "height": 256,
        "model": "black-forest-labs/FLUX.2-dev",
    }
    assert a1111_parameters(payload, 2) == (
        "a fox, in snow\nNegative prompt: rain\n"
        "Steps: 4, CFG scale: 3.5, Seed: 11, Size: 256x256, "
        "Model: black-forest-labs/FLUX.2-dev, Batch pos: 2"
    )
    assert (
        a1111_parameters({"prompt": "p", "model": "m:1"})
        == 'p\nModel: "m:1", Generator: together-magic, Batch pos: 0'
    )
    assert a1111_parameters({"prompt": "p"}) == "p\nGenerator: together-magic, Batch pos: 0, Seed: unknown"


def test_a_real_a1111_infotext_is_read() -> None:
    text = (
        "masterpiece, (fox:1.2), snow\n"
        "BREAK forest\n"
        "Negative prompt: lowres, blurry\n"
        "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3719428383, Size: 832x1216, "
        'Model hash: 7f96a1a9ca, Model: sdxl_base, Lora hashes: "fox: 1a2b3c, snow: 4d5e6f", Version: v1.10.1'
    )
    record = parse_a1111(text)
    assert record["request"] == {
        "prompt": "masterpiece, (fox:1.2), snow\nBREAK forest",
        "negative_prompt": "lowres, blurry",
        "steps": 28,
        "seed": 3719428383,
        "guidance_scale": 7.0,
        "width": 832,
        "height": 1216,
        "model": "sdxl_base",
    }
    assert record["a1111"]["Sampler"] == "DPM++ 2M Karras"
    assert record["a1111"]["Lora hashes"] == "fox: 1a2b3c, snow: 4d5e6f"


def test_a_prompt_only_text_is_all_prompt() -> None:
    assert parse_a1111("just a prompt, with: colons")["request"] == {"prompt": "just a prompt, with: colons"}
    assert parse_a1111("Steps: x, Seed: y, CFG scale: z")["request"] == {"prompt": ""}
