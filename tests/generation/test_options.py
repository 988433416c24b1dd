"""``ImagineOptions``: typed values from a line, and ``to_line()`` (copy as code) reading back exactly."""

from __future__ import annotations

import dataclasses
import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic.errors import OptionError
from together_magic.generation.flags import OPTIONS
from together_magic.generation.line import _parser, parse_line
from together_magic.generation.options import ImagineOptions, from_request

from ..conftest import MODEL

# Text a single magic line can carry: no line breaks (the line ends there), no surrogates (not sendable).
plain_line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    min_size=1,
    max_size=40,
    # Braces come from line_text below: closed within one value, or opened in one value and closed in
    # another, with any text (quotes and apostrophes too) between them.
).filter(lambda s: s.strip() == s and s != "" and "{{" not in s and "}}" not in s)
# Often with a literal {{ }}: any field, not only the prompt, can hold one (a negative prompt, a -p value...).
line_text = st.one_of(
    plain_line_text,
    st.builds(
        lambda a, b: f"{a} {{{{ {b} }}}}",
        plain_line_text,
        plain_line_text.filter(lambda b: not b.endswith("}")),
    ),
    st.builds(lambda a: f"{a} {{{{", plain_line_text),  # left open here, closed in some other value
    st.builds(lambda a: f"}}}} {a}", plain_line_text),
)
prompt_text = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
    .map(str.strip)
    .filter(bool)
)
identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
json_scalar = st.one_of(st.integers(-(10**9), 10**9), finite, st.booleans(), line_text)
param_value = st.one_of(
    json_scalar, st.lists(json_scalar, max_size=3), st.dictionaries(identifier, json_scalar, max_size=2)
)
reserved = {"prompt", "model", "n", "seed", "width", "height"}


def batch_fields(draw: st.DrawFn, maybe: Any) -> dict[str, Any]:
    """--each and the options that only go with it (a batch)."""
    each = maybe(identifier)
    if each is None:
        return {}
    return {
        "each": each,
        "rpm": maybe(
            st.one_of(st.integers(1, 10**6), st.floats(1 / 60, 1e6).filter(lambda x: not x.is_integer()))
        ),
        "concurrency": maybe(st.integers(1, 512)),
        "retry_failed": draw(st.booleans()),
        "new": draw(st.booleans()),
    }


@st.composite
def options(draw: st.DrawFn) -> ImagineOptions:
    maybe = lambda strategy: draw(st.none() | strategy)  # noqa: E731
    size_given = draw(st.booleans())
    made = ImagineOptions(
        prompt=draw(prompt_text),
        model=maybe(line_text),
        n=maybe(st.integers(-5, 10)),
        seed=maybe(st.integers(0, 2**40)),
        width=None if size_given else maybe(st.integers(1, 5000)),
        height=None if size_given else maybe(st.integers(1, 5000)),
        size=draw(st.sampled_from(["512x512", "2K", "4K 16:9"])) if size_given else None,
        aspect_ratio=maybe(st.sampled_from(["16:9", "1:1", "3:2"])),
        steps=maybe(st.integers(0, 100)),
        negative=maybe(line_text),
        guidance=maybe(finite),
        format=maybe(st.sampled_from(["jpeg", "png"])),
        image=maybe(line_text),
        references=tuple(draw(st.lists(line_text, max_size=2))),
        loras=tuple(draw(st.lists(st.tuples(line_text, st.floats(0, 2)), max_size=2))),
        upsample=maybe(st.booleans()),
        params=tuple(
            draw(
                st.dictionaries(identifier.filter(lambda k: k not in reserved), param_value, max_size=3)
            ).items()
        ),
        save=maybe(line_text),
        **batch_fields(draw, maybe),
        display=draw(st.booleans()),
        cache=draw(st.booleans()),
        from_path=maybe(line_text),
        interpolate=draw(st.booleans()),
    )
    return made  # interpolate as drawn: to_line() itself must decide when --no-interpolate is needed


def texts(value: Any) -> list[str]:
    """Every piece of text in an option value (fields, tuples, -p values, nested lists and dicts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [*texts(k), *texts(v)]]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts(v)]
    return []


def holds_braces(opts: ImagineOptions) -> bool:
    """Judged from the fields, not from ``tokens()``: a copy must keep every ``{{`` literal."""
    return any("{{" in t for f in dataclasses.fields(opts) for t in texts(getattr(opts, f.name)))


def reparse(opts: ImagineOptions) -> ImagineOptions:
    line = opts.to_line()
    assert line.startswith("%%imagine") and "\n" not in line
    return parse_line(line.removeprefix("%%imagine"), opts.prompt, {})


@settings(max_examples=300, deadline=None)
@given(opts=options())
def test_to_line_reads_back_as_the_same_options(opts: ImagineOptions) -> None:
    again = reparse(opts)
    if opts.guidance is not None:  # floats print exactly (repr), so they compare equal
        assert again.guidance is not None and math.isclose(again.guidance, opts.guidance, rel_tol=0)
    # Values holding {{ are literal text here (already interpolated, or typed in the panel): the line must
    # say --no-interpolate, so it reads back as the same values, now marked literal.
    assert again == (opts.replace(interpolate=False) if holds_braces(opts) else opts)


BRACES = "{{ x }}"


def test_an_apostrophe_inside_braces_survives_a_copy() -> None:
    for fields in (
        {"negative": "no {{ don't }}"},
        {"negative": 'say {{ "it\'s" }}', "save": "out/{{ a\\b }}"},
        {"negative": "open {{ here", "save": "closed }} there"},  # one {{ }} across two values
        {"prompt": "{{ x }}", "params": (("note", "{{ it's }}"),)},
    ):
        opts = ImagineOptions(prompt="a fox").replace(**fields)
        assert reparse(opts) == opts.replace(interpolate=False), fields  # braces: copied as text


@pytest.mark.parametrize(
    "field",
    [
        {"prompt": BRACES},
        {"negative": f"no {BRACES}"},
        {"model": f"m/{BRACES}"},
        {"image": f"{BRACES}.png"},
        {"references": (f"{BRACES}.png",)},
        {"loras": ((f"a/{BRACES}", 0.5),)},
        {"params": (("note", f"a {BRACES}"),)},
        {"params": (("tags", [f"a {BRACES}"]),)},
        {"params": (("style", {"name": BRACES}),)},
        {"save": f"out/{BRACES}"},
        {"from_path": f"{BRACES}.png"},
    ],
    ids=lambda f: next(iter(f)),
)
def test_braces_in_any_field_are_copied_literally(field: dict[str, Any]) -> None:
    """Issue 10.10: the panel's copy (``interpolate=True``, text typed literally) with ``{{`` anywhere."""
    opts = ImagineOptions(prompt="a fox", interpolate=True).replace(**field)
    line = opts.to_line()
    assert line.endswith(" --no-interpolate"), line
    assert reparse(opts) == opts.replace(interpolate=False)


@settings(max_examples=100, deadline=None)
@given(body=st.dictionaries(identifier.filter(lambda k: k not in reserved), param_value, max_size=3))
def test_from_request_then_line_sends_the_same_body(body: dict[str, Any]) -> None:
    payload = {"prompt": "a fox", "model": "m/x", "n": 1, "seed": 5, "width": 512, "height": 512, **body}
    opts = from_request(payload)
    again = reparse(opts)
    assert dict(again.params) == {k: v for k, v in body.items() if v is not None}


def test_values_that_would_misread_are_written_safely() -> None:
    tricky = ImagineOptions(
        prompt="a {{ fox }}",
        negative="-starts with a dash",
        params=(("tag", "1"), ("flag", "true"), ("empty", ""), ("spaced", " x "), ("j", "[1]")),
        loras=(("https://huggingface.co/x/y:2", 0.8),),
    )
    line = tricky.to_line()
    assert "--no-interpolate" in line and "'--negative=-starts with a dash'" in line
    assert reparse(tricky.replace(interpolate=False)) == tricky.replace(interpolate=False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-n two", "--n must be a whole number, got 'two'"),
        ("-g abc", "--guidance must be a number, got 'abc'"),
        ("-g inf", "--guidance must be a finite number"),
        ("--format gif", "--format must be jpeg or png, got 'gif'"),
        ("--size 10x", "--size must look like WIDTHxHEIGHT"),
        ("--size 512x512 -W 3", "either --size or --width/--height"),
        ("-o 9x", "--out must be a Python variable name"),
        ("-o class", "--out must be a Python variable name"),
        ("-p x=nan", "-p x: 'nan' is not a number JSON can carry"),
        ("-p x=" + "[" * 50_000, "-p x: the JSON value is nested too deeply"),
        ("-p x=" + "[" * 40 + "]" * 40, "nested more than 32 levels"),
        ("--vary a=1 --vary b=2 --vary c=3 --vary d=4", "--vary takes at most 3 axes"),
        ("--seeed 3", "unknown option --seeed; did you mean --seed?"),
        ("--rpm 60", "--rpm goes with --each"),
        ("--each items --rpm 0", "--rpm must be more than 0 requests a minute, got 0"),
        ("--each items --rpm -2.5", "--rpm must be more than 0 requests a minute, got -2.5"),
        ('--negative "open', "check the quotes"),
        ("x" * 100_001, "at most 100,000 are read"),
    ],
)
def test_typing_errors_name_the_option(line: str, message: str) -> None:
    with pytest.raises(OptionError) as caught:
        parse_line(line, "a fox", {})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_interpolation_happens_once_and_refuses_unsendable_text() -> None:
    ns = {"n": 3, "bad": chr(0xD800)}
    assert parse_line("--seed {{ n * 2 }}", "{{ n }} foxes", ns).replace() == ImagineOptions(
        prompt="3 foxes", seed=6
    )
    with pytest.raises(OptionError, match="U\\+D800"):
        parse_line("", "{{ bad }}", ns)
    with pytest.raises(OptionError, match="U\\+D800"):
        parse_line("--negative {{ bad }}", "x", ns)
    literal = parse_line("--no-interpolate", "keep {{ this }}", ns)
    assert literal.prompt == "keep {{ this }}" and not literal.interpolate


def test_each_keeps_the_body_as_a_template() -> None:
    opts = parse_line("--each items --out folder", "a {{ item }} in watercolour", {"items": [1]})
    assert opts.prompt == "a {{ item }} in watercolour" and opts.each == "items" and opts.out == "folder"


def test_lora_scales_and_urls() -> None:
    opts = parse_line("--lora https://hf.co/a/b --lora c:0.5", "x", {})
    assert opts.loras == (("https://hf.co/a/b", 1.0), ("c", 0.5))


def test_printable_characters_survive_the_round_trip() -> None:
    text = string.punctuation + " äöü 日本 🦊 \t"
    opts = ImagineOptions(prompt="p", negative=text.strip(), params=(("note", text.strip()),))
    assert reparse(opts) == opts


BROKEN_LINES = [
    "no\nnewlines",
    "windows\r\nline end",
    "old mac\rline end",
    "line\u2028separator",
    "paragraph\u2029separator",
    "next line\x85(NEL)",
    "vertical\x0btab",
    "form\x0cfeed",
    "file\x1cgroup\x1drecord\x1eseparators",
    "trailing newline\n",
    'it\'s "quoted"\nand\\escaped\\n',
]


@pytest.mark.parametrize("negative", BROKEN_LINES)
def test_copy_as_code_of_a_negative_prompt_with_a_line_break_is_a_cell_that_runs(
    negative: str, tmp_path: Path
) -> None:
    """A negative prompt (or -p text) holding any character ``str.splitlines`` breaks at: the copied
    cell's magic line stays one line, and running it sends exactly that negative prompt."""
    from IPython.core.interactiveshell import InteractiveShell

    opts = from_request({"prompt": "a fox", "model": MODEL, "seed": 3, "negative_prompt": negative,
                         "width": 256, "height": 256, "note": negative})  # fmt: skip
    cell = opts.to_cell()
    assert cell.splitlines()[0] == opts.to_line() and len(opts.to_line().splitlines()) == 1
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "together_magic")
    shell.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path / 'store')!r}")
    try:
        ran = shell.run_cell(cell.replace("%%imagine", "%%imagine -o copied", 1))
        assert ran.error_in_exec is None and ran.error_before_exec is None, ran
        sent = shell.user_ns["copied"].request
        assert sent.negative_prompt == negative and sent.model_extra["note"] == negative
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
        shell.config.pop("Imagine", None)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("ab '\"\\{}\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")), min_size=1
    )
)
def test_any_text_with_line_breaks_reads_back_from_one_line(text: str) -> None:
    opts = ImagineOptions(prompt="p", negative=text, params=(("note", text),), interpolate=False)
    line = opts.to_line()
    assert len(line.splitlines()) == 1
    again = parse_line(line.removeprefix("%%imagine"), "p", None)
    assert dict(again.params).get("negative_prompt", again.negative) == text
    assert dict(again.params)["note"] == text


VALUE_OPTIONS = [
    flag
    for flags, _ in OPTIONS
    for flag in flags[-1:]
    if flag.startswith("--") and _parser()._option_string_actions[flag].nargs != 0
]


@pytest.mark.parametrize("flag", VALUE_OPTIONS)
@pytest.mark.parametrize("form", ["{flag}=--", "{flag} --"])
def test_a_value_that_is_exactly_two_dashes_is_that_value(flag: str, form: str) -> None:
    """argparse drops a bare ``--``: ``--negative=--`` lost its value (a traceback) and ``--save=--`` saved
    to images/. The text ``--`` is now the option's value: taken as it is, or refused in one line."""
    after = " --n 2" if flag != "--n" else " --seed 3"  # the option after it is still read
    line = form.format(flag=flag) + after
    try:
        options = parse_line(line, "a fox", {})
    except OptionError as exc:
        assert "\n" not in str(exc) and flag.lstrip("-") in str(exc), exc  # refused, naming the option
        return
    assert options.n == 2 or options.seed == 3
    given = [value for value in vars(options).values() if value not in (None, (), False, True, "a fox", 2, 3)]
    assert any("--" in str(value) for value in given), (line, given)
    again = parse_line(options.to_line().removeprefix("%%imagine"), options.prompt, {})
    assert again == options  # copy as code keeps it
