"""``%imagine_check`` in a real ipykernel started as Jupyter Server starts one (``JPY_SESSION_NAME``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..kernel import Kernel, loaded_kernel
from ..preflight.notebooks import BEFORE_CLASS, write_notebook


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lesson")


@pytest.fixture(scope="module")
def kernel(folder: Path) -> Iterator[Kernel]:
    write_notebook(folder / "before class.ipynb", BEFORE_CLASS)
    write_notebook(folder / "fine.ipynb", ["%%imagine -n 2 --size 512x512\na fox"])
    with pytest.MonkeyPatch.context() as patch:  # the server names the kernel's notebook so
        patch.setenv("JPY_SESSION_NAME", str(folder / "before class.ipynb"))
        k = loaded_kernel(folder / "cache")
    yield k
    k.stop()


def _shown(reply: object) -> str:
    outputs = getattr(reply, "outputs", [])
    texts = [o["content"].get("data", {}).get("text/plain", "") for o in outputs if "data" in o["content"]]
    errors = ["".join(o["content"]["traceback"]) for o in outputs if o["msg_type"] == "error"]
    return "".join(texts) + "".join(errors) + getattr(reply, "text", "")


def test_without_a_path_it_checks_its_own_notebook(kernel: Kernel) -> None:
    reply = kernel.ok("r = %imagine_check\nr")
    shown = _shown(reply)
    assert "before class.ipynb" in shown and "3 cells would fail on the cloud" in shown
    assert "fix: -m black-forest-labs/FLUX.2-dev" in shown and "fix: drop --negative" in shown
    assert len(reply.of_type("execute_result")) == 1 and not reply.text  # shown once, nothing printed
    assert kernel.ok("print(r.ok, r.images, r.exit_status)").text.split() == ["False", "3", "1"]


def test_a_path_relative_to_the_kernel_or_quoted(kernel: Kernel, folder: Path) -> None:
    kernel.ok(f"import os; os.chdir({str(folder)!r})")
    shown = _shown(kernel.ok("%imagine_check fine.ipynb"))
    assert "2 images" in shown and "no cell would fail" in shown
    assert "3 cells would fail" in _shown(kernel.ok("%imagine_check 'before class.ipynb'"))


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("%imagine_check missing.ipynb", "missing.ipynb: no such file"),
        ("%imagine_check a.ipynb b.ipynb", "takes one notebook path"),
        ("%imagine_check 'unclosed", "check the quotes"),
        ("del __session__\n%imagine_check", "does not know its notebook's file; give its path"),
    ],
)
def test_mistakes_are_one_line_and_the_kernel_stays_usable(kernel: Kernel, line: str, says: str) -> None:
    reply = kernel.run(line)
    assert reply.status == "error"
    shown = _shown(reply)
    assert says in shown and "Traceback" not in shown, shown
    assert kernel.ok("print(1 + 1)").text.strip() == "2"
