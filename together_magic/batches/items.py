"""What a batch is made of: items from a list, a DataFrame or a file, each turned into ``ImagineOptions``.

An item is a prompt (``str``) or a mapping of request fields (``{"prompt": ..., "seed": 7, "model": ...}``);
a DataFrame gives one mapping per row; a ``.txt`` file one prompt per non-empty line, a ``.csv`` file one
mapping per row (header = field names), a ``.jsonl`` file one prompt or mapping per line. With a template
(the cell body of ``%%imagine --each``, ``prompt=`` in Python, ``--prompt`` on the command line), the
prompt is the template filled per item: ``{{ item }}`` for a prompt, ``{{ item.animal }}`` for a field;
a mapping's other fields that are request fields (``seed``, ``model``...) still apply to that item.

Every mistake is one ``OptionError`` line that says which item (and which line of which file).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, KeysView, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import models
from ..config import parse_size
from ..errors import OptionError
from ..generation.line import INTERPOLATION, check_text, interpolate, parse_lora
from ..generation.options import ImagineOptions, from_request

__all__ = ["Entry", "Item", "load_items", "options_from_fields", "per_item_options"]

FILE_SUFFIXES = (".txt", ".csv", ".jsonl")
INT_FIELDS = frozenset({"seed", "n", "width", "height", "steps"})
FLOAT_FIELDS = frozenset({"guidance_scale", "guidance"})
BOOL_FIELDS = frozenset({"prompt_upsampling", "disable_safety_checker"})
REQUEST_FIELDS = frozenset(
    {"prompt", "model", "seed", "n", "width", "height", "negative_prompt", "response_format"}
    | set(models.INPUTS)
    | {"image_base64", "disable_safety_checker"}
)
ALIASES = {
    "negative": "negative_prompt",
    "format": "output_format",
    "image": "image_url",
    "references": "reference_images",
    "upsample": "prompt_upsampling",
}
EXTRA_HEADERS = "extra_headers"
"""A per-item transport option (as in the Together SDK 2+): sent with the request, not part of it."""
_WHOLE_ITEM = re.compile(r"\{\{\s*item\s*\}\}")
_SIZE_FIELDS = ("width", "height", "size", "aspect_ratio")


class Item(dict[str, Any]):
    """A mapping item that templates read as ``item.animal`` as well as ``item["animal"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            fields = ", ".join(sorted(map(str, self))) or "none"
            raise AttributeError(f"item has no field {name!r} (its fields: {fields})") from None


@dataclass(frozen=True)
class Entry:
    """One item as given, and where it came from (for messages: ``item 3``, ``line 5 of animals.csv``)."""

    index: int
    value: str | Item
    where: str
    headers: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- loading
def load_items(items: Any) -> list[Entry]:
    """Entries from a list, tuple, Series, DataFrame or a path to a .txt/.csv/.jsonl file."""
    if isinstance(items, str | os.PathLike):
        return _from_file(Path(items).expanduser())
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a pandas DataFrame
        _one_of_each([str(c).strip() for c in items.columns], "the DataFrame")
        records = items.to_dict("records")
        return _entries(records, lambda i: f"row {i} of the DataFrame")
    if isinstance(items, Set) and not isinstance(items, KeysView):  # dict keys keep insertion order
        # str hashes differ per process: a resumed batch would see its items in another order
        raise OptionError(
            "items: a set has no order, so a re-run could not tell which item is which; give a list "
            "(e.g. sorted(items))"
        )
    if isinstance(items, Mapping | bytes) or not isinstance(items, Iterable):
        raise OptionError(
            "items must be a list of prompts or dicts, a DataFrame or a .txt/.csv/.jsonl path, "
            f"got a {type(items).__name__}"
        )
    return _entries(list(items), lambda i: f"item {i}")


def _entries(values: list[Any], where: Any) -> list[Entry]:
    entries = [_entry(i, value, where(i)) for i, value in enumerate(values)]
    if not entries:
        raise OptionError("there are no items: give at least one prompt")
    return entries


def _entry(index: int, value: Any, where: str) -> Entry:
    if isinstance(value, str):
        return Entry(index, check_text(value.strip(), where), where)
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, raw in value.items():
            item = _plain(raw)
            if item is not None:
                cleaned[str(key)] = item
        headers = cleaned.pop(EXTRA_HEADERS, None) or {}
        if not isinstance(headers, Mapping):
            raise OptionError(f"{where}: {EXTRA_HEADERS} must be a mapping of header names to values")
        return Entry(index, Item(cleaned), where, {str(k): str(v) for k, v in headers.items()})
    raise OptionError(f"{where} is a {type(value).__name__}; items are prompts (str) or dicts of fields")


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as Python values; missing cells (None, NaN, empty text) as None."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, list | dict | str):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _from_file(path: Path) -> list[Entry]:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise OptionError(
            f"items: {path.name} is not a .txt (one prompt a line), .csv or .jsonl file"
            if path.suffix
            else f"items: {str(path)[:80]!r} is not a list or a path to a .txt, .csv or .jsonl file"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OptionError(f"items: no file {str(path)[:120]}") from None
    except IsADirectoryError:
        raise OptionError(f"items: {path} is a folder, not a .txt, .csv or .jsonl file") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise OptionError(
            f"items: line {line} of {path.name} is not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise OptionError(f"items: cannot read {path.name}: {exc.strerror or exc}") from None
    name = path.name
    if suffix == ".txt":
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        found = [_entry(i, line, f"line {n} of {name}") for i, (n, line) in enumerate(lines)]
    elif suffix == ".csv":
        found = _from_csv(text, name)
    else:
        found = _from_jsonl(text, name)
    if not found:
        raise OptionError(f"items: {name} holds no items")
    return found


def _from_csv(text: str, name: str) -> list[Entry]:
    """Rows under a header. A header without a comma but with ``;`` or a tab is split on that: Excel writes
    ``prompt;seed`` where the comma is the decimal sign, and the whole line was read as one column."""
    header = text.split("\n", 1)[0]
    delimiter = "," if "," in header else next((d for d in ";\t" if d in header), ",")
    # strict: a quote never closed is an error, not every later row swallowed into one prompt
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    found: list[Entry] = []
    try:
        if not reader.fieldnames or any(not (f or "").strip() for f in reader.fieldnames):
            raise OptionError(f"items: {name} needs a header row naming its columns (e.g. prompt,seed)")
        _one_of_each([f.strip() for f in reader.fieldnames], f"the header of {name}")
        for row in reader:
            if None in row:
                raise OptionError(f"items: line {reader.line_num} of {name} has more cells than the header")
            if any((v or "").strip() for v in row.values()):
                values = {k.strip(): v for k, v in row.items()}
                found.append(_entry(len(found), values, f"line {reader.line_num} of {name}"))
    except csv.Error as exc:  # the row after the last one read whole is the one at fault
        raise OptionError(
            f"items: line {reader.line_num + 1} of {name} cannot be read as CSV ({exc}); check its quotes"
        ) from None
    return found


def _one_of_each(columns: list[str], where: str) -> None:
    """A column named twice would keep only its last cell per row, silently: refuse it, naming it."""
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise OptionError(f"items: {where} names the column {column!r} twice; keep one of them")
        seen.add(column)


def _from_jsonl(text: str, name: str) -> list[Entry]:
    found: list[Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise OptionError(f"items: line {number} of {name} is not JSON ({exc})") from None
        found.append(_entry(len(found), value, f"line {number} of {name}"))
    return found


# ----------------------------------------------------------------------------------- fields -> options
def _typed(name: str, value: Any, where: str) -> Any:
    """CSV cells are text: the fields that are numbers or booleans become numbers or booleans.

    ``True`` is not a number here (JSON ``"seed": true`` would otherwise be sent as seed 1)."""
    if name in INT_FIELDS | FLOAT_FIELDS and isinstance(value, bool):
        kind = "a whole number" if name in INT_FIELDS else "a number"
        raise OptionError(f"{where}: {name} must be {kind}, got {value!r}")
    if name in INT_FIELDS:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        if not isinstance(value, int):
            raise OptionError(f"{where}: {name} must be a whole number, got {str(value)[:40]!r}")
    if name in FLOAT_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise OptionError(f"{where}: {name} must be a number, got {str(value)[:40]!r}") from None
        if not math.isfinite(number):
            raise OptionError(f"{where}: {name} must be a finite number, got {value!r}")
        return number
    if name in BOOL_FIELDS and not isinstance(value, bool):
        lowered = str(value).strip().lower() if isinstance(value, str | int) else None
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise OptionError(f"{where}: {name} must be true or false, got {str(value)[:40]!r}")
        return lowered in ("true", "1", "yes")
    if name == "image_loras":
        return _loras(value, where)
    if name == "reference_images":
        found = [value] if isinstance(value, str) else value
        if not isinstance(found, list | tuple) or not all(isinstance(v, str) for v in found):
            raise OptionError(
                f"{where}: reference_images must be an image path or URL, or a list of them, "
                f"got {str(value)[:40]!r}"
            )
        return [check_text(v, f"{where}: reference_images") for v in found]
    if isinstance(value, str):
        return check_text(value, f"{where}: {name}")
    return value


def _loras(value: Any, where: str) -> list[dict[str, Any]]:
    """``image_loras`` as the API takes it, from what a file or a list holds: ``PATH[:SCALE]`` text (a CSV
    cell; several separated by spaces), ``{"path": ..., "scale": ...}``, or a list of either. Anything else is
    one line here, never a LoRA silently left out of the request."""
    items = value.split() if isinstance(value, str) else [value] if isinstance(value, Mapping) else value
    loras: list[dict[str, Any]] = []
    for item in items if isinstance(items, list | tuple) else [None]:
        if isinstance(item, str) and item.strip():
            path, scale = parse_lora(check_text(item, f"{where}: image_loras"))
            loras.append({"path": path, "scale": scale})
            continue
        if isinstance(item, Mapping) and isinstance(item.get("path"), str) and item["path"].strip():
            scale = item.get("scale", 1.0)
            if isinstance(scale, int | float) and not isinstance(scale, bool) and math.isfinite(scale):
                loras.append({"path": item["path"].strip(), "scale": float(scale)})
                continue
        raise OptionError(
            f"{where}: image_loras must be PATH[:SCALE] text or a list of {{path, scale}}, got "
            f"{str(value)[:60]!r}"
        )
    return loras


def options_from_fields(
    fields: Mapping[str, Any], where: str, *, strict: bool = True
) -> tuple[ImagineOptions, bool]:
    """Request fields (or their option names) -> options; also whether a size was given.

    ``strict``: a field that is not a request field is an error (with a did-you-mean); otherwise it is
    template data and ignored here.
    """
    body: dict[str, Any] = {}
    size: str | None = None
    for raw_name, value in fields.items():
        name = ALIASES.get(raw_name, raw_name)
        if name == "size":
            text = check_text(str(value).strip(), f"{where}: size")
            parsed = parse_size(text)
            if parsed is None and (not text or not text.replace(" ", "").isalnum()):
                shape = "WIDTHxHEIGHT (e.g. 1024x768) or be a preset (2K)"
                raise OptionError(f"{where}: size must look like {shape}, got {value!r}")
            size = f"{parsed[0]}x{parsed[1]}" if parsed else text  # presets are the plan's to check per model
        elif name in REQUEST_FIELDS:
            body[name] = _typed(name, value, where)
        elif strict:
            known = sorted(REQUEST_FIELDS | {"size"})
            guess = models.closest(name, known, cutoff=0.6)
            hint = f"; did you mean {guess}?" if guess else f"; request fields are {', '.join(known)}"
            raise OptionError(f"{where}: unknown field {raw_name!r}{hint}")
    options = from_request(body, default_format="")
    sized = size is not None or any(k in body for k in ("width", "height", "aspect_ratio"))
    return (options.replace(size=size) if size else options), sized


def _merge(defaults: ImagineOptions, item: ImagineOptions, sized: bool) -> ImagineOptions:
    """The item's own fields over the batch's defaults (a size of its own replaces the default size)."""
    base = defaults.replace(**dict.fromkeys(_SIZE_FIELDS)) if sized else defaults
    given = {
        name: value
        for name, value in vars(item).items()
        if value not in (None, ()) and name not in ("display", "cache", "interpolate", "params")
    }
    params = {**dict(base.params), **dict(item.params)}
    return base.replace(**given, params=tuple(params.items()))


def per_item_options(
    entry: Entry,
    defaults: ImagineOptions,
    template: str | None,
    namespace: Mapping[str, Any],
) -> ImagineOptions:
    """The options of one item: the template filled with it (or its prompt) over the batch defaults."""
    value = entry.value
    fields: Mapping[str, Any] = value if isinstance(value, Item) else {}
    if template and defaults.interpolate and INTERPOLATION.search(template):
        if isinstance(value, Item) and _WHOLE_ITEM.search(template):  # the row's repr as the prompt
            example = next((k for k in value if k.isidentifier()), "animal")
            raise OptionError(
                f"{entry.where}: {{{{ item }}}} is the whole row ({', '.join(sorted(value))[:80]}); use a "
                f"field of it, e.g. {{{{ item.{example} }}}}"
            )
        try:
            prompt = interpolate(template, {**namespace, "item": value})
        except OptionError as exc:
            raise OptionError(f"{entry.where}: {exc}") from None
    elif template:
        if isinstance(value, str):
            raise OptionError(
                "the template has no {{ item }}: every item would get the same prompt; "
                "write e.g. 'a {{ item }} in watercolour'"
            )
        prompt = template
    elif isinstance(value, str):
        prompt = value
    else:
        given = fields.get("prompt")
        if given is not None and not isinstance(given, str):  # str({"text": ...}) is not a prompt
            raise OptionError(f"{entry.where}: prompt must be text, got a {type(given).__name__}")
        prompt = given or ""
        if not prompt:
            raise OptionError(
                f"{entry.where} has no prompt: give it a 'prompt' field, or a template that uses its "
                "fields (e.g. '{{ item.animal }} at {{ item.place }}')"
            )
    own, sized = options_from_fields(
        {k: v for k, v in fields.items() if k != "prompt"}, entry.where, strict=not template
    )
    return _merge(defaults, own.replace(prompt=prompt), sized)
