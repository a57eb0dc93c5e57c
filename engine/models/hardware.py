"""What the running machine can do: cores available, CPU instruction sets, CUDA capability.

Reduced precision is only fast where the hardware computes it natively: on a CPU without
AVX-512 BF16 or AMX, bfloat16 is emulated (measured at 0.15x float32 on an AVX2 host).
``native_precisions`` says which reduced precisions a device runs natively; the embedding
loader stays on float32 elsewhere and says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

CPUINFO = Path("/proc/cpuinfo")
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""Either flag means the CPU has bfloat16 dot-product instructions."""
FP16_CPU_FLAGS = frozenset({"avx512_fp16", "amx_fp16"})
"""Either flag means the CPU has float16 arithmetic (Sapphire Rapids and later)."""
SHOWN_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                   "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")  # fmt: skip
"""The instruction sets that matter for inference speed, as reported at start."""


class Hardware(msgspec.Struct, frozen=True, kw_only=True):
    """The machine as the embedding loader sees it."""

    cores: int
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    cpu_model: str
    """The CPU's model name, or ``unknown``."""
    cpu_flags: frozenset[str]
    """The CPU's instruction-set flags (Linux names), empty when unknown."""
    cuda_capability: tuple[int, int] | None = None
    """Compute capability of CUDA device 0, or None without CUDA."""
    cuda_name: str | None = None
    """CUDA device 0's name."""

    def shown_flags(self) -> list[str]:
        """The speed-relevant flags this CPU has, in a fixed order."""
        return [flag for flag in SHOWN_CPU_FLAGS if flag in self.cpu_flags]


def available_cores() -> int:
    """Cores this process may use: its CPU affinity where the OS reports one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def read_cpuinfo(path: Path = CPUINFO) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU in ``/proc/cpuinfo``; ("unknown", {}) elsewhere."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "unknown", frozenset()
    model, flags = "unknown", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model != "unknown" and flags:
            break
    return model, flags


def detect(cuda: bool) -> Hardware:
    """The running machine; ``cuda`` asks torch about device 0 (imports torch)."""
    model, flags = read_cpuinfo()
    capability = name = None
    if cuda:
        import torch

        if torch.cuda.is_available():
            capability = tuple(torch.cuda.get_device_capability(0))
            name = torch.cuda.get_device_name(0)
    return Hardware(
        cores=available_cores(),
        cpu_model=model,
        cpu_flags=flags,
        cuda_capability=capability,  # type: ignore[arg-type]
        cuda_name=name,
    )


def native_precisions(hardware: Hardware, device: str) -> frozenset[str]:
    """Weight dtypes the device computes natively and fast (float32 always)."""
    native = {"float32"}
    if device == "cuda":
        capability = hardware.cuda_capability or (0, 0)
        if capability >= (6, 0):
            native.add("float16")
        if capability >= (8, 0):  # Ampere and later
            native.add("bfloat16")
    else:
        if hardware.cpu_flags & BF16_CPU_FLAGS:
            native.add("bfloat16")
        if hardware.cpu_flags & FP16_CPU_FLAGS:
            native.add("float16")
    return frozenset(native)
