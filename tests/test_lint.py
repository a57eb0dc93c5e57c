"""The project's own checks: ruff (style, imports) and mypy (types) stay clean."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    """ruff check passes on the whole repository."""
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_finds_nothing():
    """mypy passes on the three packages."""
    result = run(sys.executable, "-m", "mypy", "service", "flight", "client")
    assert result.returncode == 0, result.stdout[-4000:]
