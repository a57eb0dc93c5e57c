"""benchmarks/gpu.py on a tiny random model on this CPU: every figure it promises is printed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_the_gpu_benchmark_runs_on_a_cpu_with_a_tiny_random_model():
    """Bare encoder, seed-style pipeline, the three feature sets, the parse bound, the
    per-pass figures and the invariance check, on padded passes, in one bounded run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    command = [
        sys.executable, "benchmarks/gpu.py", "--tiny", "--essays", "12", "--rounds", "1",
        "--parse-sample", "6", "--env", "HEMMA_EMBEDDING_BATCH_SIZE=8",
        "--env", "HEMMA_PARSE_WORKERS=1",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "speed only: minilm architecture with random weights (tiny); device cpu" in out
    assert "| bare encoder float32 |" in out
    assert "| seed-style |" in out
    for name in ("embeddings", "handcrafted", "combined"):
        assert f"| {name} |" in out
    assert "| parse bound |" in out
    assert "'padded': True" in out and "encoder passes:" in out
    assert "bit-identical vectors across batch compositions: yes" in out
