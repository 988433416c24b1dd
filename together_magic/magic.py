"""``%%imagine`` and ``%imagine``: parse, run, save, bind, return. Nothing here talks HTTP.

The cell body is the prompt (``%imagine "a prompt"`` for one-liners). The returned ``ImageResponse`` is the
cell's result, so ``_`` and ``Out[n]`` hold it and the display protocol shows its grid exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)

from . import config as _config
from .errors import APIError, APITimeoutError, AuthenticationError, NotFoundError, RateLimitError
from .request import OptionError, Plan, magic_options, plan_from_line

if TYPE_CHECKING:
    from .types import ImageResponse

__all__ = ["ImagineMagics", "run_cell_async"]


def _explain(err: APIError) -> APIError:
    """Add what to do next to an API error, keeping its type so ``except RateLimitError`` still works."""
    from .request import known_models

    if isinstance(err, AuthenticationError):
        hint = "set a valid key with %env TOGETHER_API_KEY=... (or unset it to use the offline backend)"
    elif isinstance(err, RateLimitError):
        hint = "still rate limited after retries: wait a minute, then re-run the cell"
    elif isinstance(err, NotFoundError) and err.code == "model_not_available":
        hint = f"known image models: {known_models()}"
    elif isinstance(err, APITimeoutError):
        hint = "raise it with %config Imagine.timeout = 120"
    else:
        return err
    err.hint = hint
    return err


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
        from .runner import generate, run_blocking

        namespace = {**self._shell.user_ns, **(local_ns or {})}
        plan = self._plan(line, cell, namespace)
        try:
            response = run_blocking(lambda: generate(plan, self.settings))
        except APIError as err:
            raise _explain(err) from None
        return self._finish(plan, response)

    @line_magic
    def imagine_panel(self, line: str) -> Any:
        """Show the image panel: a form, Generate/Cancel, and a gallery with "copy as code".

        Usage: ``%imagine_panel [NAME]``; with NAME, the latest response is also bound to that variable.
        """
        from .panel import ImaginePanel

        name = line.strip()
        if name and not name.isidentifier():
            raise UsageError(f"%imagine_panel takes an optional variable name, got {name!r}")
        return ImaginePanel(bind=name or None, shell=self._shell)

    async def run_async(self, line: str, cell: str) -> Any:
        """The top-level ``await`` form of ``%%imagine`` that the cell rewriter produces in ipykernel."""
        from .runner import generate, wait_cancellable

        plan = self._plan(line, cell, self._shell.user_ns)
        try:
            response = await wait_cancellable(generate(plan, self.settings))
        except APIError as err:
            raise _explain(err) from None
        return self._finish(plan, response)

    # ------------------------------------------------------------------------------- steps
    def _plan(self, line: str, cell: str | None, namespace: dict[str, Any]) -> Plan:
        try:
            return plan_from_line(line, cell, config=self.settings, namespace=namespace)
        except OptionError as exc:
            raise UsageError(str(exc)) from None

    def _finish(self, plan: Plan, response: ImageResponse) -> ImageResponse | None:
        if plan.save is not None:
            from .files import save_response

            try:
                response._saved = save_response(response, plan.save)
            except OSError as exc:
                raise UsageError(f"--save: could not write to {plan.save}: {exc.strerror or exc}") from None
        if plan.out is not None:
            self._shell.user_ns[plan.out] = response
        return response if plan.display else None


def run_cell_async(line: str, cell: str) -> Any:
    """Entry point of rewritten cells: ``await run_cell_async(line, cell)``."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("ImagineMagics") if shell is not None else None
    if magics is None:
        raise UsageError("together_magic is not loaded: run %load_ext together_magic")
    return magics.run_async(line, cell)
