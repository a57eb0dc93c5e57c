"""Client of the hemma feature server: ``FeatureClient`` and the local Arrow cache.

Imports nothing heavy (no torch, spaCy or transformers).
"""

from client.cache import open_features
from client.feature_client import FeatureClient
from client.report import ExtractReport
from client.results import embedding_matrix, handcrafted_matrix

__all__ = [
    "ExtractReport",
    "FeatureClient",
    "embedding_matrix",
    "handcrafted_matrix",
    "open_features",
]
