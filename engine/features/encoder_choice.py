"""Pick and load the embedding backend and precision for the running hardware.

The default (``auto``) is the fastest lossless option measured for the device
(``docs/benchmarks.md``, "Embedding backends"): on a CPU, ONNX Runtime float32 (as fast as
torch float32 and, unlike torch, bit-identical whatever the thread count), or torch
bfloat16 where the CPU computes bfloat16 natively (AVX-512 BF16 or AMX); on CUDA, torch in
bfloat16 (Ampere and later) or float16. A reduced precision asked for on hardware without
native support is refused in favour of float32, and the start-up log says so.

Every backend other than torch float32 is checked at start against torch float32 on probe
texts (short, medium, a full window). An automatic choice whose minimum cosine falls
below ``LOSSLESS_COSINE`` is dropped for torch float32, with a warning; an explicit lossy
choice (``int8``) is kept and its measured agreement logged.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import structlog

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.features.encoders import Encoder, OnnxEncoder, TorchEncoder
from hemma_features.engine.features.hardware import Hardware, native_precisions
from hemma_features.engine.features.onnx_export import RECIPE, agreement, ensure_exported

log = structlog.get_logger(__name__)

LOSSLESS_COSINE = 0.9999
"""Least cosine to torch float32, on every probe, for an automatic choice."""
PROBE_TEXT = (
    "Students learn more when they can choose what to study. In my opinion, schools "
    "should let them pick at least one class each term, because interest makes people "
    "work harder; however, some basics, like reading and mathematics, must stay required. "
)


class EncoderReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the loader chose and why; logged at start and shown on ``/v1/config``."""

    backend: str
    precision: str
    quantization: str
    threads: int
    device: str
    min_cosine: float
    """Least cosine to torch float32 over the probe texts (1.0 for torch float32 itself)."""
    mean_cosine: float
    exported_seconds: float | None = None
    """Seconds spent exporting to ONNX at this start (None: loaded from the cache)."""
    notes: list[str] = []
    """Every request the loader could not follow, in words."""


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_precision(requested: str, device: str, hardware: Hardware) -> tuple[str, list[str]]:
    """(weight dtype to use, notes) for a requested dtype on ``device``."""
    native = native_precisions(hardware, device)
    if requested == "auto":
        for choice in ("bfloat16", "float16") if device == "cuda" else ("bfloat16",):
            if choice in native:
                return choice, []
        return "float32", []
    if requested in native:
        return requested, []
    needs = "avx512_bf16 or amx_bf16" if requested == "bfloat16" else "avx512_fp16 or amx_fp16"
    where = f"this CPU ({', '.join(hardware.shown_flags()) or 'flags unknown'}; needs {needs})"
    if device == "cuda":
        where = f"this GPU (compute capability {hardware.cuda_capability})"
    return "float32", [
        f"HEMMA_EMBEDDING_DTYPE={requested} is not native on {where}: emulated it runs "
        "several times slower than float32, so the embeddings stay float32"
    ]


def resolve_backend(requested: str, device: str, dtype: str, quantization: str) -> str:
    """The backend to use; ``ModelLoadError`` for combinations that cannot run."""
    if requested == "onnx" or quantization == "int8":
        if device != "cpu":
            raise ModelLoadError(
                "HEMMA_EMBEDDING_BACKEND=onnx (and int8 quantisation) runs on the CPU only; "
                "use HEMMA_DEVICE=cpu or HEMMA_EMBEDDING_BACKEND=torch"
            )
        if not onnx_available():
            raise ModelLoadError(
                "HEMMA_EMBEDDING_BACKEND=onnx needs onnxruntime (pip install "
                "'hemma-features[server]')"
            )
        if requested == "torch":
            raise ModelLoadError(
                "HEMMA_EMBEDDING_QUANTIZATION=int8 needs HEMMA_EMBEDDING_BACKEND=onnx or auto"
            )
        return "onnx"
    if requested == "torch":
        return "torch"
    return "onnx" if device == "cpu" and dtype == "float32" and onnx_available() else "torch"


def probe_ids(tokenizer: Any, max_length: int) -> list[np.ndarray]:
    """Token id sequences of three lengths (short, medium, a full window) from PROBE_TEXT."""
    ids = tokenizer(
        PROBE_TEXT * 40, truncation=True, max_length=max_length, add_special_tokens=True
    )["input_ids"]
    lengths = sorted({min(len(ids), n) for n in (12, 96, len(ids))})
    return [np.asarray([ids[: n - 1] + [ids[-1]]], dtype=np.int64) for n in lengths]


def pooled(encoder: Encoder, probes: list[np.ndarray]) -> np.ndarray:
    """[P, D] mean-pooled vectors of the probe sequences."""
    return np.concatenate([encoder.hidden_states(ids).mean(axis=1) for ids in probes])


def load_encoder(
    *,
    directory: Path,
    tokenizer: Any,
    weights_sha256: str,
    backend: str,
    dtype: str,
    quantization: str,
    device: str,
    threads: int,
    max_length: int,
    hardware: Hardware,
    cache_dir: Path,
) -> tuple[Encoder, EncoderReport]:
    """Load the chosen backend, check it against torch float32, fall back when it fails."""
    from transformers import AutoModel

    precision, notes = resolve_precision(dtype, device, hardware)
    chosen = resolve_backend(backend, device, precision, quantization)
    if chosen == "onnx" and precision != "float32":
        notes.append(f"the onnx backend runs float32; HEMMA_EMBEDDING_DTYPE={dtype} is ignored")
        precision = "float32"
    try:
        reference_model = AutoModel.from_pretrained(directory, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"embedding model at {directory} failed to load: {exc}") from exc
    cpu_threads = threads if device == "cpu" else None
    reference = TorchEncoder(
        reference_model, device="cpu", dtype="float32", threads=threads, hardware=hardware
    )
    if chosen == "torch" and precision == "float32" and device == "cpu":
        report = EncoderReport(
            backend="torch", precision="float32", quantization="none", threads=threads,
            device=device, min_cosine=1.0, mean_cosine=1.0, notes=notes,
        )  # fmt: skip
        return reference, report
    exported_seconds = None
    candidate: Encoder
    probes = probe_ids(tokenizer, max_length)
    lossy_asked = quantization == "int8" or (dtype not in ("auto", "float32"))
    try:
        if chosen == "onnx":
            started = time.perf_counter()
            path, made = ensure_exported(directory, cache_dir, weights_sha256, quantization)
            exported_seconds = round(time.perf_counter() - started, 2) if made else None
            candidate = OnnxEncoder(
                path, dim=reference.dim, threads=threads, quantization=quantization,
                recipe=RECIPE, hardware=hardware,
            )  # fmt: skip
        else:
            import torch

            model = copy.deepcopy(reference_model).to(
                device=device, dtype=getattr(torch, precision)
            )
            candidate = TorchEncoder(
                model, device=device, dtype=precision, threads=cpu_threads, hardware=hardware
            )
        lowest, mean = agreement(pooled(candidate, probes), pooled(reference, probes))
        failure = None
    except Exception as exc:  # an export or a kernel that does not run this model
        if lossy_asked or backend == chosen:
            raise ModelLoadError(
                f"the {chosen} {precision} backend failed on this model: "
                f"{type(exc).__name__}: {exc}; leave HEMMA_EMBEDDING_BACKEND/DTYPE/"
                "QUANTIZATION at auto/none for torch float32"
            ) from exc
        lowest, mean, failure = 0.0, 0.0, f"{type(exc).__name__}: {str(exc)[:300]}"
    if lowest < LOSSLESS_COSINE and not lossy_asked:
        notes.append(
            f"{chosen} {precision} failed on this model ({failure}): using torch float32 instead"
            if failure
            else f"{chosen} {precision} agreed with torch float32 only to cosine {lowest:.6f} "
            f"(< {LOSSLESS_COSINE}) on the probe texts: using torch float32 instead"
        )
        chosen, precision, candidate = "torch", "float32", reference
        if device != "cpu":
            candidate = TorchEncoder(
                reference_model.to(device), device=device, dtype="float32",
                threads=None, hardware=hardware,
            )  # fmt: skip
        lowest = mean = 1.0
    report = EncoderReport(
        backend=chosen,
        precision=precision,
        quantization=quantization if chosen == "onnx" else "none",
        threads=threads,
        device=device,
        min_cosine=round(lowest, 8),
        mean_cosine=round(mean, 8),
        exported_seconds=exported_seconds,
        notes=notes,
    )
    return candidate, report
