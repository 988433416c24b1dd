"""The offline tests report what they measured (hostile inputs by outcome), printed at the end of the run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES: list[str] = []


@pytest.fixture
def offline_figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    def record(line: str) -> None:
        _FIGURES.append(f"{request.node.name}: {line}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("offline backend figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
