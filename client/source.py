"""Where the rows a cache lacks come from: the seam between filling a cache and computing.

``RowSource`` is all an extract run needs of whoever computes: the fingerprints, the
request limits, and a ``Fetcher`` that computes essays and hands each answered batch on.
``FlightSource`` (a feature server over Flight, handed out by ``FeatureClient``) and
``RaySource`` (actors on a Ray cluster, handed out by ``RayEngine``) implement it; the
cache filling, the combined rows, the report and the resume after a killed run are the
same code for both
(``client.extraction``), and so is the ``extract`` facade (``ExtractFacade``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import pyarrow as pa

from hemma_features.client.errors import DependencyUnavailableError, ProtocolError
from hemma_features.client.run_report import RunStats
from hemma_features.contract import FeatureSet, FingerprintInfo, ServerConfig

OnBatch = Callable[[pa.Table], None]
"""What to do with each answered batch (its rows carry ``key`` first)."""


class FetchRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Essays to compute for one feature set, under the fingerprint the run expects."""

    essays: Any
    """The essays (``pa.Table`` of ``essay_id, text, prompt``), each content key once."""
    keys: Any
    """Their content keys (``pa.Array`` of strings), in the same order."""
    feature_set: FeatureSet
    """The feature set asked for."""
    fingerprint: str
    """The fingerprint every answered row must carry."""


class Fetcher(Protocol):
    """Computes essays for one run; ``location`` says where (for the summary and report)."""

    location: str

    def __call__(self, request: FetchRequest, on_batch: OnBatch) -> None:
        """Compute ``request.essays``, handing each answered batch (``key`` first) on, in
        any order; raise the client's errors (``HemmaClientError``) on failure."""
        ...


class RowSource(Protocol):
    """Whoever computes the rows a cache lacks."""

    def config(self) -> ServerConfig:
        """Effective settings and the request limits (as ``/v1/config``)."""
        ...

    def fingerprint(self) -> FingerprintInfo:
        """Every feature set's fingerprint (as ``/v1/fingerprint``)."""
        ...

    def fetcher(self, config: ServerConfig, stats: RunStats) -> Fetcher:
        """A fetcher for one run under ``config``, counting into ``stats``."""
        ...

    def close(self) -> None:
        """Release connections (the run is over)."""
        ...


def fingerprint_for(info: FingerprintInfo, feature_set: FeatureSet, where: str) -> str:
    """The feature set's fingerprint, or why ``where`` cannot compute that set now."""
    if feature_set in info.unavailable:
        raise DependencyUnavailableError("LanguageTool", info.unavailable[feature_set])
    if feature_set not in info.feature_sets:
        raise ProtocolError(f"{where} lists no {feature_set} fingerprint")
    return info.for_set(feature_set)
