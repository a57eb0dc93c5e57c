"""Encoder backends: token ids [B, L] -> final hidden states [B, L, D] float32.

Three implementations behind one small interface: ``TorchEncoder`` (any device and dtype
torch offers), ``OnnxEncoder`` (ONNX Runtime on CPU, from a graph exported and verified
by ``onnx_export``) and ``OpenVinoEncoder`` (OpenVINO's CPU plugin, from the same graph).
Pooling, windows and spans stay in ``embed.Embedder``, so every backend feeds exactly the
same code after the forward pass.

``hidden_states`` takes sequences of one length (the unpadded path: the attention mask is
all ones and is built here); ``forward`` takes a padded pass with its attention mask and
returns a torch tensor where the backend computed it (the GPU for torch on CUDA), so the
pooling of ``padded`` runs there and only pooled sums leave the device.
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hemma_features.engine.models.hardware import Hardware

ORT_INPUTS = ("input_ids", "attention_mask")
ORT_OUTPUT = "last_hidden_state"


class Encoder(Protocol):
    """What the embedder needs from a backend."""

    dim: int

    def hidden_states(self, ids: np.ndarray) -> np.ndarray:
        """[B, L] int64 token ids (one length) -> [B, L, D] float32 final states."""
        ...

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> Any:
        """[B, W] int64 padded ids and attention mask -> [B, W, D] torch tensor of final
        states (on the backend's device, in its dtype); called under inference mode."""
        ...

    def components(self) -> dict[str, Any]:
        """What about this backend changes output bits, for the fingerprint."""
        ...


def cpu_isa(hardware: Hardware) -> str:
    """The widest vector instruction set float kernels dispatch to on this CPU.

    Math libraries pick kernels by instruction set, and kernels of different widths sum in
    different orders: the last bits of a vector may differ between an AVX2 and an AVX-512
    host, so the class enters the fingerprint.
    """
    if "avx512f" in hardware.cpu_flags:
        return "avx512"
    if "avx2" in hardware.cpu_flags:
        return "avx2"
    return "baseline" if hardware.cpu_flags else "unknown"


class TorchEncoder:
    """A transformers model run by torch on ``device`` in ``dtype``.

    Args:
        model: The loaded ``AutoModel`` (already moved to device and dtype, in eval mode).
        device: ``cpu`` or ``cuda``.
        dtype: Weight dtype name (``float32``, ``bfloat16``, ``float16``).
        threads: Intra-op threads on CPU (process-wide in torch); None on CUDA.
        hardware: The machine, for the fingerprint's kernel class.
    """

    backend = "torch"

    def __init__(
        self, model: Any, *, device: str, dtype: str, threads: int | None, hardware: Hardware
    ) -> None:
        import torch

        self.model = model
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.dim = int(model.config.hidden_size)
        self._hardware = hardware
        if device == "cpu" and threads is not None:
            torch.set_num_threads(threads)
        if device == "cuda":
            # TF32 matmuls change float32 results; keep them off so float32 means float32.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    def hidden_states(self, ids: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(self.device)
            mask = torch.ones_like(batch)
            hidden = self.model(input_ids=batch, attention_mask=mask).last_hidden_state
            return hidden.float().cpu().numpy()

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> Any:
        import torch

        batch = torch.from_numpy(ids).to(self.device, non_blocking=True)
        attention = torch.from_numpy(mask).to(self.device, non_blocking=True)
        return self.model(input_ids=batch, attention_mask=attention).last_hidden_state

    def components(self) -> dict[str, Any]:
        import torch

        parts: dict[str, Any] = {
            "backend": "torch",
            "precision": self.dtype,
            "quantization": "none",
        }
        if self.device == "cpu":
            # torch splits float32 GEMMs by thread: 1 and 2 threads differ in the last bits
            # (measured on MiniLM), so the thread count is part of what makes the bytes.
            parts["threads"] = self.threads
            parts["kernels"] = cpu_isa(self._hardware)
        else:
            capability = self._hardware.cuda_capability or (0, 0)
            parts["kernels"] = f"sm_{capability[0]}{capability[1]}"
            parts["cuda"] = torch.version.cuda
            parts["cudnn"] = torch.backends.cudnn.version()
            parts["tf32"] = False
        return parts


class OnnxEncoder:
    """An exported encoder run by ONNX Runtime's CPU provider.

    Args:
        path: The ``.onnx`` file (see ``onnx_export.ensure_exported``).
        dim: Hidden size.
        threads: Intra-op threads. ONNX Runtime's results do not depend on it (checked by a
            test), so it stays out of the fingerprint.
        quantization: ``none`` or ``int8`` (what ``path`` holds).
        recipe: The export recipe, for the fingerprint.
        hardware: The machine, for the fingerprint's kernel class.
    """

    backend = "onnx"

    def __init__(
        self,
        path: Path,
        *,
        dim: int,
        threads: int,
        quantization: str,
        recipe: dict[str, Any],
        hardware: Hardware,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the parse workers share these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path
        self.dim = dim
        self.threads = threads
        self.quantization = quantization
        self._recipe = recipe
        self._hardware = hardware

    def hidden_states(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        feeds = {ORT_INPUTS[0]: ids, ORT_INPUTS[1]: np.ones_like(ids)}
        (states,) = self.session.run([ORT_OUTPUT], feeds)
        return np.asarray(states, dtype=np.float32)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> Any:
        import torch

        feeds = {ORT_INPUTS[0]: ids, ORT_INPUTS[1]: mask}
        (states,) = self.session.run([ORT_OUTPUT], feeds)
        return torch.from_numpy(np.asarray(states, dtype=np.float32))

    def components(self) -> dict[str, Any]:
        return {
            "backend": "onnx",
            "precision": "float32",
            "quantization": self.quantization,
            "onnxruntime": metadata.version("onnxruntime"),
            "export": self._recipe,
            "kernels": cpu_isa(self._hardware),
        }


OPENVINO_CONFIG: dict[str, Any] = {
    "PERFORMANCE_HINT": "LATENCY",
    "ENABLE_CPU_PINNING": False,
}
"""Compile settings measured on MiniLM and mpnet (docs/benchmarks.md): the LATENCY hint
(one stream using every thread) beat THROUGHPUT at batch 1; pinning threads to cores
slowed the parse workers sharing them."""
_OV_PRECISION = {"float32": "f32", "bfloat16": "bf16"}


class OpenVinoEncoder:
    """An exported encoder run by OpenVINO's CPU plugin.

    The plugin computes in bfloat16 by default on CPUs with AVX-512 BF16 or AMX, so the
    precision is always set: ``f32`` unless bfloat16 is asked for explicitly. Compiled
    blobs are kept in ``cache_dir`` (beside the export), so later starts skip compilation.

    Args:
        path: The ``.onnx`` file (see ``onnx_export.ensure_exported``).
        dim: Hidden size.
        threads: Inference threads. Results do not depend on it (checked by a test), so it
            stays out of the fingerprint.
        precision: ``float32`` or ``bfloat16`` (lossy; only when asked for).
        recipe: The export recipe, for the fingerprint.
        hardware: The machine, for the fingerprint's kernel class.
        cache_dir: Where OpenVINO keeps compiled models.
    """

    backend = "openvino"

    def __init__(
        self,
        path: Path,
        *,
        dim: int,
        threads: int,
        precision: str,
        recipe: dict[str, Any],
        hardware: Hardware,
        cache_dir: Path,
    ) -> None:
        import openvino as ov

        self.path = path
        self.dim = dim
        self.threads = threads
        self.precision = precision
        self._recipe = recipe
        self._hardware = hardware
        config = {
            **OPENVINO_CONFIG,
            "INFERENCE_PRECISION_HINT": _OV_PRECISION[precision],
            "INFERENCE_NUM_THREADS": threads,
            "CACHE_DIR": str(cache_dir),
        }
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self._request = self.compiled.create_infer_request()
        # One infer request is not safe to share between threads; a pass is already
        # parallel inside, so callers take turns.
        self._lock = threading.Lock()

    def hidden_states(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        feeds = {ORT_INPUTS[0]: ids, ORT_INPUTS[1]: np.ones_like(ids)}
        with self._lock:
            result = self._request.infer(feeds)
            states = np.array(result[self.compiled.output(0)], dtype=np.float32, copy=True)
        return states

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> Any:
        import torch

        feeds = {ORT_INPUTS[0]: ids, ORT_INPUTS[1]: mask}
        with self._lock:
            result = self._request.infer(feeds)
            states = np.array(result[self.compiled.output(0)], dtype=np.float32, copy=True)
        return torch.from_numpy(states)

    def components(self) -> dict[str, Any]:
        return {
            "backend": "openvino",
            "precision": self.precision,
            "quantization": "none",
            "openvino": metadata.version("openvino"),
            "openvino_config": {k: str(v) for k, v in OPENVINO_CONFIG.items()},
            "export": self._recipe,
            "kernels": cpu_isa(self._hardware),
        }
