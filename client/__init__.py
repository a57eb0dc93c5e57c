"""Client of the hemma feature server: ``FeatureClient`` and the local Arrow cache.

Imports nothing heavy (no torch, spaCy or transformers) and nothing of the server side:
only the wire contract and the Arrow file layer. The public names are re-exported by
``hemma_features`` itself.
"""
