"""The extract pipeline: texts and prompts -> embeddings and the named feature columns.

Parsing (worker processes), embedding (the encoder's queue, shared by every stream) and
LanguageTool (one HTTP thread) run at once for a batch. The semantic features come from
the essay's own forward pass and travel with the embeddings set, so ``handcrafted`` runs no
encoder at all. Knows nothing of Flight or HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hemma_features.contract import FeatureSet, FeatureSpec, specs_for
from hemma_features.engine.errors import ParseDeadlineError
from hemma_features.engine.execution.encoder_queue import EncoderQueue
from hemma_features.engine.execution.parallel import (
    InlineParser,
    SupervisedParser,
)
from hemma_features.engine.features.api import (
    covered,
    match_features,
    paragraph_spans,
    semantic_features,
    sentence_spans,
)
from hemma_features.engine.languagetool import client as languagetool


class FeaturePipeline:
    """Computes one batch of features with loaded models.

    Args:
        parser: Where spaCy parsing runs (worker processes or inline).
        encoder_queue: The queue in front of the encoder.
        languagetool: LanguageTool client, or None when LT features are disabled.
        catalogue: The handcrafted features, in column order.
    """

    def __init__(
        self,
        *,
        parser: InlineParser | SupervisedParser,
        encoder_queue: EncoderQueue,
        languagetool: languagetool.LanguageToolClient | None,
        catalogue: Sequence[FeatureSpec],
    ) -> None:
        self.parser = parser
        self.encoder_queue = encoder_queue
        self.languagetool = languagetool
        self.catalogue = tuple(catalogue)
        self._lt_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="languagetool")

    def compute(
        self, texts: list[str], prompts: list[str], feature_set: FeatureSet
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """([N, D] embeddings or None, [N, F] float32 named columns) for one batch.

        The named columns follow ``specs_for(feature_set)``. ``handcrafted`` never runs the
        encoder: the features that need its forward pass belong to ``embeddings``. Texts
        whose parse passed the deadline raise ``ParseDeadlineError`` once every other
        text is computed, carrying (embeddings or None, named columns) of those others.
        """
        lt_client, catalogue = self.languagetool, self.catalogue  # one consistent pair
        feature_names = [spec.name for spec in specs_for(feature_set, catalogue)]
        want_hand = feature_set in ("handcrafted", "combined")
        want_embedding = feature_set in ("embeddings", "combined")
        lt_job = (
            self._lt_pool.submit(lt_client.check, texts)
            if want_hand and lt_client is not None
            else None
        )
        parse_job = self.parser.submit(texts, beside_encoder=want_embedding) if want_hand else None
        rows: list[dict[str, float]] = [{} for _ in texts]
        essays = None
        refused: ParseDeadlineError | None = None
        try:
            if want_embedding:
                paragraphs = [paragraph_spans(text) for text in texts]
                sentences = [
                    sentence_spans(text, found)
                    for text, found in zip(texts, paragraphs, strict=True)
                ]
                spans = [p + s for p, s in zip(paragraphs, sentences, strict=True)]
                distinct_prompts = [p for p in dict.fromkeys(prompts) if p]  # "": no prompt
                vectors, span_vectors = self.encoder_queue.embed_with_spans(
                    texts + distinct_prompts, spans + [[] for _ in distinct_prompts]
                )
                essays = vectors[: len(texts)]
                prompt_vectors = dict(zip(distinct_prompts, vectors[len(texts) :], strict=True))
                for i, values in enumerate(rows):
                    cut = len(paragraphs[i])
                    values.update(
                        semantic_features(
                            essays[i],
                            prompt_vectors.get(prompts[i]),
                            covered(span_vectors[i][:cut]),
                            covered(span_vectors[i][cut:]),
                        )
                    )
            if parse_job is not None:
                try:
                    parsed_rows = parse_job.result()
                except ParseDeadlineError as exc:  # the other texts' rows are still good
                    refused, parsed_rows = exc, exc.partial
                for values, parsed in zip(rows, parsed_rows, strict=True):
                    if parsed is not None:
                        values.update(parsed)
            not_parsed = set(refused.indices) if refused is not None else set()
            if lt_job is not None:
                for i, (values, matches) in enumerate(zip(rows, lt_job.result(), strict=True)):
                    if i not in not_parsed:
                        values.update(match_features(matches, int(values["n_words"])))
        finally:
            for job in (lt_job, parse_job):
                if job is not None:
                    job.cancel()
        kept = [i for i in range(len(texts)) if refused is None or i not in refused.indices]
        matrix = np.array(
            [[rows[i][name] for name in feature_names] for i in kept], dtype=np.float32
        ).reshape(len(kept), len(feature_names))
        if not np.isfinite(matrix).all():
            row, col = (int(x[0]) for x in np.nonzero(~np.isfinite(matrix)))
            raise ValueError(f"row {kept[row]}: feature {feature_names[col]} is not finite (a bug)")
        if refused is not None:
            others = essays[kept] if essays is not None else None
            raise refused.with_partial((others, matrix)) from None
        return essays, matrix

    def close(self) -> None:
        """Stop the LanguageTool thread. The parser and the encoder queue are the loaded
        models' (``engine.loaded_models.LoadedModels``), which may outlive this pipeline: a
        runtime built when LanguageTool arrives computes with the same ones."""
        self._lt_pool.shutdown(wait=False, cancel_futures=True)
