"""Zero local compute: the base (client) install alone extracts against a running server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, SAMPLES, clean_source

HEAVY = ("torch", "transformers", "spacy", "textdescriptives", "litestar", "uvicorn")


def test_base_install_runs_a_full_extract_without_heavy_libraries(live_server, tmp_path):
    """A fresh venv with `pip install .` only: the package imports from the repository root
    as from anywhere, extract works, torch/spaCy/transformers are absent."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "constraints.txt"),
         str(clean_source(tmp_path / "repo"))],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
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
