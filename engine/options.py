"""What the runtime's parts are given, from the settings: the parse worker count, where
exported models are kept; and the embedding components the fingerprint hashes (read from
the loaded embedder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.hardware import available_cores
from hemma_features.engine.settings import Settings


def model_cache_path(settings: Settings) -> Path:
    """Where exported models are kept: the setting, else the per-user cache directory."""
    if settings.embedding.model_cache_dir:
        return Path(settings.embedding.model_cache_dir).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hemma-features"))


def parse_worker_count(settings: Settings, *, device: str) -> int:
    """Parse worker processes: the setting, else sized from the cores available.

    On a CPU host, one per core: a handcrafted-only request runs no encoder, so it parses
    on every core (as bare ``nlp.pipe(n_process=cores)`` would). On a CUDA host the GPU
    embeds and every core but one parses.
    """
    if settings.parsing.workers is not None:
        return settings.parsing.workers
    cores = available_cores()
    return max(1, cores - 1) if device == "cuda" else cores


def parse_workers_beside_encoder(settings: Settings, *, device: str) -> int:
    """Workers a request that also embeds parses on: on a CPU host the forward pass costs
    about twice the parse, so one per three cores (the encoder's threads take the rest);
    all of them when the setting names a count or the GPU embeds."""
    if settings.parsing.workers is not None or device == "cuda":
        return parse_worker_count(settings, device=device)
    return max(1, available_cores() // 3)


MICRO_BATCH_ROWS = 16
"""Essays per micro-batch when the setting is 0 and the host has at most 8 parse workers."""
GPU_MICRO_BATCH_ROWS = 128
"""Essays per micro-batch with a GPU encoder (0 in the setting): a stream's micro-batches in
flight are what fills the encoder's padded passes (4 x 128 essays fill fixed-shape passes
to about 71% on 800 ELLIPSE essays, 4 x 16 to 54%: ``benchmarks/gpu.py``'s plan)."""


def micro_batch_rows(settings: Settings, *, device: str, workers: int) -> int:
    """Essays per micro-batch: the setting, else 16 (128 with a GPU encoder), and at least
    two per parse worker, so a handcrafted micro-batch gives every worker a share."""
    if settings.streams.micro_batch_rows:
        return settings.streams.micro_batch_rows
    base = GPU_MICRO_BATCH_ROWS if device == "cuda" else MICRO_BATCH_ROWS
    return max(base, 2 * workers) if workers > 8 else base


def micro_batches_in_flight(settings: Settings, *, device: str) -> int:
    """Micro-batches one stream keeps in flight: the setting, else 4 with a GPU encoder and
    2 on a CPU; at most half the compute slots, so a second stream always finds one."""
    wanted = settings.streams.micro_batches or (4 if device == "cuda" else 2)
    return max(1, min(wanted, settings.streams.max_streams // 2))


def embedding_components(embedder: Embedder, settings: Settings) -> dict[str, Any]:
    """The embedding settings that change a value, for the fingerprint.

    Read from the loaded embedder's effective options (device resolved, max_length capped),
    not from the settings they came from.
    """
    options = embedder.options
    section = options.settings
    return {
        "model_id": embedder.model_id,
        "revision": embedder.revision,
        "weights_sha256": embedder.weights_sha256,
        "dim": embedder.dim,
        "pooling": settings.embedding.pooling,
        "max_length": options.max_length,
        "batch_size": options.batch_size,
        "long_text": section.long_text,
        "chunk_overlap": section.chunk_overlap if section.long_text == "chunk_mean" else None,
        # chunk_mean pools each token position once (overlaps were counted twice before)
        "chunk_pooling": "tokens_once" if section.long_text == "chunk_mean" else None,
        "token_budget": section.token_budget,
        "weights_dtype": options.dtype,
        "normalize": options.normalize,
        "dtype": "float32",
        "device": options.device,
        **embedder.encoder.components(),
        # Padded passes only: their shapes decide the last bits (batch size 1 hashes as it
        # always has, so CPU fingerprints stay where they were).
        **({"batching": embedder.shapes.view()} if embedder.shapes is not None else {}),
    }
