"""``auto`` on a CPU: time every lossless float32 backend once per host and keep the result.

Which runtime is fastest differs by host (ONNX Runtime led on the AVX-512 Xeons, OpenVINO
on the AVX2 and Zen4 EPYCs; docs/benchmarks.md), so at the first start on a host the
loader runs each available backend on the probe texts, in interleaved rounds, and keeps
the one with the least CPU time per round among those whose minimum cosine to torch
float32 is at least ``LOSSLESS_COSINE``. The decision is stored beside the ONNX export,
keyed by what could change it: the CPU's model and flags, the thread count, the model's
weights hash, the window length and the libraries' versions. Later starts read it.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import msgspec
import numpy as np

from hemma_features.engine.models.encoders import Encoder
from hemma_features.engine.models.hardware import Hardware

LOSSLESS_COSINE = 0.9999
"""Least cosine to torch float32, on every probe, for an automatic choice."""
CANDIDATES = ("torch", "onnx", "openvino")
"""The lossless float32 CPU backends, in the order a tie keeps."""
ROUNDS = 3
"""Interleaved timing rounds; the median counts."""
DECISION_VERSION = 1
_VERSIONED = ("torch", "transformers", "onnxruntime", "onnx", "openvino")


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One backend as timed on the probe texts."""

    backend: str
    cpu_seconds: float | None
    """Median CPU-seconds (all threads) for one pass over the probe texts."""
    wall_seconds: float | None
    """Median wall-clock seconds for the same pass."""
    min_cosine: float
    """Least cosine to torch float32 over the probes."""
    failure: str | None = None
    """Why the backend could not be timed (not installed, failed on the model)."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What ``auto`` chose on this host, as stored."""

    version: int
    key: dict[str, object]
    chosen: str
    candidates: list[Candidate]


def decision_key(
    hardware: Hardware, threads: int, weights_sha256: str, max_length: int
) -> dict[str, object]:
    """Everything whose change could change which backend is fastest."""
    versions: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": hardware.cpu_model,
        "cpu_flags": hashlib.sha256(" ".join(sorted(hardware.cpu_flags)).encode()).hexdigest(),
        "threads": threads,
        "weights": weights_sha256,
        "max_length": max_length,
        "versions": versions,
    }


def decision_path(directory: Path, key: dict[str, object]) -> Path:
    digest = hashlib.sha256(msgspec.json.encode(key, order="sorted")).hexdigest()[:24]
    return directory / f"auto-{digest}.json"


def read_decision(path: Path, key: dict[str, object]) -> Decision | None:
    """The stored decision for ``key``, or None (absent, unreadable, other key)."""
    try:
        decision = msgspec.json.decode(path.read_bytes(), type=Decision)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if decision.version != DECISION_VERSION or decision.key != msgspec.to_builtins(key):
        return None
    return decision


def write_decision(path: Path, decision: Decision) -> None:
    """Land the decision by rename (a killed start leaves no half file)."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_bytes(msgspec.json.encode(decision, order="sorted"))
    os.replace(staged, path)


def time_candidates(
    encoders: dict[str, Encoder],
    probes: list[np.ndarray],
    rounds: int = ROUNDS,
    clock: Callable[[], float] = time.process_time,
) -> dict[str, tuple[float, float]]:
    """(median CPU-seconds, median wall-seconds) per backend for one pass over the probes.

    One warm-up pass each, then ``rounds`` rounds, each backend once per round, so a
    neighbour's load on a shared machine falls on every backend alike.
    """
    for encoder in encoders.values():
        encoder.hidden_states(probes[-1])
    cpu: dict[str, list[float]] = {name: [] for name in encoders}
    wall: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(rounds):
        for name, encoder in encoders.items():
            used, started = clock(), time.perf_counter()
            for ids in probes:
                encoder.hidden_states(ids)
            cpu[name].append(clock() - used)
            wall[name].append(time.perf_counter() - started)
    return {
        name: (round(statistics.median(cpu[name]), 4), round(statistics.median(wall[name]), 4))
        for name in encoders
    }


def fastest(candidates: list[Candidate]) -> str:
    """The lossless candidate with the least CPU time (torch float32 if none is timed)."""
    timed = [
        c
        for c in candidates
        if c.failure is None and c.cpu_seconds is not None and c.min_cosine >= LOSSLESS_COSINE
    ]
    if not timed:
        return "torch"
    order = {name: i for i, name in enumerate(CANDIDATES)}
    return min(timed, key=lambda c: (c.cpu_seconds, order.get(c.backend, 99))).backend
