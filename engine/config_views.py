"""The runtime as ``/v1/config`` and ``/v1/features`` show it (the Ray engine answers the
same): plain reads of a built ``Runtime``, kept apart from what builds and runs it."""

from __future__ import annotations

import msgspec

from hemma_features.contract import (
    EmbeddingModel,
    EncoderBatching,
    EncoderChoice,
    FeatureEntry,
    Limits,
    RuntimeInfo,
    ServerConfig,
)
from hemma_features.engine.features.api import feature_versions
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.storage import store_view


def machine_view(runtime: Runtime) -> RuntimeInfo:
    """What was chosen for this machine at start (``/v1/config``'s ``runtime``)."""
    hardware = runtime.hardware
    workers = getattr(runtime.parser, "workers", 0)
    report = runtime.embedder.report
    return RuntimeInfo(
        embedding=(msgspec.convert(msgspec.to_builtins(report), EncoderChoice) if report else None),
        embedding_batch_size=runtime.embedder.options.batch_size,
        encoder_batching=msgspec.convert(runtime.pipeline.encoder_queue.view(), EncoderBatching),
        micro_batch_rows=runtime.micro_batch_rows,
        micro_batches_in_flight=runtime.micro_batches_in_flight,
        parse_workers=workers,
        parse_workers_beside_encoder=getattr(runtime.parser, "beside_encoder", 0),
        cores=hardware.cores,
        cpu=hardware.cpu_model,
        cpu_flags=hardware.shown_flags(),
        store=store_view(runtime.settings),
    )


def server_config(runtime: Runtime, flight_port: int, flight_location: str | None) -> ServerConfig:
    """``/v1/config``: effective settings (redacted), what was chosen for this machine,
    where Flight listens and the request limits (the Ray engine answers the same)."""
    settings = runtime.settings
    return ServerConfig(
        settings=settings.public_view(),
        runtime=machine_view(runtime),
        flight_port=flight_port,
        flight_location=flight_location,
        limits=Limits(
            max_items=settings.limits.max_items,
            max_text_chars=settings.limits.max_text_chars,
            max_streams=settings.streams.max_streams,
            shard_rows=settings.limits.shard_rows,
            batch_rows=settings.limits.batch_rows,
        ),
        model=EmbeddingModel(
            model_id=runtime.embedder.model_id,
            revision=runtime.embedder.revision,
            weights_sha256=runtime.embedder.weights_sha256,
            setting=settings.embedding.model,
        ),
    )


def feature_entries(runtime: Runtime) -> list[FeatureEntry]:
    """``/v1/features``: every named feature in catalogue order, with its version."""
    versions = feature_versions(runtime.catalogue)
    return [
        FeatureEntry(**msgspec.structs.asdict(spec), version=versions[spec.name])
        for spec in runtime.catalogue
    ]
