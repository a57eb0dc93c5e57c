"""The soak benchmark's memory probe, the reading side (the server side is
``sitecustomize.py`` beside this file, which ``probe_env`` puts first on the server's
``PYTHONPATH``), and the least-squares slope both sides' figures are summarised with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute (nan below 3)."""
    if len(points) < 3:
        return float("nan")
    t, y = np.array(points).T
    return float(np.polyfit(t / 60, y, 1)[0])


def probe_env(path: Path, every: float, top: float | None, trim: bool) -> dict[str, str]:
    """The server environment that turns ``benchmarks/soak_probe`` on (see its docstring)."""
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
        ),
        "SOAK_PROBE": str(path),
        "SOAK_PROBE_SECONDS": str(every),
    }
    if top is not None:
        env["SOAK_PROBE_TOP"] = str(top)
    if trim:
        env["SOAK_PROBE_TRIM"] = "1"
    return env


def read_probe(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def probe_lines(
    readings: list[dict[str, Any]], started: float, half: float, until: float
) -> list[str]:
    """The probe's readings from the soak's first sample to its last, in MiB by allocator
    (``rest``: anonymous memory none of them accounts for), with the slope of each from
    ``half``.

    Args:
        readings: What ``read_probe`` returned.
        started: The soak's first sample (``time.time()``); times are printed from it.
        half: Seconds after ``started`` the fitted last half begins.
        until: Seconds after ``started`` of the soak's last sample.
    """
    for r in readings:
        r["t"] = r["unix"] - started
        r["rest"] = r["rss_anon"] - max(r["arrow"], 0) - r["glibc_used"] - r["glibc_free"]
    before = [r for r in readings if r["t"] < 0][-1:]  # the last one before: the level then
    shown = before + [r for r in readings if 0 <= r["t"] <= until]
    if not shown:
        return []
    names = ["rss_anon", "arrow", "glibc_used", "glibc_free", "rest"]
    if "rss_anon_before_trim" in shown[0]:
        names.insert(0, "rss_anon_before_trim")
    lines = [
        "server memory by allocator (MiB; benchmarks/soak_probe; t from the first sample):",
        "  " + " ".join(f"{n:>10s}" for n in ["t s", *names, "py_blocks", "threads"]),
    ]
    for r in shown:
        values = " ".join(f"{r[n] / 2**20:10.1f}" for n in names)
        lines.append(f"  {r['t']:10.1f} {values} {r['py_blocks']:10d} {r['threads']:10d}")
    late = [r for r in shown if r["t"] >= half]
    fitted = ", ".join(f"{n} {slope([(r['t'], r[n] / 2**20) for r in late]):+.2f}" for n in names)
    lines.append(f"  slope over the last half (MiB/min): {fitted}")
    traced = [r for r in readings if "top" in r]  # slow to take: the last, whenever
    if traced:
        last = traced[-1]
        lines.append(f"  tracemalloc at t {last['t']:.0f} s: {last['python'] / 2**20:.1f} MiB "
                     "traced; the lines that grew most since SOAK_PROBE_TOP:")  # fmt: skip
        lines.extend(f"    {entry}" for entry in last["top"])
    return lines
