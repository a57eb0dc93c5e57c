"""Embedding-derived features: essay-prompt, adjacent-paragraph and adjacent-sentence cosine
similarity.

Pure numpy over vectors from the same model invocation as the essay embeddings: each
distinct prompt is embedded once per request, and paragraph vectors are pooled from the
essay's own token states (no second pass over the text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in float64; 0 when either vector is zero."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    norms = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64 / norms) if norms > 0 else 0.0


def adjacent_similarity(vectors: np.ndarray | Sequence[np.ndarray]) -> float:
    """Mean cosine of consecutive vectors; 0 for fewer than two.

    The same arithmetic as ``cosine`` on each pair (float64, one dot product, the two
    norms), with each vector converted and its norm taken once rather than twice.
    """
    if len(vectors) < 2:
        return 0.0
    rows = [np.asarray(v).astype(np.float64) for v in vectors]
    norms = [float(np.linalg.norm(v)) for v in rows]
    pairs = [
        float(a @ b / (na * nb)) if na * nb > 0 else 0.0
        for a, b, na, nb in zip(rows, rows[1:], norms, norms[1:], strict=False)
    ]
    return float(np.mean(pairs))


def covered(vectors: np.ndarray) -> np.ndarray:
    """The rows of a span-vector array that the embedding window covered (not NaN)."""
    return vectors[~np.isnan(vectors).any(axis=1)] if len(vectors) else vectors


def semantic_features(
    essay: np.ndarray,
    prompt: np.ndarray | None,
    paragraphs: np.ndarray | Sequence[np.ndarray],
    sentences: np.ndarray | Sequence[np.ndarray] = (),
) -> dict[str, float]:
    """The embedding-derived values of one essay.

    Args:
        essay: [D] essay vector.
        prompt: [D] prompt vector; None for an essay without a prompt (similarity 0).
        paragraphs: [P, D] vectors of the covered paragraphs in text order.
        sentences: [S, D] vectors of the covered sentences in text order.
    """
    return {
        "prompt_similarity": cosine(essay, prompt) if prompt is not None else 0.0,
        "paragraph_similarity_mean": adjacent_similarity(paragraphs),
        "embedded_paragraphs": float(len(paragraphs)),
        "adjacent_sentence_similarity_mean": adjacent_similarity(sentences),
        "embedded_sentences": float(len(sentences)),
    }
