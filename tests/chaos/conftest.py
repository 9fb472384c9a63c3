"""The hostile-server suite (``nox -s chaos``): marked ``chaos``, left out of tests_integration."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: every hostile-server behaviour against every installed vendor "
        "(nox -s chaos; tests_integration leaves these out with -m 'not chaos')")
