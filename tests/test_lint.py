"""The project's own checks: ruff, mypy and the import layers (import-linter) stay clean.

All three read the source tree as the editable install imports it: ``src/hemma_features``
holds the package's own modules and a link to each sub-package folder at the top level, so
``mypy`` and ``lint-imports`` run from the repository root with no built copy.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_source

BIN = Path(sys.executable).parent
SUBPACKAGES = ("arrowfiles", "client", "contract", "engine", "flight", "ray_engine", "control")


def run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # import-linter puts its working directory first on sys.path: a copy there is found first.
    return run(str(BIN / "lint-imports"), "--no-cache", str(REPO / "pyproject.toml"), cwd=root)


def test_the_editable_install_is_this_source_tree():
    """What the tests import is the tree they lint: src/hemma_features of this checkout."""
    import hemma_features

    assert Path(hemma_features.__file__).parent == REPO / "src" / "hemma_features"


def test_every_subpackage_folder_is_linked_into_the_package():
    """Each top-level sub-package folder is linked, relatively, from src/hemma_features."""
    package = REPO / "src" / "hemma_features"
    for name in SUBPACKAGES:
        link = package / name
        assert link.is_symlink() and os.readlink(link) == f"../../{name}", name
        assert (REPO / name / "__init__.py").is_file(), name
    linked = {p.name for p in package.iterdir() if p.is_symlink()}
    assert linked == set(SUBPACKAGES)


def test_ruff_finds_nothing():
    """ruff check passes on the whole repository."""
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_finds_nothing(tmp_path):
    """mypy passes on the source tree (``mypy`` at the root: the config names the package)."""
    result = run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, result.stdout[-4000:]
    assert "source files" in result.stdout


def test_import_layers_are_kept():
    """Every import-linter contract in pyproject.toml is kept, on the source tree."""
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


def test_no_engine_module_speaks_grpc():
    """The engine imports nothing of pyarrow.flight (import-linter sees only pyarrow)."""
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module] + [f"{module}.{alias.name}" for alias in node.names]
            if any(name.split(".")[:2] == ["pyarrow", "flight"] for name in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The package tree with its links followed: a plain copy a test may break."""
    target = tmp_path_factory.mktemp("copy")
    shutil.copytree(
        REPO / "src" / "hemma_features",
        target / "hemma_features",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return target


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("client/results.py", "import hemma_features.engine.runtime", "never imports the server"),
        ("contract/keys.py", "import hemma_features.client.cache", "Layers: the CLI"),
        ("engine/features/nlp.py", "import hemma_features.flight.server", "knows nothing of"),
        ("engine/step_loop.py", "import hemma_features.control.app", "knows nothing of"),
        ("flight/streams.py", "import hemma_features.control.app", "Layers: the CLI"),
        ("engine/features/embed.py", "import hemma_features.engine.runtime", "computations"),
        ("client/report.py", "import hemma_features.client.extract_command", "No import cycles"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(source_copy, tmp_path, module, line, contract):
    """An import against the layers, added to a copy, fails the check naming the contract."""
    copy = tmp_path / "copy"
    shutil.copytree(source_copy, copy)
    path = copy / "hemma_features" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout[-3000:]


def test_installed_distribution_has_one_top_level_package(tmp_path):
    """A wheel installed into a fresh environment adds exactly hemma_features and its
    dist-info, with every sub-package folder of the repository inside it."""
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
    package = site / "hemma_features"
    assert not any(p.is_symlink() for p in package.rglob("*"))  # the links became files
    packages = {str(p.parent.relative_to(site)) for p in package.rglob("__init__.py")}
    in_repo = {"hemma_features"} | {
        os.path.normpath(Path("hemma_features", side, p.parent.relative_to(REPO / side)))
        for side in SUBPACKAGES
        for p in (REPO / side).rglob("__init__.py")
    }
    assert packages == in_repo  # no package left behind
    assert (package / "py.typed").is_file()
    assert (package / "client" / "samples" / "essays.csv").is_file()
