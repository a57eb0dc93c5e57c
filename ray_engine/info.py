"""What a run computes on the cluster, decided once: the fingerprint, the schemas, and the
settings every actor runs with.

The driver asks one runtime loaded on the cluster (``describe``: a Ray task with the
actors' resources, so on a host where actors run) what it computes. Whatever that
runtime decided for its host and the settings left open, ``decided_settings`` pins for
every actor: the embedding backend ``auto`` measured (torch, ONNX Runtime or OpenVINO),
the precision ``auto`` chose, the device, and on a CPU running torch the thread count
(torch's float32 sums depend on it). Hosts that would have timed the backends differently
then compute the same fingerprint, and a host that cannot run the decision refuses,
naming itself, the backend and why (``stage.HemmaFeatures``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import pyarrow as pa

from hemma_features.client.cli_options import RAY_FORWARDED_ENV
from hemma_features.contract import EncoderChoice, FeatureSet, FingerprintInfo, ServerConfig
from hemma_features.engine.config_views import server_config
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings import Settings
from hemma_features.engine.settings_env import replace_settings

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""What ``serve`` sets unless the environment says otherwise: models come from local files
only, so an actor on a host without internet never waits on a download."""


class EngineInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What one runtime loaded on the cluster answers, as the control plane would."""

    fingerprint: FingerprintInfo
    """``/v1/fingerprint``: the fingerprints every actor must compute."""
    config: ServerConfig
    """``/v1/config``: effective settings, what the runtime chose for its host (the
    embedding backend among them) and the request limits."""
    schemas: dict[str, bytes]
    """Each available feature set's output schema (Arrow IPC bytes, metadata included)."""

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """The Flight plane's output schema of ``feature_set``, metadata included."""
        return pa.ipc.read_schema(pa.py_buffer(self.schemas[feature_set]))

    @property
    def embedding(self) -> EncoderChoice:
        """What the runtime's embedding loader chose (backend, precision, threads, device,
        and whether it was asked, measured or stored); empty fields where it said nothing."""
        return self.config.runtime.embedding or EncoderChoice()

    @classmethod
    def of(cls, runtime: Runtime) -> EngineInfo:
        """What a loaded runtime computes."""
        return cls(
            fingerprint=runtime.fingerprint,
            config=server_config(runtime, 0, None),
            schemas={
                fs: runtime.schema(fs).serialize().to_pybytes()
                for fs in runtime.available_feature_sets()
            },
        )


def describe_runtime(settings: Settings) -> EngineInfo:
    """Load a runtime (parsing inline: no workers) and say what it computes."""
    runtime = Runtime.load(replace_settings(settings, parse_workers=0))
    try:
        return EngineInfo.of(runtime)
    finally:
        runtime.close()


def describe(
    settings: Settings,
    *,
    num_gpus: float = 0,
    num_cpus: float = 1,
    env: Mapping[str, str] | None = None,
    resources: Mapping[str, float] | None = None,
) -> EngineInfo:
    """What the actors will compute, asked of one runtime loaded on the cluster.

    Runs as a Ray task with the actors' resources and environment, so the answer is that
    of a host where actors run (device and kernel class enter the fingerprint), not the
    driver's.
    """
    import ray

    options: dict[str, Any] = {"num_gpus": num_gpus, "num_cpus": num_cpus, "max_retries": 1}
    if env:
        options["runtime_env"] = {"env_vars": dict(env)}
    if resources:
        options["resources"] = dict(resources)
    task = ray.remote(**options)(describe_runtime)
    return msgspec.convert(ray.get(task.remote(settings)), EngineInfo)


def decided_settings(settings: Settings, info: EngineInfo) -> Settings:
    """``settings`` with what ``info``'s runtime decided where they left it open: the
    embedding backend, precision and device, and torch's thread count on a CPU."""
    chosen = info.embedding
    pins: dict[str, Any] = {}
    if settings.embedding.backend == "auto" and chosen.backend:
        pins["embedding_backend"] = chosen.backend
    if settings.embedding.dtype == "auto" and chosen.precision:
        pins["embedding_dtype"] = chosen.precision
    if settings.embedding.device == "auto" and chosen.device:
        pins["device"] = chosen.device
    torch_on_cpu = chosen.backend == "torch" and chosen.device == "cpu"
    if torch_on_cpu and settings.embedding.threads == 0 and chosen.threads:
        pins["embedding_threads"] = chosen.threads
    return replace_settings(settings, **pins) if pins else settings


def forwarded_env(
    extra: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment every actor gets (Ray's ``runtime_env``): models offline as under
    ``serve``, then each variable of ``RAY_FORWARDED_ENV`` the driver has, then ``extra``
    (``NAME=VALUE``, or ``NAME`` for the driver's value).

    Raises ``ValueError`` for a ``NAME`` the driver does not have.
    """
    env = os.environ if environ is None else environ
    forwarded = dict(OFFLINE)
    forwarded.update({name: env[name] for name in RAY_FORWARDED_ENV if name in env})
    for item in extra:
        name, equals, value = item.partition("=")
        if not equals and name not in env:
            raise ValueError(
                f"--ray-env {name}: {name} is not set here; give its value (--ray-env "
                f"{name}=VALUE) or set it first"
            )
        forwarded[name] = value if equals else env[name]
    return forwarded


__all__ = [
    "EngineInfo",
    "decided_settings",
    "describe",
    "describe_runtime",
    "forwarded_env",
]
