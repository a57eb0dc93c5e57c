"""Installs as a new user makes them, with the pip of a stock ``python3 -m venv``: the base
(client) install alone extracts against a running server, on Python 3.11 and 3.12; the
server and dev locks install with that pip too."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES, clean_source

HEAVY = ("torch", "transformers", "spacy", "textdescriptives", "litestar", "uvicorn")


def stock_python(version: str) -> str | None:
    """A CPython ``version`` interpreter outside any venv (PATH, then pyenv), or None."""
    if sys.version_info[:2] == tuple(int(p) for p in version.split(".")):
        return getattr(sys, "_base_executable", sys.executable)
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True, timeout=30).returncode == 0:
        return found
    candidates = sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}.*/bin/python3")))
    return candidates[-1] if candidates else None


def stock_venv(version: str, where: Path) -> Path:
    """``python3 -m venv`` of that Python, with the pip it bundles (not upgraded)."""
    python = stock_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=120)
    return where


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "pip"), *args], capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize("lock", ["server.lock", "dev.lock"])
def test_the_readme_installs_work_with_the_pip_of_a_stock_venv(lock, tmp_path):
    """The README's install step with the stock venv's pip (23.2 here, which refuses these
    locks in hash-checking mode without --no-deps: an extra of a dependency looks unpinned)
    resolves every file of the lock and checks its hash (a dry run: nothing installed)."""
    venv = stock_venv("3.11", tmp_path / "venv")
    result = pip(venv, "install", "-q", "--require-hashes", "--no-deps", "--dry-run",
                 "-r", str(REPO / "requirements" / lock))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_base_install_runs_a_full_extract_without_heavy_libraries(live_server, tmp_path, version):
    """A stock venv with the client lock and the project only: the package imports from
    the repository root as from anywhere, extract works, torch/spaCy/transformers are
    absent."""
    venv = stock_venv(version, tmp_path / "venv")
    install = pip(venv, "install", "-q", "--require-hashes", "--no-deps",
                  "-r", str(REPO / "requirements" / "client.lock"))  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    install = pip(venv, "install", "-q", "--no-deps", str(clean_source(tmp_path / "repo")))
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format", "json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    names = {row["name"].lower() for row in json.loads(listed.stdout)}
    assert "hemma-features" in names and "pyarrow" in names
    assert not names & set(HEAVY), names & set(HEAVY)
    # From the repository root, where Python puts the checkout first on sys.path: no folder
    # there shadows the installed package (src/ holds the package, not the root).
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import hemma_features; from hemma_features import FeatureClient, open_features; "
         "print(hemma_features.__file__)"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.strip().startswith(str(venv)), imported.stdout
    report = tmp_path / "report.json"
    run = subprocess.run(
        [str(venv / "bin" / "hemma-features"), "extract", str(SAMPLES), "--server",
         live_server.http_url, "--cache", str(tmp_path / "cache"), "--feature-set", "combined",
         "--quiet", "--report", str(report)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["rows_requested"] == 8 and summary["rows_fetched"] == 8
    serve = subprocess.run(
        [str(venv / "bin" / "hemma-features"), "serve", "--http-port", "0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert serve.returncode == 2
    [line] = serve.stderr.strip().splitlines()  # one line, no traceback
    assert "pip install 'hemma-features[server]'" in line and "torch" in line
    demo = subprocess.run(
        [str(venv / "bin" / "hemma-features"), "demo"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert demo.returncode == 2  # at once, without starting a server that cannot start
    [line] = demo.stderr.strip().splitlines()
    assert "`hemma-features demo` needs the server extra" in line
    shipped = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from hemma_features.client.demo import sample_essays; print(sample_essays().is_file())"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert shipped.stdout.strip() == "True", shipped.stderr  # the samples ship in the wheel


def test_the_readme_read_snippets_run_in_the_venv_the_readme_installs(
    live_server, runtime, tmp_path
):
    """The README's read snippets (pyarrow, pandas, polars, DuckDB; IPC and Parquet) run as
    written in a stock venv holding what the README installs for them, the read lock and
    the project: every package they import is there."""
    from tests.test_readme import README, read_snippets, write_caches

    command = "pip install --require-hashes --no-deps -r requirements/read.lock"
    assert command in README
    venv = stock_venv("3.11", tmp_path / "venv")
    install = pip(venv, "install", "-q", "--require-hashes", "--no-deps",
                  "-r", str(REPO / "requirements" / "read.lock"))  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    install = pip(venv, "install", "-q", "--no-deps", str(clean_source(tmp_path / "repo")))
    assert install.returncode == 0, install.stderr[-3000:]
    write_caches(live_server.http_url, tmp_path)
    fp = runtime.fingerprint_for("combined")
    snippets = read_snippets()
    assert {file_format for _, file_format, _ in snippets} == {"ipc", "parquet"}
    for snippet, file_format, names in snippets:
        script = snippet.replace("<fp>", fp) + "".join(f"\nprint(len({n}))" for n in names)
        ran = subprocess.run(
            [str(venv / "bin" / "python"), "-c", script],
            capture_output=True, text=True, timeout=300,
            cwd=tmp_path / ("parquet" if file_format == "parquet" else ""),
        )  # fmt: skip
        assert ran.returncode == 0, (snippet, ran.stderr[-3000:])
        assert ran.stdout.split() == ["8"] * len(names), (snippet, ran.stdout)
