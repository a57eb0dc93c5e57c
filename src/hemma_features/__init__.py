"""hemma-features: an NLP feature factory for essay-scoring research.

The public API is the client's: the server computes, the laptop asks and caches::

    from hemma_features import FeatureClient, open_features, embedding_matrix

    with FeatureClient("http://127.0.0.1:19000", flight="grpc://127.0.0.1:19001") as hemma:
        table = hemma.extract("essays.csv", feature_set="combined", cache="~/hemma-cache")

Names load on first use, so ``import hemma_features.control...`` on the server does not
pull the client in, and nothing here imports torch, spaCy or transformers. The layers
and what each may import are in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hemma_features.client.cache import open_features
    from hemma_features.client.errors import (
        CacheError,
        FingerprintChangedError,
        HemmaClientError,
        InputFileError,
        ProtocolError,
        ServerRejectedError,
        ServerUnavailableError,
    )
    from hemma_features.client.evaluation import evaluate
    from hemma_features.client.feature_client import FeatureClient
    from hemma_features.client.feature_report import report
    from hemma_features.client.inputs import Columns
    from hemma_features.client.results import embedding_matrix, handcrafted_matrix
    from hemma_features.client.run_report import ExtractReport
    from hemma_features.contract import FEATURE_SETS, FeatureSet, InputRuleError

_PUBLIC = {
    "FeatureClient": "hemma_features.client.feature_client",
    "open_features": "hemma_features.client.cache",
    "embedding_matrix": "hemma_features.client.results",
    "handcrafted_matrix": "hemma_features.client.results",
    "ExtractReport": "hemma_features.client.run_report",
    "report": "hemma_features.client.feature_report",
    "evaluate": "hemma_features.client.evaluation",
    "Columns": "hemma_features.client.inputs",
    "HemmaClientError": "hemma_features.client.errors",
    "ServerUnavailableError": "hemma_features.client.errors",
    "ServerRejectedError": "hemma_features.client.errors",
    "FingerprintChangedError": "hemma_features.client.errors",
    "ProtocolError": "hemma_features.client.errors",
    "InputFileError": "hemma_features.client.errors",
    "CacheError": "hemma_features.client.errors",
    "InputRuleError": "hemma_features.contract",
    "FEATURE_SETS": "hemma_features.contract",
    "FeatureSet": "hemma_features.contract",
}

try:
    __version__ = metadata.version("hemma-features")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "FEATURE_SETS",
    "CacheError",
    "Columns",
    "ExtractReport",
    "FeatureClient",
    "FeatureSet",
    "FingerprintChangedError",
    "HemmaClientError",
    "InputFileError",
    "InputRuleError",
    "ProtocolError",
    "ServerRejectedError",
    "ServerUnavailableError",
    "__version__",
    "embedding_matrix",
    "evaluate",
    "handcrafted_matrix",
    "open_features",
    "report",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'hemma_features' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = getattr(imported, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
