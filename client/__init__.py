"""Client of the hemma feature server: ``FeatureClient`` and the local Arrow cache.

Imports nothing heavy (no torch, spaCy or transformers).
"""

from client.cache import open_features
from client.feature_client import ExtractReport, FeatureClient

__all__ = ["ExtractReport", "FeatureClient", "open_features"]
