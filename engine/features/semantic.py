"""Embedding-derived features: essay-prompt, adjacent-paragraph and adjacent-sentence cosine
similarity.

Pure numpy over vectors from the same model invocation as the essay embeddings: each
distinct prompt is embedded once per request, and paragraph vectors are pooled from the
essay's own token states (no second pass over the text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hemma_features.contract import Undefined
from hemma_features.engine.features.registry import REGISTRY


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


# -- registrations ------------------------------------------------------------------------
# ``semantic_features`` is the family: the pipeline calls it with the vectors of the
# encoder's forward pass (the ``embedding`` stage), not with a parsed document.

REGISTRY.family("semantic", stage="embedding")(semantic_features)


def _register(name: str, definition: str, unit: str, undefined: Undefined | None = None,
              version: int = 1) -> None:  # fmt: skip
    REGISTRY.value(
        name,
        family="semantic",
        tier=2,
        group="semantic",
        definition=definition,
        unit=unit,
        source="transformers",
        undefined=undefined,
        version=version,
        stage="embedding",
    )


_register(
    "prompt_similarity",
    "cosine similarity between the essay embedding and the prompt embedding (same model, "
    "pooling and length policy as the embedding column)",
    "cosine",
    Undefined(
        case="for an essay without a prompt (empty or null), where it means nothing; a "
        "cosine with a real prompt is not exactly 0",
    ),
    version=2,
)
_register(
    "paragraph_similarity_mean",
    "mean cosine similarity between adjacent paragraphs, each paragraph's vector being the "
    "mean of the essay's final-layer token states whose characters fall in it (the same "
    "forward pass as the essay embedding; paragraphs past a truncation are left out)",
    "cosine",
    Undefined(
        case="when fewer than two paragraphs are covered",
        column="embedded_paragraphs",
        below=2,
    ),
    version=2,
)
_register(
    "embedded_paragraphs",
    "paragraphs (as in n_paragraphs) with at least one token inside the embedding window; "
    "below n_paragraphs exactly when the essay is longer than the window and truncated "
    "(long_text=truncate; the paragraphs after the cut are not embedded; chunk_mean "
    "covers all); below 2, paragraph_similarity_mean is undefined (one paragraph, or a "
    "first paragraph that fills the window) and its 0 is not a similarity",
    "paragraphs",
)
_register(
    "adjacent_sentence_similarity_mean",
    "mean cosine similarity between adjacent sentences, each sentence's vector being the "
    "mean of the essay's final-layer token states whose characters fall in it (same pass "
    "as the essay embedding; sentences past a truncation left out); sentences without "
    "a parser: each paragraph split after . ! or ? (closing quotes and brackets kept) "
    "followed by whitespace",
    "cosine",
    Undefined(
        case="when fewer than two sentences are covered",
        column="embedded_sentences",
        below=2,
    ),
)
_register(
    "embedded_sentences",
    "sentences (as split for adjacent_sentence_similarity_mean) with at least one token "
    "inside the embedding window",
    "sentences",
)
