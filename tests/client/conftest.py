"""Fixtures of the client tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(scope="module")
def fetch() -> Iterator[httpx.Client]:
    """One connection pool for the images servers hand out by URL."""
    with httpx.Client(timeout=10) as client:
        yield client
