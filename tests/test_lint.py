"""The project's own checks: ruff, mypy and the import layers (import-linter) stay clean.

mypy and import-linter read the package as it is installed (one ``hemma_features``
package), so they run on a copy built from this checkout with pip, not on the source
tree, whose sides sit at the top level (client/, service/, flight/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_source

BIN = Path(sys.executable).parent


def run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """This checkout installed (no dependencies) into a fresh directory."""
    target = tmp_path_factory.mktemp("built")
    source = clean_source(tmp_path_factory.mktemp("source") / "repo")
    result = run(
        sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
        "--target", str(target), str(source),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # import-linter puts its working directory first on sys.path: the built copy is found.
    return run(str(BIN / "lint-imports"), "--no-cache", str(REPO / "pyproject.toml"), cwd=root)


def test_ruff_finds_nothing():
    """ruff check passes on the whole repository."""
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_finds_nothing(built):
    """mypy passes on the installed package."""
    result = run(
        sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
        "--cache-dir", str(built / ".mypy_cache"), "-p", "hemma_features", cwd=built,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]


def test_import_layers_are_kept(built):
    """Every import-linter contract in pyproject.toml is kept."""
    result = lint_imports(built)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("client/results.py", "import hemma_features.engine.runtime", "never imports the server"),
        ("contract/keys.py", "import hemma_features.client.cache", "Layers: the CLI"),
        ("service/features/nlp.py", "import hemma_features.flight.server", "knows nothing of"),
        ("client/report.py", "import hemma_features.client.extract_command", "No import cycles"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(built, tmp_path, module, line, contract):
    """An import against the layers, added to a copy, fails the check naming the contract."""
    copy = tmp_path / "copy"
    shutil.copytree(built / "hemma_features", copy / "hemma_features")
    path = copy / "hemma_features" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout[-3000:]


def test_installed_distribution_has_one_top_level_package(built, tmp_path):
    """A wheel installed into a fresh environment adds exactly hemma_features and its dist-info."""
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert made.returncode == 0, made.stderr
    wheels = tmp_path / "wheels"
    built_wheel = run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", str(wheels), str(clean_source(tmp_path / "repo")),
    )  # fmt: skip
    assert built_wheel.returncode == 0, built_wheel.stderr[-3000:]
    [wheel] = wheels.glob("hemma_features-*.whl")
    installed = run(
        sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
        "-q", "--no-deps", str(wheel),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    [site] = venv.glob("lib/python*/site-packages")
    entries = sorted(p.name for p in site.iterdir())
    assert entries[0] == "hemma_features"
    assert len(entries) == 2 and entries[1].startswith("hemma_features-")
    assert entries[1].endswith(".dist-info")
    packages = sorted(
        str(p.parent.relative_to(site)) for p in (site / "hemma_features").rglob("__init__.py")
    )
    assert packages == [
        "hemma_features",
        "hemma_features/arrowfiles",
        "hemma_features/client",
        "hemma_features/contract",
        "hemma_features/flight",
        "hemma_features/ray_engine",
        "hemma_features/service",
        "hemma_features/service/features",
    ]
    in_repo = {
        str(Path("hemma_features", side, p.parent.relative_to(REPO / side)))
        for side in ("client", "service", "flight")
        for p in (REPO / side).rglob("__init__.py")
    } | {str(p.parent.relative_to(REPO)) for p in (REPO / "hemma_features").rglob("__init__.py")}
    assert {os.path.normpath(p) for p in in_repo} == set(packages)  # no package left behind
