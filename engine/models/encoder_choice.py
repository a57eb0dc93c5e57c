"""Pick and load the embedding backend and precision for the running hardware.

The default (``auto``) on a CPU is float32, lossless, on the backend measured fastest on
this host among torch, ONNX Runtime and OpenVINO (``backend_timing``: timed once per host
at the first start, stored beside the export, read at later starts). Reduced precision on
a CPU is used only when asked for (``HEMMA_EMBEDDING_DTYPE=bfloat16``) and only where the
CPU computes it natively. On CUDA, ``auto`` is torch in bfloat16 (Ampere and later) or
float16. A reduced precision asked for on hardware without native support is refused in
favour of float32, and the start-up log says so.

Every backend other than torch float32 is checked at start against torch float32 on probe
texts (short, medium, a full window). An automatic choice whose minimum cosine falls
below ``LOSSLESS_COSINE`` is dropped for torch float32, with a warning; an explicit lossy
choice (``int8``, ``bfloat16``) is kept and its measured agreement logged.
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
from hemma_features.engine.models import backend_timing
from hemma_features.engine.models.backend_timing import Candidate
from hemma_features.engine.models.encoders import (
    Encoder,
    OnnxEncoder,
    OpenVinoEncoder,
    TorchEncoder,
)
from hemma_features.engine.models.hardware import Hardware, native_precisions
from hemma_features.engine.models.onnx_export import (
    RECIPE,
    agreement,
    ensure_exported,
    export_key,
)

log = structlog.get_logger(__name__)

LOSSLESS_COSINE = backend_timing.LOSSLESS_COSINE
"""Least cosine to torch float32, on every probe, for an automatic choice."""
PROBE_TEXT = (
    "Students learn more when they can choose what to study. In my opinion, schools "
    "should let them pick at least one class each term, because interest makes people "
    "work harder; however, some basics, like reading and mathematics, must stay required. "
)
MEASURE = "measure"
"""``resolve_backend``'s answer for ``auto`` on a CPU in float32: time the candidates."""


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
    decided: str = "asked"
    """``asked`` (the setting named the backend), ``measured`` (``auto``, timed at this
    start) or ``stored`` (``auto``, the decision timed at an earlier start on this host)."""
    candidates: list[Candidate] = []
    """Under ``auto`` on a CPU: each backend's timing and agreement on the probe texts."""
    notes: list[str] = []
    """Every request the loader could not follow, in words."""


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_precision(requested: str, device: str, hardware: Hardware) -> tuple[str, list[str]]:
    """(weight dtype to use, notes) for a requested dtype on ``device``."""
    native = native_precisions(hardware, device)
    if requested == "auto":
        # A CPU's reduced precision is not lossless (bfloat16 on MiniLM: min cosine 0.99998),
        # so auto stays float32 there; a GPU's is what makes it worth having.
        for choice in ("bfloat16", "float16") if device == "cuda" else ():
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
    """The backend to use, or ``MEASURE``; ``ModelLoadError`` for combinations that cannot
    run."""
    if requested in ("onnx", "openvino") and device != "cpu":
        raise ModelLoadError(
            f"HEMMA_EMBEDDING_BACKEND={requested} runs on the CPU only; use HEMMA_DEVICE=cpu "
            "or HEMMA_EMBEDDING_BACKEND=torch"
        )
    if requested == "openvino":
        if quantization == "int8":
            raise ModelLoadError(
                "HEMMA_EMBEDDING_QUANTIZATION=int8 needs HEMMA_EMBEDDING_BACKEND=onnx or auto"
            )
        if not (openvino_available() and onnx_available()):
            raise ModelLoadError(
                "HEMMA_EMBEDDING_BACKEND=openvino needs openvino and onnxruntime (pip install "
                "'hemma-features[server]')"
            )
        return "openvino"
    if requested == "onnx" or quantization == "int8":
        if device != "cpu":
            raise ModelLoadError(
                "int8 quantisation runs on the CPU only (ONNX Runtime); use HEMMA_DEVICE=cpu"
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
    return MEASURE if device == "cpu" and dtype == "float32" else "torch"


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


class _Build(msgspec.Struct, kw_only=True):
    """What building a candidate backend needs (one model, one machine)."""

    directory: Path
    weights_sha256: str
    threads: int
    hardware: Hardware
    cache_dir: Path
    dim: int
    exported_seconds: float | None = None

    def export(self, quantization: str) -> Path:
        started = time.perf_counter()
        path, made = ensure_exported(
            self.directory, self.cache_dir, self.weights_sha256, quantization
        )
        if made:
            self.exported_seconds = round(time.perf_counter() - started, 2)
        return path

    def onnx(self, quantization: str = "none") -> OnnxEncoder:
        return OnnxEncoder(
            self.export(quantization), dim=self.dim, threads=self.threads,
            quantization=quantization, recipe=RECIPE, hardware=self.hardware,
        )  # fmt: skip

    def openvino(self, precision: str = "float32") -> OpenVinoEncoder:
        path = self.export("none")
        return OpenVinoEncoder(
            path, dim=self.dim, threads=self.threads, precision=precision, recipe=RECIPE,
            hardware=self.hardware, cache_dir=path.parent / "openvino",
        )  # fmt: skip


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
    if chosen == "openvino" and precision not in ("float32", "bfloat16"):
        notes.append(f"the openvino backend runs float32 or bfloat16; {precision} is ignored")
        precision = "float32"
    try:
        reference_model = AutoModel.from_pretrained(directory, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"embedding model at {directory} failed to load: {exc}") from exc
    cpu_threads = threads if device == "cpu" else None
    reference = TorchEncoder(
        reference_model, device="cpu", dtype="float32", threads=threads, hardware=hardware
    )
    build = _Build(
        directory=directory, weights_sha256=weights_sha256, threads=threads,
        hardware=hardware, cache_dir=cache_dir, dim=reference.dim,
    )  # fmt: skip
    probes = probe_ids(tokenizer, max_length)
    if chosen == MEASURE:
        return _measured(build, reference, probes, max_length, notes)
    if chosen == "torch" and precision == "float32" and device == "cpu":
        report = EncoderReport(
            backend="torch", precision="float32", quantization="none", threads=threads,
            device=device, min_cosine=1.0, mean_cosine=1.0, notes=notes,
        )  # fmt: skip
        return reference, report
    candidate: Encoder
    lossy_asked = quantization == "int8" or (dtype not in ("auto", "float32"))
    try:
        if chosen == "onnx":
            candidate = build.onnx(quantization)
        elif chosen == "openvino":
            candidate = build.openvino(precision)
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
                "QUANTIZATION at auto/none for a measured float32 choice"
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
        exported_seconds=build.exported_seconds,
        notes=notes,
    )
    return candidate, report


def _measured(
    build: _Build,
    reference: TorchEncoder,
    probes: list[np.ndarray],
    max_length: int,
    notes: list[str],
) -> tuple[Encoder, EncoderReport]:
    """``auto`` on a CPU: the stored decision for this host, else time the candidates now."""
    key = backend_timing.decision_key(
        build.hardware, build.threads, build.weights_sha256, max_length
    )
    stored_at = None
    if onnx_available():
        stored_at = backend_timing.decision_path(
            build.cache_dir / "onnx" / export_key(build.weights_sha256), key
        )
    decision = backend_timing.read_decision(stored_at, key) if stored_at else None
    expected = pooled(reference, probes)
    encoders: dict[str, Encoder] = {"torch": reference}
    checked: dict[str, tuple[float, float]] = {"torch": (1.0, 1.0)}
    failures: dict[str, str] = {}

    def add(name: str) -> None:
        try:
            if name == "onnx":
                if not onnx_available():
                    raise ModelLoadError("onnxruntime is not installed")
                encoders[name] = build.onnx()
            elif name == "openvino":
                if not (openvino_available() and onnx_available()):
                    raise ModelLoadError("openvino (or onnxruntime) is not installed")
                encoders[name] = build.openvino()
            checked[name] = agreement(pooled(encoders[name], probes), expected)
        except Exception as exc:  # a backend absent, or one that does not run this model
            encoders.pop(name, None)
            failures[name] = f"{type(exc).__name__}: {str(exc)[:300]}"

    if decision is not None and decision.chosen != "torch":
        add(decision.chosen)
    if decision is None or decision.chosen not in encoders:
        decision = None  # measure again: nothing stored, or the stored choice fails now
        for name in backend_timing.CANDIDATES:
            if name not in encoders:
                add(name)
    if decision is not None and decision.chosen in encoders:
        chosen, decided, candidates = decision.chosen, "stored", decision.candidates
    else:
        timings = backend_timing.time_candidates(encoders, probes)
        candidates = [
            Candidate(
                backend=name,
                cpu_seconds=timings[name][0] if name in timings else None,
                wall_seconds=timings[name][1] if name in timings else None,
                min_cosine=round(checked.get(name, (0.0, 0.0))[0], 8),
                failure=failures.get(name),
            )
            for name in backend_timing.CANDIDATES
        ]
        chosen, decided = backend_timing.fastest(candidates), "measured"
        if stored_at is not None:
            stored_at.parent.mkdir(parents=True, exist_ok=True)
            backend_timing.write_decision(
                stored_at,
                backend_timing.Decision(
                    version=backend_timing.DECISION_VERSION,
                    key=key,
                    chosen=chosen,
                    candidates=candidates,
                ),  # fmt: skip
            )
    lowest, mean = checked.get(chosen, (1.0, 1.0))
    if lowest < LOSSLESS_COSINE:  # a stored choice that no longer agrees
        notes.append(
            f"{chosen} float32 agreed with torch float32 only to cosine {lowest:.6f} "
            f"(< {LOSSLESS_COSINE}) on the probe texts: using torch float32 instead"
        )
        chosen, (lowest, mean) = "torch", (1.0, 1.0)
    log.info(
        "embedding.backend_chosen",
        chosen=chosen,
        decided=decided,
        candidates=msgspec.to_builtins(candidates),
    )
    report = EncoderReport(
        backend=chosen, precision="float32", quantization="none", threads=build.threads,
        device="cpu", min_cosine=round(lowest, 8), mean_cosine=round(mean, 8),
        exported_seconds=build.exported_seconds, decided=decided, candidates=candidates,
        notes=notes,
    )  # fmt: skip
    return encoders[chosen], report
