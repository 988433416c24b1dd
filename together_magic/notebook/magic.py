"""``%%imagine`` and ``%imagine``: parse, plan, run, bind, return. Nothing here talks HTTP.

The cell body is the prompt (``%imagine "a prompt"`` for one-liners). The returned ``ImageResponse`` is the
cell's result, so ``_`` and ``Out[n]`` hold it and the display protocol shows its grid exactly once.

This module is imported by ``%load_ext``: it imports only IPython and cheap modules at the top; the
request machinery loads on the first generation (the package's one lazy boundary).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)

from .. import config as _config

if TYPE_CHECKING:
    from ..generation.options import ImagineOptions

__all__ = ["ImagineMagics", "run_cell_async"]

F = TypeVar("F", bound=Callable[..., Any])


def magic_options(func: F) -> F:
    """Give a magic the help of every option, in OPTIONS order, so ``%%imagine?`` shows the full help.

    The help is IPython's ``magic_arguments`` help, built when first asked for: ``?`` and Shift+Tab read a
    ``getdoc()`` where an object offers one (``IPython.core.oinspect.getdoc``), and building argparse's
    parser and help for every option costs about 10 ms that ``%load_ext`` need not pay. The line itself is
    parsed by ``generation.line``, from the same OPTIONS."""
    setattr(func, "getdoc", functools.cache(lambda: _help(func)))  # noqa: B010 (a function attribute)
    return func


def _help(func: Callable[..., Any]) -> str:
    from IPython.core import magic_arguments

    from ..generation.flags import OPTIONS

    def stand_in() -> None: ...

    stand_in.__name__, stand_in.__doc__ = func.__name__, func.__doc__
    decorated: Any = stand_in
    for flags, kwargs in reversed(OPTIONS):
        decorated = magic_arguments.argument(*flags, **kwargs)(decorated)  # type: ignore[no-untyped-call]
    return str(magic_arguments.magic_arguments()(decorated).__doc__)  # type: ignore[no-untyped-call]


@magics_class
class ImagineMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.settings = _config.Imagine(parent=shell)
        _config.set_current(self.settings)
        self.rewriter: Any = None  # set by load_ipython_extension

    @property
    def _shell(self) -> Any:
        assert self.shell is not None, "ImagineMagics is always created with a shell"
        return self.shell

    # ------------------------------------------------------------------------------- the magic
    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    @magic_options
    def imagine(self, line: str, cell: str | None = None, local_ns: dict[str, Any] | None = None) -> Any:
        """Generate images with Together AI (or the offline backend when no key is set)."""
        from ..generation.loop import run_blocking

        namespace = {**self._shell.user_ns, **(local_ns or {})}
        options = self._options(line, cell, namespace)
        return run_blocking(lambda: self._run(options, namespace, live=False))

    async def run_async(self, line: str, cell: str) -> Any:
        """The top-level ``await`` form of ``%%imagine`` that the cell rewriter produces in ipykernel."""
        from ..generation.loop import wait_cancellable

        namespace = self._shell.user_ns
        options = self._options(line, cell, namespace)
        return await wait_cancellable(self._run(options, namespace, live=True))

    async def _run(self, options: ImagineOptions, namespace: dict[str, Any], *, live: bool) -> Any:
        """Run the cell (``notebook.cells``), then bind, announce and show what it made.

        ``live``: the cell runs on the kernel's loop as a top-level await, so a status line can update.
        """
        from IPython.display import display

        from ..errors import OptionError, TogetherError, explain
        from ..generation.loop import Interrupted
        from .cells import run_cell

        try:
            result = await run_cell(options, namespace, self.settings, live=live)
        except Interrupted as stopped:  # a sweep stopped part-way: what finished is bound, then the line
            if stopped.result is not None and options.each is None:
                self.bind(options.out, stopped.result)
            raise
        except OptionError as exc:
            raise UsageError(str(exc)) from None
        except TogetherError as err:
            raise explain(err, "notebook") from None
        self.bind(result.bind, result.value)
        self._announce(result.backend, result.models)
        if result.failure is not None:
            if result.show and result.show_failed:
                display(result.value)  # type: ignore[no-untyped-call]
            failure = result.failure
            if isinstance(failure, OptionError):
                raise UsageError(str(failure)) from None
            if isinstance(failure, TogetherError):
                raise explain(failure, "notebook") from None
            raise failure
        return result.value if result.show else None

    @line_magic
    def imagine_panel(self, line: str) -> Any:
        """Show the image panel: a form, Generate/Cancel, and a gallery with "copy as code".

        Usage: ``%imagine_panel [NAME]``; with NAME, the latest response is also bound to that variable.
        """
        from ..widgets.panel import ImaginePanel

        name = line.strip()
        if name and not name.isidentifier():
            raise UsageError(f"%imagine_panel takes an optional variable name, got {name!r}")
        return ImaginePanel(bind=name or None, shell=self._shell)

    @line_magic
    def imagine_history(self, line: str) -> Any:
        """Show past generations (this and other notebooks, the panel, the CLI), newest first.

        Usage: ``%imagine_history [TEXT] [--last N] [--model MODEL] [--since DATE] [--clear [--yes]]``.
        DATE: 2026-11-20, 2026-11-20T14:00, today, yesterday, or an age such as 3h or 2d.
        """
        from ..errors import OptionError
        from ..histories.search import parse_history_line, run_history
        from ..store.store import StoreError
        from ..widgets import history as _cards  # noqa: F401  (the history shows itself as the panel's cards)

        try:
            result = run_history(parse_history_line(line), self.settings)
        except (OptionError, StoreError) as exc:  # a store that cannot be opened: one line, no traceback
            raise UsageError(str(exc)) from None
        if isinstance(result, str):
            print(result)
            return None
        return result

    @line_magic
    def imagine_check(self, line: str) -> Any:
        """Check a notebook before class, sending nothing: per cell its images, estimated cost and whether
        the cloud would refuse it today (with the fix), then the totals (``together-magic check``).

        Usage: ``%imagine_check [NOTEBOOK.ipynb]``; without a path, this kernel's own notebook as last saved,
        when the front end says which one it is (JupyterLab, Notebook 7 and VS Code do). The result's
        ``.ok`` is False when some cell would fail on the cloud.
        """
        import shlex
        from pathlib import Path

        from ..preflight import NotebookError, check_notebook

        try:
            given = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%imagine_check: {exc} (check the quotes)") from None
        if len(given) > 1:
            raise UsageError("%imagine_check takes one notebook path (quote a path with spaces)")
        path = given[0] if given else self._this_notebook()
        if path is None:
            raise UsageError(
                "%imagine_check: this kernel does not know its notebook's file; give its path: "
                "%imagine_check NOTEBOOK.ipynb"
            )
        try:
            return check_notebook(Path(path).expanduser(), lambda: _config.Imagine(parent=self._shell))
        except NotebookError as exc:
            raise UsageError(str(exc)) from None

    def _this_notebook(self) -> str | None:
        """The kernel's notebook file: ``__session__`` (ipykernel, from Jupyter Server's JPY_SESSION_NAME)
        or VS Code's ``__vsc_ipynb_file__``, when it names an existing .ipynb file."""
        import os

        namespace = self._shell.user_ns
        for found in (namespace.get("__session__"), namespace.get("__vsc_ipynb_file__")):
            if isinstance(found, str) and found.endswith(".ipynb") and os.path.isfile(found):
                return found
        return None

    # ------------------------------------------------------------------------------- steps
    def _options(self, line: str, cell: str | None, namespace: dict[str, Any]) -> ImagineOptions:
        from ..errors import OptionError
        from ..generation.line import parse_line

        try:
            return parse_line(line, cell, namespace)
        except OptionError as exc:
            raise UsageError(str(exc)) from None

    def bind(self, name: str | None, value: Any) -> None:
        """Bind a result to the variable the user named (``-o NAME``); nothing else is ever written."""
        if name is not None:
            self._shell.user_ns[name] = value

    def _announce(self, backend: str | None, models: tuple[str, ...] = ()) -> None:
        """Once per kernel: say that the pictures come from the offline renderer, and once per model that
        it is retired and what to use instead (information, not stderr)."""
        from ..display.status import offline_notice, retired_notice

        if backend == "offline":
            offline_notice()
        for model in models:
            retired_notice(model)


def run_cell_async(line: str, cell: str) -> Any:
    """Entry point of rewritten cells: ``await run_cell_async(line, cell)``."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("ImagineMagics") if shell is not None else None
    if magics is None:
        raise UsageError("together_magic is not loaded: run %load_ext together_magic")
    return magics.run_async(line, cell)
