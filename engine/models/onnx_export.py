"""Export a transformers encoder to ONNX once, fuse it for ONNX Runtime, cache it on disk.

The file is keyed by the weights' sha256 and the versions that shape the graph, so a new
model or library version exports again and an unchanged one starts from disk. Export
runs under a file lock (two servers sharing a cache export once) and lands by rename (a
killed export leaves no half file behind).

Recipe: the model with eager attention (the pattern ONNX Runtime's transformer optimizer
fuses into its ``Attention`` kernel), traced with ``torch.onnx.export`` on a short input
with dynamic batch and sequence axes, then fused offline by
``onnxruntime.transformers.optimizer``. ``int8`` adds dynamic per-channel quantisation of
the fused graph's weights. The loader checks every graph against torch float32 before use.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import structlog

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models.encoders import ORT_INPUTS, ORT_OUTPUT

log = structlog.get_logger(__name__)

RECIPE: dict[str, Any] = {
    "version": 1,
    "exporter": "torchscript",
    "opset": 17,
    "attention": "eager",
    "fusion": "onnxruntime.transformers",
}
"""How the graph is made; a change here re-exports and changes the fingerprint."""
_FUSED_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "mpnet": "bert",
                "distilbert": "bert", "electra": "bert", "deberta-v2": "bert"}  # fmt: skip
_VERSIONED = ("torch", "transformers", "onnxruntime", "onnx")


def export_key(weights_sha256: str) -> str:
    """Directory name for one model's exports under these library versions."""
    parts = {"weights": weights_sha256, "recipe": RECIPE}
    parts.update({name: metadata.version(name) for name in _VERSIONED})
    return hashlib.sha256(msgspec.json.encode(parts, order="sorted")).hexdigest()[:24]


def ensure_exported(
    model_dir: Path, cache_dir: Path, weights_sha256: str, quantization: str
) -> tuple[Path, bool]:
    """(path of the ready ``.onnx`` file, whether it was made now)."""
    from filelock import FileLock

    target_dir = cache_dir / "onnx" / export_key(weights_sha256)
    name = "model.int8.onnx" if quantization == "int8" else "model.onnx"
    target = target_dir / name
    if target.is_file():
        return target, False
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot create the ONNX export directory {target_dir} ({exc}); set "
            "HEMMA_MODEL_CACHE_DIR to a writable directory or HEMMA_EMBEDDING_BACKEND=torch"
        ) from exc
    with FileLock(str(target_dir / ".export.lock"), timeout=900):
        if target.is_file():  # another process exported it while we waited
            return target, False
        fused = target_dir / "model.onnx"
        if not fused.is_file():
            _export_fused(model_dir, fused)
        if quantization == "int8":
            _quantize(fused, target)
    return target, True


def _export_fused(model_dir: Path, target: Path) -> None:
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(
        model_dir, local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    example = torch.ones((1, 8), dtype=torch.long)
    raw = target.with_name(f".raw-{os.getpid()}.onnx")
    staged = target.with_name(f".fused-{os.getpid()}.onnx")
    axes = {0: "batch", 1: "tokens"}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(model),
                (example, torch.ones_like(example)),
                str(raw),
                input_names=list(ORT_INPUTS),
                output_names=[ORT_OUTPUT],
                dynamic_axes={ORT_INPUTS[0]: axes, ORT_INPUTS[1]: axes, ORT_OUTPUT: axes},
                opset_version=int(RECIPE["opset"]),
                dynamo=False,
            )
        fused = optimize_model(
            str(raw),
            model_type=_FUSED_TYPES.get(str(config.model_type), "bert"),
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            opt_level=0,
        )
        fused.save_model_to_file(str(staged))
        os.replace(staged, target)
        log.info(
            "embedding.onnx_exported",
            path=str(target),
            fused={k: v for k, v in fused.get_fused_operator_statistics().items() if v},
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # the exporter and optimizer raise many unrelated types
        raise ModelLoadError(
            f"exporting the embedding model to ONNX failed ({type(exc).__name__}: {exc}); "
            "set HEMMA_EMBEDDING_BACKEND=torch"
        ) from exc
    finally:
        for path in (raw, staged):
            path.unlink(missing_ok=True)


def _quantize(fused: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staged = target.with_name(f".int8-{os.getpid()}.onnx")
    try:
        quantize_dynamic(
            str(fused),
            str(staged),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # Fused nodes (Attention, SkipLayerNormalization) have no ONNX shape inference.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        os.replace(staged, target)
    except Exception as exc:  # as above
        raise ModelLoadError(f"int8 quantisation of the ONNX graph failed: {exc}") from exc
    finally:
        staged.unlink(missing_ok=True)


def agreement(candidate: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(minimum, mean) cosine between matching rows of two [N, D] arrays, in float64."""
    a = candidate.astype(np.float64)
    b = reference.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines = np.where(norms > 0, (a * b).sum(1) / np.where(norms > 0, norms, 1.0), 1.0)
    return float(cosines.min()), float(cosines.mean())
