"""Transformer embeddings: texts -> [N, D] float32, the mean of the final token states.

Models load from local files only (a directory, the local HF cache, or the MiniLM
package); nothing is downloaded at run time. The forward pass runs in an encoder backend
(``encoders``: torch, ONNX Runtime or OpenVINO, picked by ``encoder_choice``); tokenising,
windows and paragraph spans happen here, the same for every backend. With a batch size of
1 (the CPU default) each sequence is its own pass, pooled here in float64 NumPy; above 1,
sequences of different lengths share padded passes of fixed shapes, pooled on the device
(``padded``, ``pass_shapes``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import numpy as np

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models.encoder_choice import PROBE_TEXT, EncoderReport, load_encoder
from hemma_features.engine.models.encoders import Encoder
from hemma_features.engine.models.hardware import detect
from hemma_features.engine.models.model_files import (
    PINNED_SHA256,
    check_pinned,
    resolve_model,
    revision_of,
    usable_positions,
    weights_hash,
)
from hemma_features.engine.models.packaged import PACKAGED
from hemma_features.engine.models.padded import (
    Buckets,
    PassStats,
    Pending,
    Window,
    WindowResult,
    WindowWork,
    pool_windows,
    prepare,
    run_pass,
)
from hemma_features.engine.models.pass_shapes import PassShapes
from hemma_features.engine.models.unpadded import embed_unpadded
from hemma_features.engine.settings import EmbeddingSettings

CUDA_BATCH_SIZE = 128
"""Most sequences per padded pass on CUDA when the setting is 0 (auto); the token budget
caps it for long widths (16,384 tokens: 32 rows of 512)."""


class Prepared(NamedTuple):
    """A request tokenised for padded passes."""

    rows_out: list[int]
    """Per text asked, its index among the distinct texts."""
    works: list[WindowWork]
    """Every window of the distinct texts, each text's in order."""
    span_counts: list[int]
    """Spans per distinct text."""


def _distinct(
    texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
) -> tuple[list[str], list[int], list[Sequence[tuple[int, int]]]]:
    """(distinct texts in first-seen order, each text's index among them, each distinct
    text's spans): a text that comes twice is embedded once, with the spans it came with."""
    order = list(dict.fromkeys(texts))
    index = {text: i for i, text in enumerate(order)}
    unique_spans: list[Sequence[tuple[int, int]]] = [()] * len(order)
    for text, text_spans in zip(texts, spans, strict=True):
        if text_spans:  # the same text may also come without spans (as a prompt)
            unique_spans[index[text]] = text_spans
    return order, [index[t] for t in texts], unique_spans


class EmbeddingOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The embedding settings as a loaded embedder applies them.

    ``settings`` is the section as set; the other fields are what ``Embedder.load`` resolved
    from it for this machine and model (``auto`` values, the window capped by the model's
    position table, the model's own normalisation): read those, not the section's fields of
    the same names. (The section is not re-made with them: its checks are on what was set.)
    """

    settings: EmbeddingSettings
    """The embedding section as set."""
    device: str
    """``cpu`` or ``cuda``."""
    max_length: int
    """Tokens per window."""
    batch_size: int
    """Most sequences per forward pass; above 1, padded passes of fixed shapes."""
    normalize: bool
    """L2-normalise each vector."""
    dtype: str
    """Encoder weights dtype."""
    backend: str
    """``torch``, ``onnx`` or ``openvino``."""
    quantization: str
    """``none`` or ``int8`` (onnx only)."""
    threads: int
    """Intra-op threads of the forward pass on CPU."""


class Embedder:
    """A loaded encoder backend and tokenizer with fixed pooling and length options."""

    def __init__(
        self,
        *,
        encoder: Encoder,
        tokenizer: Any,
        model_id: str,
        weights_sha256: str,
        options: EmbeddingOptions,
        revision: str = "local",
        report: EncoderReport | None = None,
    ) -> None:
        self.encoder = encoder
        self._tokenizer = tokenizer
        self.model_id = model_id
        self.weights_sha256 = weights_sha256
        self.options = options
        self.revision = revision
        self.report = report
        self.dim = int(encoder.dim)
        self.shapes = (
            PassShapes.build(
                mode=options.settings.batch_shapes,
                max_length=options.max_length,
                pad_multiple=options.settings.pad_multiple,
                batch_size=options.batch_size,
                token_budget=options.settings.token_budget,
            )
            if options.batch_size > 1
            else None
        )
        """Padded pass shapes; None: each sequence is its own pass (batch size 1)."""
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        # A fast tokenizer is not safe to call from two threads at once (its truncation
        # state is shared); streams tokenise in their own threads, one at a time.
        self._tokenizing = threading.Lock()

    @classmethod
    def load(cls, settings: EmbeddingSettings, cache_dir: Path) -> Embedder:
        """Load tokenizer and encoder from local files, pick the backend, warm them up.

        Args:
            settings: The embedding section: ``model`` (see ``resolve_model``), the
                options (``auto`` values are resolved for this machine), and
                ``model_sha256``, what ``weights_hash`` of the model's files must be (the
                default model's is pinned in ``PINNED_SHA256``; None: not checked).
            cache_dir: Where exported ONNX graphs are kept between starts.

        Raises:
            ModelLoadError: the model cannot be found or loaded, or its files do not match
                the expected hash.
        """
        import torch
        import transformers
        from transformers import AutoConfig, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        # Long texts are tokenized whole before windowing; that warning is expected.
        transformers.utils.logging.set_verbosity_error()
        name = settings.model
        model_id, directory = resolve_model(name, cache_dir)
        device = settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("HEMMA_DEVICE=cuda but torch sees no CUDA device")
        hardware = detect(cuda=device == "cuda")
        threads = settings.threads or hardware.cores
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            config = AutoConfig.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"embedding model {name!r} failed to load: {exc}") from exc
        packaged = PACKAGED.get(name)
        max_length = min(settings.max_length, usable_positions(config, settings.max_length))
        normalize = settings.normalize
        if packaged is not None:
            # The model's own policy, as sentence-transformers applies it: windows no longer
            # than its max_seq_length, vectors normalised when its modules end in Normalize.
            # Its files were hashed against the pins at assembly; ``assemble`` checked the
            # sizes and the marker just now.
            max_length = min(max_length, packaged.max_length)
            normalize = normalize or packaged.normalize
            sha = packaged.weights_sha256
        else:
            sha = weights_hash(directory)
        check_pinned(name, directory, sha, settings.model_sha256 or PINNED_SHA256.get(name))
        encoder, report = load_encoder(
            directory=directory,
            tokenizer=tokenizer,
            weights_sha256=sha,
            backend=settings.backend,
            dtype=settings.dtype,
            quantization=settings.quantization,
            device=device,
            threads=threads,
            max_length=max_length,
            hardware=hardware,
            cache_dir=cache_dir,
        )
        embedder = cls(
            encoder=encoder,
            tokenizer=tokenizer,
            model_id=model_id,
            weights_sha256=sha,
            options=EmbeddingOptions(
                settings=settings,
                device=device,
                max_length=max_length,
                normalize=normalize,
                batch_size=settings.batch_size or (CUDA_BATCH_SIZE if device == "cuda" else 1),
                dtype=report.precision,
                backend=report.backend,
                quantization=report.quantization,
                threads=threads,
            ),
            revision=revision_of(name, directory),
            report=report,
        )
        embedder.warm_up()
        return embedder

    def warm_up(self) -> None:
        """Run the encoder before the first request: one short text, and on CUDA with
        padded passes one pass at every width, so each shape's kernels are chosen and its
        memory allotted at start rather than in the first requests."""
        self.embed(["warm-up"])
        if self.shapes is None or self.options.device != "cuda":
            return
        (window,) = self._windows([PROBE_TEXT * 200])[0][:1]
        for width in self.shapes.widths:
            ids = window.ids[: width - 1] + window.ids[-1:]
            self.run_pass(width, [prepare(0, ids, [(0, 0)] * len(ids), 0, [])])

    def _windows(self, texts: Sequence[str]) -> list[list[Window]]:
        """Token windows per text: one (truncated) or several overlapping (chunk_mean)."""
        options: dict[str, Any] = {}
        if self.options.settings.long_text == "chunk_mean":
            # Overlapping windows of max_length tokens, each with the model's special
            # tokens; ``stride`` is the number of tokens two consecutive windows share.
            options = {
                "stride": self.options.settings.chunk_overlap,
                "return_overflowing_tokens": True,
            }
        with self._tokenizing:
            encoded = self._tokenizer(
                list(texts),
                truncation=True,
                max_length=self.options.max_length,
                add_special_tokens=True,
                return_offsets_mapping=True,
                **options,
            )
        owners = encoded.get("overflow_to_sample_mapping") or range(len(texts))
        windows: list[list[Window]] = [[] for _ in texts]
        for ids, offsets, owner in zip(
            encoded["input_ids"], encoded["offset_mapping"], owners, strict=True
        ):
            shared = self.options.settings.chunk_overlap if windows[owner] else 0
            windows[owner].append(Window(list(ids), [tuple(o) for o in offsets], shared))
        return windows

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens the encoder sees per text (summed over windows)."""
        return [sum(len(w.ids) for w in windows) for windows in self._windows(texts)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[N, D] float32 embeddings in input order; duplicate texts are embedded once.

        With ``batch_size=1`` (the CPU default) each sequence is its own pass, unpadded; on
        a CPU that is the fastest (measured: 6.3 s vs 8.4 s for 64 ELLIPSE essays at 512
        tokens, batch 1 vs 16). Above 1, sequences of different lengths share padded
        passes (``pass_shapes``); under ``fixed`` shapes a text's vector is still
        bit-identical whatever else is in the request or in what order, which keeps "same
        fingerprint, same bytes" for a cache filled over many requests.
        """
        vectors, _ = self.embed_with_spans(texts, [[] for _ in texts])
        return vectors

    def embed_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        observe: Callable[[PassStats], None] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embeddings plus, from the same forward pass, a vector per character span.

        A span's vector is the mean of the final-layer states of the (non-special) tokens
        that start inside it; a span no embedded token falls in (past a truncation) is a
        row of NaN. Spans may be several sorted lists one after the other (paragraphs, then
        sentences). Used for paragraph and sentence vectors without a second pass over
        the text.

        ``observe`` is told of every forward pass (the server counts them in ``/metrics``).

        Returns:
            ([N, D] float32 text vectors, per text a [spans, D] float32 array).
        """
        if self.shapes is None:
            return self._embed_unpadded(texts, spans, observe)
        request = self.prepare(texts, spans)
        return self.finish(request, self.run_padded(request.works, observe))

    def prepare(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> Prepared:
        """Tokenise for padded passes: the distinct texts' windows (``padded.WindowWork``)."""
        order, rows_out, unique_spans = _distinct(texts, spans)
        works = [
            prepare(owner, window.ids, window.offsets, window.shared, unique_spans[owner])
            for owner, text_windows in enumerate(self._windows(order))
            for window in text_windows
        ]
        return Prepared(rows_out, works, [len(s) for s in unique_spans])

    def run_pass(
        self, width: int, works: Sequence[WindowWork]
    ) -> tuple[list[WindowResult], PassStats]:
        """One padded pass (``padded.run_pass``)."""
        assert self.shapes is not None
        results, stats = run_pass(self.encoder.forward, self.shapes, width, works, self.pad_id)
        return results, stats

    def run_padded(
        self,
        works: Sequence[WindowWork],
        observe: Callable[[PassStats], None] | None = None,
    ) -> list[WindowResult]:
        """Every window's pooled sums, in passes planned as the queue plans them."""
        assert self.shapes is not None
        buckets = Buckets(self.shapes, max_wait=float("inf"))
        for position, work in enumerate(works):
            buckets.add(Pending(work, 0.0, position))
        results: list[WindowResult | None] = [None] * len(works)
        while (taken := buckets.take()) is not None:
            width, items = taken
            out, stats = self.run_pass(width, [item.work for item in items])
            if observe is not None:
                observe(stats)
            for item, result in zip(items, out, strict=True):
                results[item.ticket] = result
        return [r for r in results if r is not None]

    def finish(
        self, request: Prepared, results: Sequence[WindowResult]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text and span vectors of a prepared request from its windows' pooled sums."""
        vectors, span_vectors = pool_windows(
            request.works, results, request.span_counts, self.dim, self.options.normalize
        )
        return vectors[request.rows_out], [span_vectors[i] for i in request.rows_out]

    def _embed_unpadded(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        observe: Callable[[PassStats], None] | None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Batch size 1: each sequence its own pass, pooled here in float64 NumPy."""
        order, rows_out, unique_spans = _distinct(texts, spans)
        vectors, span_vectors = embed_unpadded(
            self.encoder,
            self._windows(order),
            unique_spans,
            normalize=self.options.normalize,
            observe=observe,
        )
        return vectors[rows_out], [span_vectors[i] for i in rows_out]
