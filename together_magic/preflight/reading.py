"""Reading a notebook for the preflight: its cells, the magics in them, and what earlier cells assign.

A notebook is JSON (nbformat 4), read here with ``json`` alone (``nbformat`` is not a dependency of the
base install). Every way a file can be wrong (missing, a folder, not UTF-8, damaged JSON, JSON that is no
notebook) is one ``NotebookError`` line naming the file.

The magics found: ``%%imagine`` cells (also under ``%%time`` or ``%%capture``), ``%imagine`` lines
(``name = %imagine "..."``) and ``%config Imagine.NAME = VALUE`` lines, in the order a kernel runs them.
Nothing of the notebook is ever run: the Python of a cell is only parsed (``ast``), and a name counts as
known only when a top-level statement assigns it a literal (``prompt = "a lighthouse"``,
``animals = ["fox", "owl"]``, read with ``ast.literal_eval``). Any other binding (a result, a ``Path``, an
import, a loop variable) makes the name unknown, so a magic that needs it is "not planned", never guessed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Cell", "Magic", "NotebookError", "find_magics", "read_cells"]

_CELL_MAGIC = re.compile(r"%%imagine(?=\s|$)(.*)")
_WRAPPER = re.compile(r"%%(time|capture)(?=\s|$)")
_LINE_MAGIC = re.compile(r"^(\s*)(?:([A-Za-z_]\w*)\s*=\s*)?%imagine(?=\s|$)(.*)$")
_CONFIG = re.compile(r"^(\s*)%config\s+Imagine\.(\w+)\s*=\s*(.+?)\s*$")
_OTHER = re.compile(r"^(\s*)(?:([A-Za-z_]\w*)\s*=\s*)?[%!]")
_BOUND_BY_OUT = re.compile(r"(?:^|\s)(?:-o|--out)(?:=|\s+)([A-Za-z_]\w*)(?=\s|$)")
_UNPLANNED_SETTINGS = frozenset(
    {"base_url", "cache", "cache_dir", "cache_size_mb", "history", "max_concurrency", "max_retries"}
    | {"preview_size", "save_dir", "strict", "timeout", "budget"}
)
"""``Imagine`` settings that change nothing a plan counts (where, how fast, how shown): a value of theirs
that only the kernel knows does not stop the plan. Any other setting's unknown value does."""
_MAGIC_CALL, _CONFIG_CALL, _OTHER_CALL = "__preflight_magic__", "__preflight_config__", "__preflight_other__"


class NotebookError(ValueError):
    """A file the preflight cannot read as a notebook; the message is one line naming the file."""


@dataclass(frozen=True)
class Cell:
    kind: str
    """``code``, ``markdown`` or ``raw``."""
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Magic:
    """One ``%%imagine`` cell or ``%imagine`` line, with what the kernel would know when it runs."""

    cell: int
    """The cell's position in the notebook, from 1, counting every cell (markdown too)."""
    line: int | None
    """The line of a ``%imagine`` in its cell, from 1; None for a ``%%imagine`` cell."""
    text: str
    """The magic's line: its options (and, for ``%imagine``, the prompt)."""
    body: str | None
    """A ``%%imagine`` cell's body (the prompt, or a batch's template); None for a ``%imagine`` line."""
    values: Mapping[str, Any]
    """Names that earlier top-level statements assigned a literal."""
    unknown: frozenset[str]
    """Names bound to something else (a result, a ``Path``, an import): their value is not known here."""
    config: tuple[tuple[str, Any], ...] = ()
    """The ``%config Imagine.NAME = VALUE`` lines run before it, in order."""
    unresolved: str | None = None
    """The first ``%config Imagine`` line before it whose value is not a literal."""
    nested: bool = False
    """Inside a loop, a function or another block: how often it runs is not known here."""
    expected_error: bool = False
    """The cell is tagged ``raises-exception``: it fails on purpose (a lesson about an error)."""


def read_cells(path: Path) -> list[Cell]:
    """The cells of a notebook file, or ``NotebookError`` in one line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotebookError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotebookError(f"{path}: a folder, not a notebook") from None
    except OSError as exc:
        raise NotebookError(f"{path}: {exc.strerror or exc}") from None
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not a notebook (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path}: not a notebook, or a damaged one: invalid JSON at line {exc.lineno}, "
            f"column {exc.colno} ({exc.msg})"
        ) from None
    except RecursionError:
        raise NotebookError(f"{path}: not a notebook (JSON nested too deeply)") from None
    if isinstance(notebook, dict) and "worksheets" in notebook:
        raise NotebookError(f"{path}: an nbformat 3 notebook; open and save it in Jupyter to convert it")
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotebookError(f"{path}: not a Jupyter notebook (it has no list of cells)")
    return [_cell(path, number, raw) for number, raw in enumerate(notebook["cells"], start=1)]


def _cell(path: Path, number: int, raw: Any) -> Cell:
    source = raw.get("source") if isinstance(raw, dict) else None
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        source = "".join(source)
    kind = raw.get("cell_type") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or not isinstance(source, str):
        raise NotebookError(f"{path}: cell {number} is damaged (no cell_type or source)")
    metadata = raw.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return Cell(kind, source, tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ())


# ------------------------------------------------------------------------------------------ the magics
@dataclass
class _Known:
    """What a kernel running the notebook top to bottom would know, as far as reading can tell."""

    values: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    config: list[tuple[str, Any]] = field(default_factory=list)
    unresolved: str | None = None

    def magic(self, cell: int, line: int | None, text: str, body: str | None, **more: Any) -> Magic:
        values, unknown = dict(self.values), frozenset(self.unknown)
        config = tuple(self.config)
        return Magic(cell, line, text, body, values, unknown, config, self.unresolved, **more)

    def bind(self, name: str, value: Any = None, *, literal: bool = False) -> None:
        if literal:
            self.values[name] = value
            self.unknown.discard(name)
        else:
            self.values.pop(name, None)
            self.unknown.add(name)

    def configure(self, name: str, text: str, *, nested: bool = False) -> None:
        """A ``%config Imagine.NAME = TEXT`` line: applied when TEXT is a literal run at the top level;
        otherwise its value is known only to the kernel (``unresolved``), unless it changes no plan."""
        known = not nested
        try:
            value = ast.literal_eval(text) if known else None
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            known = False
        if known:
            self.config.append((name, value))
        elif name not in _UNPLANNED_SETTINGS:
            self.unresolved = self.unresolved or f"%config Imagine.{name} = {text[:40]}"


def find_magics(cells: list[Cell]) -> list[Magic]:
    """Every ``%%imagine`` cell and ``%imagine`` line, in the order a kernel runs them."""
    known = _Known()
    found: list[Magic] = []
    for number, cell in enumerate(cells, start=1):
        if cell.kind != "code":
            continue
        expected = "raises-exception" in cell.tags
        lines = cell.source.splitlines()
        while lines and (not lines[0].strip() or _WRAPPER.match(lines[0].strip())):
            lines = lines[1:]
        head = _CELL_MAGIC.match(lines[0]) if lines else None
        if head is not None:
            text = head.group(1).strip()
            found.append(known.magic(number, None, text, "\n".join(lines[1:]), expected_error=expected))
            for name in _BOUND_BY_OUT.findall(text):
                known.bind(name)
            continue
        found.extend(_python_cell(number, cell.source, known, expected))
    return found


def _python_cell(number: int, source: str, known: _Known, expected: bool) -> Iterator[Magic]:
    """The magics of a Python cell, each with what the statements before it assigned."""
    magics: list[tuple[int, str]] = []
    configs: list[tuple[str, str]] = []
    python = []
    for at, line in enumerate(source.splitlines(), start=1):
        if (magic := _LINE_MAGIC.match(line)) is not None:
            indent, name, text = magic.groups()
            python.append(f"{indent}{name + ' = ' if name else ''}{_MAGIC_CALL}({len(magics)})")
            magics.append((at, text.strip()))
        elif (config := _CONFIG.match(line)) is not None:
            python.append(f"{config.group(1)}{_CONFIG_CALL}({len(configs)})")
            configs.append((config.group(2), config.group(3)))
        elif (other := _OTHER.match(line)) is not None:
            indent, name = other.groups()
            python.append(f"{indent}{name + ' = ' if name else ''}{_OTHER_CALL}()")
        else:
            python.append(line)
    try:
        statements = ast.parse("\n".join(python)).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python we can read: magics alone
        for at, text in magics:
            yield known.magic(number, at, text, None, expected_error=expected)
        return
    for statement in statements:
        top = _marker(statement.value) if isinstance(statement, ast.Expr | ast.Assign) else None
        for call, index in _markers(statement):
            nested = (call, index) != top
            if call == _CONFIG_CALL:
                known.configure(*configs[index], nested=nested)
            else:
                at, text = magics[index]
                yield known.magic(number, at, text, None, nested=nested, expected_error=expected)
        _bindings(statement, known)


def _marker(node: ast.AST) -> tuple[str, int] | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in (_MAGIC_CALL, _CONFIG_CALL)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, int)
    ):
        return node.func.id, node.args[0].value
    return None


def _markers(statement: ast.stmt) -> list[tuple[str, int]]:
    """The markers in a statement, in source order (``ast.walk`` goes breadth first)."""
    found = [
        (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), marker)
        for node in ast.walk(statement)
        if (marker := _marker(node)) is not None
    ]
    return [marker for _, _, marker in sorted(found)]


def _bindings(statement: ast.stmt, known: _Known) -> None:
    """What one top-level statement binds: a literal for ``NAME = <literal>``, unknown for the rest."""
    if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
        try:
            value = ast.literal_eval(statement.value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
        else:
            for target in statement.targets:
                assert isinstance(target, ast.Name)
                known.bind(target.id, value, literal=True)
            return
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            known.bind(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            known.bind(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                known.bind((alias.asname or alias.name).split(".")[0])
