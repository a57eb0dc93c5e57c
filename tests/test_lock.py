"""The hash-locked requirement files agree with pyproject.toml and constraints.txt: every
declared dependency is locked at a version its specifier allows, with a hash."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCKS = {
    "client.lock": (),
    "read.lock": ("read",),
    "evaluate.lock": ("evaluate",),
    "server.lock": ("server",),
    "research.lock": ("server", "mpnet"),
    "dev.lock": ("server", "dev"),
    "container.lock": ("server",),  # without torch: the image installs a CUDA build first
}
NOT_IN = {
    "container.lock": {"torch"},
    "client.lock": {"torch"},
    "read.lock": {"torch"},
    "evaluate.lock": {"torch"},
}


def locked(path) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) in a ``uv pip compile --generate-hashes`` file."""
    text = path.read_text()
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if match:
            entries[canonicalize_name(match.group(1))] = (
                Version(match.group(2)),
                block.count("--hash=sha256:"),
            )
    return entries


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    """The base dependencies plus those of ``extras`` (self-references expanded)."""
    project = PYPROJECT["project"]
    wanted = list(extras)
    requirements = [Requirement(text) for text in project["dependencies"]]
    while wanted:
        for text in project["optional-dependencies"][wanted.pop()]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                wanted.extend(requirement.extras)
            else:
                requirements.append(requirement)
    return requirements


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_declared_dependency_is_locked_with_a_hash(lock):
    """A dependency added to pyproject.toml without rerunning requirements/compile.sh, or
    locked outside its range, fails here naming it."""
    entries = locked(REPO / "requirements" / lock)
    problems = []
    for requirement in declared(LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        if name in NOT_IN.get(lock, set()):
            assert name not in entries, f"{name} must not be in {lock}"
            continue
        if name not in entries:
            problems.append(f"{requirement.name} is not in {lock}")
            continue
        version, hashes = entries[name]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} breaks {requirement.specifier}")
        if not hashes:
            problems.append(f"{requirement.name} has no hash")
    assert not problems, "; ".join(problems) + " (run requirements/compile.sh)"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_follows_the_hand_set_pins(lock):
    """torch, pyarrow and numpy are locked exactly at constraints.txt's versions."""
    entries = locked(REPO / "requirements" / lock)
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pin = Requirement(line)
        if canonicalize_name(pin.name) in NOT_IN.get(lock, set()):
            continue
        version, _ = entries[canonicalize_name(pin.name)]
        assert pin.specifier.contains(version), f"{pin} but {lock} has {version}"


def test_the_readme_installs_from_the_locks():
    """Both README commands install with --require-hashes --no-deps from a lock (every
    package is in it), then the project."""
    readme = (REPO / "README.md").read_text()
    for lock in ("server.lock", "dev.lock", "client.lock", "research.lock", "read.lock"):
        assert f"pip install --require-hashes --no-deps -r requirements/{lock}" in readme
    assert "--require-hashes -r" not in readme  # pip 23 fails on extras without --no-deps
    assert readme.count("pip install --no-deps -e .") >= 2


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_unneeded_dependency_of_the_model_parts_is_left_out(lock):
    """AAIT (declared by the first mpnet part, needed by nothing here) is in no lock."""
    assert "aait" not in locked(REPO / "requirements" / lock)


def test_every_lock_is_the_whole_set_it_installs(lock_names=tuple(LOCKS)):
    """Installed with --no-deps, a lock must hold every dependency of what it holds: each
    ``# via`` parent named in a lock is itself in that lock (or the project)."""
    for lock in lock_names:
        text = (REPO / "requirements" / lock).read_text()
        entries = locked(REPO / "requirements" / lock)
        parents = set(re.findall(r"^    #   ([A-Za-z0-9._-]+)", text, re.M))
        parents |= set(re.findall(r"^    # via ([A-Za-z0-9._-]+)$", text, re.M))
        missing = (
            {canonicalize_name(p) for p in parents if not p.startswith("-")}
            - set(entries)
            - {"hemma-features"}
            - NOT_IN.get(lock, set())
        )
        assert not missing, f"{lock}: {sorted(missing)}"
