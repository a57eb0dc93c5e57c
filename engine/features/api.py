"""What the rooms above read of the feature definitions, in one place.

The model, execution and LanguageTool rooms (and the runtime) import from here or from
``registry`` only, never a definition module (tests/test_lint.py checks it): the registry
and the catalogue it derives, the read-out each stage hands its result to (a parsed Doc, a
text's LanguageTool matches, the encoder's span vectors), the text normalisation and span
helpers the stages share, and ``load_word_lists``, which loads at start what the read-outs
would otherwise load on the first request.
"""

from __future__ import annotations

from typing import Any

from hemma_features.engine.features.catalogue import (
    LT_CATEGORIES,
    SCHEMA_VERSION,
    catalogue,
    feature_versions,
)
from hemma_features.engine.features.document import Document, paragraph_spans
from hemma_features.engine.features.languagetool_counts import error_bucket, match_features
from hemma_features.engine.features.lemmas import add_content_lemmas
from hemma_features.engine.features.nlp import (
    NORMALIZATION,
    UNUSED_COMPONENTS,
    normalize_for_parsing,
    sentence_spans,
    word_frequencies,
)
from hemma_features.engine.features.phraseology import reference
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.semantic import covered, semantic_features
from hemma_features.engine.features.spelling import dictionary

__all__ = [
    "LT_CATEGORIES",
    "NORMALIZATION",
    "REGISTRY",
    "SCHEMA_VERSION",
    "UNUSED_COMPONENTS",
    "add_content_lemmas",
    "catalogue",
    "covered",
    "doc_features",
    "error_bucket",
    "feature_versions",
    "load_word_lists",
    "match_features",
    "normalize_for_parsing",
    "paragraph_spans",
    "semantic_features",
    "sentence_spans",
]


def doc_features(doc: Any) -> dict[str, float]:
    """Every value registered for the parse, of one parsed Doc (read once into a
    ``Document``). Here, not in nlp.py: importing this module imports every registering
    module (through the catalogue), so no value is missing whichever module came first."""
    return REGISTRY.compute("parse", Document(doc))


def load_word_lists() -> None:
    """Load the word lists the read-outs use (word frequencies, the spelling dictionary,
    the phraseology reference) now, not on the first request."""
    word_frequencies()
    dictionary()
    reference()
