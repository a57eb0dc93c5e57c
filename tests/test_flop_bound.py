"""benchmarks/flop_bound.py's GPU branch, run on the CPU with an injected CUDA capability."""

from __future__ import annotations

from benchmarks.flop_bound import gpu_line, gpu_peaks, gpu_variants
from hemma_features.engine.models.hardware import Hardware


def machine(capability: tuple[int, int] | None) -> Hardware:
    return Hardware(
        cores=2,
        cpu_model="x",
        cpu_flags=frozenset(),
        cuda_capability=capability,
        cuda_name="Injected GPU" if capability else None,
    )


def test_gpu_variants_follow_the_capability():
    """float32 always, float16 from 6.0, bfloat16 from 8.0, all torch on CUDA; none without
    a device."""
    assert gpu_variants(machine(None)) == {}
    assert list(gpu_variants(machine((7, 5)))) == ["torch cuda float32", "torch cuda float16"]
    variants = gpu_variants(machine((8, 6)))
    assert list(variants) == ["torch cuda float32", "torch cuda float16", "torch cuda bfloat16"]
    assert {(v["backend"], v["device"]) for v in variants.values()} == {("torch", "cuda")}


def test_gpu_peaks_are_measured_gemms_per_dtype():
    """One measured GEMM per dtype the device runs natively (the CPU stands in for it here),
    printed with the device's name, capability and memory."""
    peaks = gpu_peaks(machine((8, 6)), device="cpu", size=64, seconds=0.05)
    assert list(peaks) == ["float32", "float16", "bfloat16"]
    assert all(value > 0 for value in peaks.values())
    line = gpu_line(machine((8, 6)), 24 * 2**30, peaks, 64)
    assert line.startswith("gpu: Injected GPU (compute capability 8.6), memory 24.0 GiB;")
    assert "64^3" in line and f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s" in line
