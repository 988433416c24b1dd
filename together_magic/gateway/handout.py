"""``class add --roster FILE``: the names in a teacher's roster file, and the tokens file they hand out.

A roster is one name per line, or a CSV whose header has a ``name`` column (a spreadsheet's export, with
commas, semicolons or tabs; its other columns are ignored). Blank lines and lines starting with ``#`` are
skipped. Every line is checked before anything is added: a bad name, or a name given twice (in any case),
is one error naming its line, and nothing is added.

The tokens go to a new file (an existing file is never replaced: ``-1``, ``-2``... are added to the name),
readable by the teacher only (0600) from its first byte, as CSV ``name,token``; they are printed nowhere.
The file is written before the students are added (one transaction); if adding fails, the file, which we
wrote, is removed again, so a tokens file never holds tokens that do not work, and no working token exists
only in the database's digests.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from ..errors import OptionError
from ..imagefiles.files import atomic_write_new
from .roster import check_name

__all__ = ["MAX_ROSTER_BYTES", "read_roster", "tokens_file", "write_tokens"]

MAX_ROSTER_BYTES = 1_000_000
"""A roster file is at most this big (thousands of names); anything larger is not a class list."""
_DELIMITERS = ",;\t"


def _fail(path: Path, message: str, line: int | None = None) -> OptionError:
    where = f"{path} line {line}" if line is not None else str(path)
    return OptionError(f"--roster: {where}: {message}")


def _text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise _fail(path, f"is over {MAX_ROSTER_BYTES // 1_000_000} MB; a roster is one name per line")
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's export may start with a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(path, "is not UTF-8 text (save it as UTF-8 or CSV UTF-8)", line) from None


def _rows(path: Path, text: str) -> list[tuple[int, str]]:
    """(line number, name) of every name in the file, unchecked."""
    lines = text.splitlines()
    meaningful = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not _comment(line)]
    if not meaningful:
        return []
    first, header = meaningful[0]
    delimiter = next((d for d in _DELIMITERS if d in header), None)
    if delimiter is None and path.suffix.lower() != ".csv":
        return [(n, line) for n, line in meaningful]
    reader = csv.reader(io.StringIO(text), delimiter=delimiter or ",")
    column: int | None = None
    names: list[tuple[int, str]] = []
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row) or (row and _comment(row[0])):
                continue
            if column is None:
                found = [cell.strip().lower() for cell in row]
                if "name" not in found:
                    shown = ", ".join(repr(cell.strip()) for cell in row[:6])
                    raise _fail(
                        path,
                        f"a CSV roster needs a header with a 'name' column, found {shown}; or give one "
                        "name per line, without commas",
                        number,
                    )
                column = found.index("name")
                continue
            names.append((number, row[column] if column < len(row) else ""))
    except csv.Error as exc:
        raise _fail(path, f"is not CSV ({exc})", reader.line_num) from None
    if column is None:  # pragma: no cover - the first meaningful line is the header
        raise _fail(path, "has no header", first)
    return names


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def read_roster(path: str | Path) -> list[str]:
    """The names in a roster file, each checked as ``class add NAME`` checks one; ``OptionError`` (one
    line naming the file and the line) for the first bad or repeated name, or a file that holds none."""
    where = Path(path).expanduser()
    rows = _rows(where, _text(where))
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in rows:
        try:
            name = check_name(raw)
        except OptionError as exc:
            raise _fail(where, str(exc).removeprefix("NAME: "), number) from None
        key = name.casefold()
        if key in seen:
            raise _fail(where, f"{name!r} is already on line {seen[key]}; each student needs their own name",
                        number)  # fmt: skip
        seen[key] = number
        names.append(name)
    if not names:
        raise _fail(where, "holds no names (one name per line, or a CSV with a 'name' column)")
    return names


def tokens_file(roster: str | Path, given: str | None) -> Path:
    """Where the tokens go: ``--tokens FILE``, else ``<roster>-tokens.csv`` beside the roster."""
    if given is not None:
        return Path(given).expanduser()
    source = Path(roster).expanduser()
    return source.with_name(f"{source.stem}-tokens.csv")


def write_tokens(path: Path, students: Sequence[tuple[str, str]]) -> Path:
    """Write ``name,token`` rows to a new private file (0600) at ``path`` or the next free ``-N`` name;
    the path written. ``OptionError`` when it cannot be written (nothing is left behind)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "token"])
    writer.writerows(students)
    try:
        return atomic_write_new(path, out.getvalue().encode("utf-8"), private=True)
    except OSError as exc:
        raise OptionError(f"--tokens: cannot write {path}: {exc.strerror or exc}") from None
