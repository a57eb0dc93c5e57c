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


ROOMS_OVER_FEATURES = ("models", "execution", "languagetool")
# The model, execution and LanguageTool rooms reach the feature definitions only through
# the registry and its public face (engine/features/api.py), never a definition module.
ALLOWED_FEATURE_IMPORTS = frozenset({"registry", "api"})


def feature_imports(engine: Path) -> list[tuple[str, str]]:
    """``(path:line, module)`` for each engine.features module the rooms over it import."""
    found = []
    for room in ROOMS_OVER_FEATURES:
        for path in sorted((engine / room).rglob("*.py")):
            package = ["hemma_features", "engine", *path.relative_to(engine).parent.parts]
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    targets = [alias.name.split(".") for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = package[: len(package) - node.level + 1] if node.level else []
                    module = [*base, *(node.module or "").split(".")] if node.module else base
                    targets = [module + [alias.name] for alias in node.names]
                else:
                    continue
                where = f"{path.relative_to(engine.parent)}:{node.lineno}"
                for target in targets:
                    if target[:3] == ["hemma_features", "engine", "features"]:
                        found.append((where, target[3] if len(target) > 3 else "features"))
    return found


def test_rooms_read_the_feature_definitions_only_through_the_allowed_modules():
    """engine/models, engine/execution and engine/languagetool import of engine.features
    only the modules ALLOWED_FEATURE_IMPORTS names."""
    imported = feature_imports(REPO / "engine")
    assert imported  # the check reads the imports it is meant to
    offenders = [
        f"{where} {name}" for where, name in imported if name not in ALLOWED_FEATURE_IMPORTS
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "from hemma_features.engine.features.syntax import sentence_depth",
        "from hemma_features.engine.features import readability",
        "import hemma_features.engine.features.cohesion",
        "from ..features import diversity",
    ],
)
def test_a_room_importing_another_feature_module_is_caught(tmp_path, line):
    """A model module importing a feature module outside the allowed ones is named."""
    copy = tmp_path / "engine"
    shutil.copytree(REPO / "engine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "models" / "embed.py"
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    offenders = [
        where for where, name in feature_imports(copy) if name not in ALLOWED_FEATURE_IMPORTS
    ]
    assert len(offenders) == 1 and offenders[0].startswith("engine/models/embed.py:")


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


FEATURES = "Feature definitions import no model"
ENGINE = "Engine: serving, runtime"


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("client/results.py", "import hemma_features.engine.runtime", "never imports the server"),
        ("contract/keys.py", "import hemma_features.client.cache", "Layers: the CLI"),
        ("engine/features/nlp.py", "import hemma_features.flight.server", "knows nothing of"),
        ("engine/step_loop.py", "import hemma_features.control.app", "knows nothing of"),
        ("flight/streams.py", "import hemma_features.control.app", "Layers: the CLI"),
        ("engine/features/syntax.py", "import hemma_features.engine.runtime", FEATURES),
        ("engine/features/nlp.py", "import hemma_features.engine.models.embed", FEATURES),
        ("engine/features/lemmas.py", "import hemma_features.engine.execution.pipeline", FEATURES),
        ("engine/features/_view.py", "import hemma_features.engine.languagetool.client", FEATURES),
        ("engine/features/semantic.py", "import torch", FEATURES),
        ("engine/models/embed.py", "import hemma_features.engine.runtime", ENGINE),
        ("engine/models/padded.py", "import hemma_features.engine.execution.encoder_queue", ENGINE),
        ("engine/languagetool/client.py", "import hemma_features.engine.models.hardware", ENGINE),
        (
            "client/run_report.py",
            "import hemma_features.client.extract_command",
            "No import cycles",
        ),
        ("engine/fingerprint.py", "import textdescriptives", "TextDescriptives stays"),
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
