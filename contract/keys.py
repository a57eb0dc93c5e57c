"""Content keys: one essay's features are cached and stored under the hash of its inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec
import pyarrow as pa

from hemma_features.contract.schema import PROMPT_COLUMN, TEXT_COLUMN


def content_key(text: str, prompt: str) -> str:
    """sha256 hex of the exact text and prompt: the cache key of one essay's features."""
    return hashlib.sha256(msgspec.json.encode([text, prompt])).hexdigest()


def content_keys(texts: Iterable[str], prompts: Iterable[str]) -> list[str]:
    """Content keys for parallel sequences of texts and prompts."""
    return [content_key(t, p) for t, p in zip(texts, prompts, strict=True)]


def content_key_array(rows: pa.Table | pa.RecordBatch) -> pa.Array:
    """Content keys of essay rows (``text`` and ``prompt`` columns), as a string array."""
    texts = rows.column(TEXT_COLUMN).to_pylist()
    return pa.array(content_keys(texts, rows.column(PROMPT_COLUMN).to_pylist()), pa.string())
