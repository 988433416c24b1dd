"""Session-wide test environment, for pytest's own tests and for the kernels nbval starts.

No test may use a developer's real key or endpoint, or write into their cache: the notebooks are
executed against the offline backend with a cache of their own.
"""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    for name in [n for n in os.environ if n.startswith("TOGETHER")]:
        del os.environ[name]
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="together-magic-test-cache-")
