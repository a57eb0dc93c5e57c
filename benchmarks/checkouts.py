"""Another revision's code beside this checkout's, for benchmarks that compare them."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(*args: str) -> str:
    """``git -C REPO ...``'s output, stripped."""
    command = ["git", "-C", str(REPO), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def revision_tree(revision: str) -> Iterator[Path]:
    """The files of ``revision`` (``git archive``) in a temporary directory; put its
    ``src`` first on ``PYTHONPATH`` to import that revision's ``hemma_features``."""
    commit = git("rev-parse", revision)
    with tempfile.TemporaryDirectory(prefix=f"hemma-{commit[:10]}-") as tree:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="tar")
        yield Path(tree)
