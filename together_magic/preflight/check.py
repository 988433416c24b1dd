"""Each magic of a notebook planned as the magic plans it, sending nothing: images, cost, what is refused.

A magic goes through the same steps as in a kernel (``generation.line.parse_line``, then
``generation.plan.build_plan``, ``sweeps.run.plan_sweep`` or the batch's ``batches.plan.plan_items``), so
every rule and every suggestion ("try 496x496 or 512x512", "drop --negative") is the catalogue's own.
What a plan cannot see, the catalogue says: a retired model (``models.retirement_notice``, and the cell
planned again with the replacement, so the fix is known to work) and a model Together does not list.

Nothing of the notebook is evaluated but ``{{ name }}``s (and attributes and indexes of them) whose name an
earlier cell assigned a literal; anything else is "not planned: depends on a variable". A variable in
``--save`` or a batch's ``--out`` does not change what is sent, so it does not stop the plan.
"""

from __future__ import annotations

import ast
import contextlib
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import models
from ..batches.items import load_items
from ..batches.plan import each_defaults, items_named, plan_items
from ..config import Imagine
from ..errors import OptionError
from ..generation.cost import part_cost
from ..generation.line import INTERPOLATION, parse_line, split_line
from ..generation.options import ImagineOptions
from ..generation.plan import build_plan, read_saved
from ..sweeps.run import plan_sweep
from ..types import ImageRequest
from .reading import Magic, find_magics, read_cells
from .report import EXPECTED, FAILS, NOT_PLANNED, OK, Problem, Report, Row

__all__ = ["check_magic", "check_notebook"]

_FOLDERS = ("--save", "--out", "-o")
"""Options whose value is where images go: a variable there changes nothing that is sent."""
_SAFE = (ast.Expression, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Constant, ast.Slice, ast.Tuple)
_PATHS = (".txt", ".csv", ".jsonl")


class _Depends(Exception):
    """The magic needs a value only the running kernel has."""


def check_notebook(path: Path, config: Callable[[], Imagine] = Imagine) -> Report:
    """The preflight of one notebook file (``NotebookError`` when it cannot be read as one).

    ``config`` makes the settings a fresh kernel starts with (``Imagine``; the magic passes the kernel's
    own); the notebook's ``%config Imagine`` lines are applied on top, in order. Relative paths in the
    notebook (``--image``, ``--from``, ``--each``) are read from the notebook's folder, as its kernel runs."""
    magics = find_magics(read_cells(path))
    return Report(str(path), [check_magic(found, path.parent, config) for found in magics])


def check_magic(found: Magic, folder: Path, config: Callable[[], Imagine] = Imagine) -> Row:
    """One magic's row: planned (with its problems) or why it was not."""
    if found.nested:
        return Row(found, NOT_PLANNED, note="inside a loop or block: only running it says how often it runs")
    if found.unresolved:
        return Row(found, NOT_PLANNED, note=f"depends on a value known only by running: {found.unresolved}")
    try:
        settings = _settings(found, config)
        options = _options(found, folder)
        requests = _requests(options, found.values, settings)
    except _Depends as depends:
        return Row(found, NOT_PLANNED, note=str(depends))
    except OptionError as exc:
        return _failed(found, [Problem(str(exc), exc.fix)])
    except Exception as exc:  # a bug of ours must not hide the other cells: one line, and the cell fails
        return _failed(found, [Problem(f"could not plan it: {type(exc).__name__}: {exc}")])
    costs = [part_cost(request, settings) for request in requests]
    images = sum(request.n for request in requests)
    unpriced = sum(r.n for r, cost in zip(requests, costs, strict=True) if cost is None)
    used = tuple(dict.fromkeys(request.model for request in requests))
    problems = [p for model in used for p in _cloud_problems(model, options, found.values, settings)]
    problems += _refused_inputs(requests)
    row = Row(found, OK, images, sum(c for c in costs if c is not None), unpriced, tuple(problems), used)
    return _failed(found, problems, row) if problems else row


def _failed(found: Magic, problems: list[Problem], row: Row | None = None) -> Row:
    verdict = EXPECTED if found.expected_error else FAILS
    if row is None:
        return Row(found, verdict, problems=tuple(problems))
    return Row(found, verdict, row.images, row.cost, row.unpriced, tuple(problems), row.models)


def _settings(found: Magic, config: Callable[[], Imagine]) -> Imagine:
    """The settings when the magic runs: a value ``%config`` refuses (traitlets' ``TraitError``) is not
    applied, as in the kernel, where that cell shows the error and the settings stay as they were."""
    settings = config()
    for name, value in found.config:
        with contextlib.suppress(Exception):
            setattr(settings, name, value)
    return settings


# ------------------------------------------------------------------------------------------- options
def _options(found: Magic, folder: Path) -> ImagineOptions:
    """The magic's options as the kernel would parse them, with paths read from the notebook's folder."""
    tokens = split_line(found.text, None)  # {{ }} kept as written
    for at, token in enumerate(tokens):
        name, sep, _ = token.partition("=")
        if (sep and name in _FOLDERS) or (at and tokens[at - 1] in _FOLDERS):
            tokens[at] = INTERPOLATION.sub("folder", token)
    if "--no-interpolate" not in tokens:
        batch = any(t == "--each" or t.startswith("--each=") for t in tokens)
        texts = [*tokens, *([found.body] if found.body else [])]
        _need_values([t for t in texts if t is not found.body or not batch], found)
        if batch and found.body:
            _need_values([found.body], found, also={"item"})
    options = parse_line(shlex.join(tokens), found.body, dict(found.values))
    image = _located(options.image, folder, found) if isinstance(options.image, str) else options.image
    references = tuple(_located(r, folder, found) if isinstance(r, str) else r for r in options.references)
    options = options.replace(image=image, references=references)
    if options.from_path is not None:
        options = options.replace(from_path=str(_under(folder, options.from_path)))
    if options.each is not None:
        each = options.each
        if _names_variable(each):
            if each not in found.values:
                _unknown(each, found)  # a name no cell assigned: items_named says so, with a guess
        else:
            options = options.replace(each=str(_under(folder, each)))
    return options


def _need_values(texts: list[str], found: Magic, also: set[str] | None = None) -> None:
    """Refuse to plan (``_Depends``) when a ``{{ }}`` needs more than literal values earlier cells assign."""
    allowed = set(found.values) | (also or set())
    for text in texts:
        for match in INTERPOLATION.finditer(text):
            expr = match.group(1).strip()
            try:
                tree = ast.parse(expr, mode="eval")
            except (SyntaxError, ValueError):
                continue  # the plan says so: evaluating it fails before anything runs
            nodes = list(ast.walk(tree))
            if not all(isinstance(n, _SAFE) for n in nodes) or any(
                isinstance(n, ast.Attribute) and n.attr.startswith("_") for n in nodes
            ):
                raise _Depends(f"depends on a value only the kernel has: {{{{ {expr[:60]} }}}}")
            for name in sorted({n.id for n in nodes if isinstance(n, ast.Name)} - allowed):
                _unknown(name, found, always=True)


def _unknown(name: str, found: Magic, *, always: bool = False) -> None:
    if name in found.unknown:
        raise _Depends(f"depends on a variable: {name}")
    if always:
        raise _Depends(f"depends on a variable: {name} (no earlier cell assigns it)")


def _names_variable(text: str) -> bool:
    return text.isidentifier() and not text.lower().endswith(_PATHS)


def _located(value: str, folder: Path, found: Magic) -> str:
    """An image option's value: a variable holding a path, a URL, or a file of the notebook's folder."""
    if value.isidentifier() and not (folder / value).exists():
        held = found.values.get(value)
        if not isinstance(held, str):
            _unknown(value, found)
            return value  # no such variable or file: the plan says so
        value = held
    if value.startswith(("http://", "https://", "data:")):
        return value
    return str(_under(folder, value))


def _under(folder: Path, path: str) -> Path:
    given = Path(path).expanduser()
    return given if given.is_absolute() else folder / given


# ------------------------------------------------------------------------------------------- planning
def _requests(options: ImagineOptions, values: Mapping[str, Any], config: Imagine) -> list[ImageRequest]:
    """Every request the magic would send: one generation's, each cell of a sweep's, each item's."""
    namespace = dict(values)
    saved = read_saved(options.from_path) if options.from_path is not None else None
    if options.vary or (saved is not None and saved.sweep is not None):
        sweep = plan_sweep(options, config=config, namespace=namespace, where="notebook", saved=saved)
        return [cell.plan.request for cell in sweep.cells]
    if options.each is not None:
        defaults = each_defaults(options)
        entries = load_items(items_named(options.each, namespace))
        plans = plan_items(entries, defaults, options.prompt, namespace, config)
        return [plan.request for plan in plans]
    return [build_plan(options, config=config, namespace=namespace, saved=saved).request]


def _refused_inputs(requests: list[ImageRequest]) -> list[Problem]:
    """Image inputs a plan lets through (``-p image_loras=...`` is sent as given) that the model refuses."""
    refused: dict[tuple[str, str], None] = {}
    for request in requests:
        spec = models.find_model(request.model)
        if spec is not None:
            refused.update(
                dict.fromkeys((spec.id, name) for name in models.refused_inputs(spec, request.payload()))
            )
    return [
        Problem(
            f"-p {name}: {model} does not take {name}; the cloud answers 400 (Unsupported use)",
            f"drop -p {name}",
        )
        for model, name in refused
    ]


def _cloud_problems(
    model: str, options: ImagineOptions, values: Mapping[str, Any], config: Imagine
) -> list[Problem]:
    """What the cloud refuses that a plan does not: a retired model (with its replacement tried on this very
    magic), a model Together does not list."""
    spec = models.find_model(model)
    if spec is None:
        guess = models.closest(model, models.listed_ids())
        return [
            Problem(
                f"{model} is not among Together's models of {models.CATALOGUE_AS_OF} (the cloud answers 404 "
                "model_not_available unless it is new; together-magic models --check asks the cloud)",
                f"-m {guess}" if guess else None,
            )
        ]
    if spec.replacement is None:
        return []
    notice = models.retirement_notice(model) or model
    by_line = options.model == model
    if not by_line and config.model != model:  # a --vary model axis or a batch item names it
        return [Problem(notice, f"use {spec.replacement} in its place")]
    fix = f"-m {spec.replacement}" if by_line else f"%config Imagine.model = {spec.replacement!r}"
    try:
        _requests(options.replace(model=spec.replacement), values, config)
    except OptionError as exc:
        more = f" and {exc.fix}" if exc.fix else ""
        return [Problem(f"{notice}; with it, {exc}", f"{fix}{more}")]
    return [Problem(notice, fix)]
