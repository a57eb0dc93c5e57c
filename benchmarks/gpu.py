"""Benchmark: the feature server against its bounds on the device at hand (a GPU, or the CPU).

    python benchmarks/gpu.py --random-weights mpnet --essays 800 --rounds 2
    python benchmarks/gpu.py --random-weights /path/to/config-and-tokenizer --essays 800
    python benchmarks/gpu.py --tiny --essays 24 --rounds 1          # CI: a 2-layer model

``--random-weights SOURCE`` builds the model's architecture from its ``config.json`` and
tokenizer files with random weights (``minilm`` and ``mpnet`` name the files of the models
the project ships; a folder is read as it is; ``--save-config DIR`` copies a named model's
files to DIR, to carry to a host without the packages). The figures are speed only: the
vectors mean nothing. ``--tiny`` shrinks MiniLM's architecture to 2 layers of 64.

Per round, on the same ELLIPSE essays (the repository's samples, repeated, when ../shared is
absent), in this order:

- **bare encoder** per dtype (float32; tf32, float16, bfloat16 on CUDA; bfloat16 on a CPU
  that computes it natively): length-sorted batches of 64 padded to the longest, masked mean
  pooling on the device; the bound the project's ``embeddings`` set is held to.
- **seed-style pipeline** (``benchmarks/throughput.py``'s ``Baseline``: full spaCy and five
  TextDescriptives components per 64-essay request, the encoder in float32 on the device,
  batches of 32 padded); skipped with ``--no-baseline``, and with one line saying so where
  TextDescriptives is not installed (a GPU bundle built from requirements/server.lock).
- **project** ``embeddings``, ``handcrafted``, ``combined``: a real ``serve`` process with its
  defaults on this device (``--env NAME=VALUE`` adds settings), store off, one client into an
  empty cache; essays/s, server CPU-s per essay, GPU utilisation from NVML (mean and max),
  rows and padding per encoder pass from its ``/metrics``.

The **parse bound** is cores / parse CPU-s per essay (the server's own read-out, timed here);
``combined``'s bound is the smaller of it and the encoder's bound in the server's dtype.
Then **batch invariance** on the server: 48 essays of mixed lengths sent together, in reverse
order, and 3 of them alone, their embedding bytes compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from benchmarks.procs import tree_cpu  # noqa: E402
from benchmarks.samples import mixed_texts, repeated_samples  # noqa: E402
from benchmarks.throughput import Baseline, baseline_absent, own_cpu, parse_cost  # noqa: E402

FILES = (
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "vocab.json", "merges.txt", "spm.model", "sentencepiece.bpe.model",
)  # fmt: skip
"""The files that make a model's architecture and tokenizer (no weights)."""
SETS = ("embeddings", "handcrafted", "combined")


def model_files(source: str, cache: Path) -> Path:
    """The folder holding ``source``'s config and tokenizer files."""
    from hemma_features.engine.models.model_files import resolve_model
    from hemma_features.engine.settings import DEFAULT_EMBEDDING_MODEL

    named = {"minilm": DEFAULT_EMBEDDING_MODEL, "mpnet": "sentence-transformers/all-mpnet-base-v2"}
    if source in named:
        return resolve_model(named[source], cache)[1]
    folder = Path(source)
    if not (folder / "config.json").is_file():
        raise SystemExit(f"--random-weights {source}: no config.json there (or minilm, mpnet)")
    return folder


def save_config(source: Path, target: Path) -> None:
    """Copy a model's config and tokenizer files (no weights) to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    print(f"config and tokenizer files of {source} copied to {target}")


def random_model(source: Path, target: Path, *, tiny: bool) -> Path:
    """The architecture of ``source`` with random weights (seed 0), saved in ``target``."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(source, local_files_only=True)
    if tiny:
        config.num_hidden_layers, config.hidden_size = 2, 64
        config.num_attention_heads, config.intermediate_size = 2, 128
    save_config(source, target)  # the tokenizer; config.json is rewritten just below
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(target)
    return target


def essays(count: int, path: Path | None = None) -> pa.Table:
    """``count`` ELLIPSE essays (from ``path`` when given), or the repository's samples
    repeated under new ids when the shared essays are absent."""
    if path is not None:
        import pyarrow.csv as pacsv

        options = pacsv.ParseOptions(newlines_in_values=True)
        return essay_inputs(pacsv.read_csv(path, parse_options=options).slice(0, count))
    table = read_ellipse(count)
    return essay_inputs(table) if table is not None else repeated_samples(count)


def device_of(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def bare_dtypes(device: str) -> list[str]:
    """What the bare encoder is timed in on this device."""
    from hemma_features.engine.models.hardware import detect, native_precisions

    if device == "cuda":
        return ["float32", "tf32", "float16", "bfloat16"]
    native = native_precisions(detect(cuda=False), "cpu")
    return ["float32", *(["bfloat16"] if "bfloat16" in native else [])]


def bare_encoder(model_dir: Path, texts: list[str], device: str, dtype: str) -> float:
    """Essays/s of the bare encoder: length-sorted batches of 64 padded to the longest,
    masked mean pooling on the device, vectors copied to the host."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    weights = torch.float32 if dtype in ("float32", "tf32") else getattr(torch, dtype)
    model = AutoModel.from_pretrained(model_dir).eval().to(device=device, dtype=weights)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = dtype == "tf32"
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)

    def run(model: Any, chosen: list[int]) -> None:
        with torch.inference_mode():
            for start in range(0, len(chosen), 64):
                batch = [texts[i] for i in chosen[start : start + 64]]
                encoded = tokenizer(
                    batch, padding=True, truncation=True, max_length=512, return_tensors="pt"
                ).to(device)
                hidden = model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                ((hidden * mask).sum(1) / mask.sum(1)).float().cpu()

    run(model, order[-64:])  # warm-up: kernels chosen, memory allocated
    started = time.perf_counter()
    run(model, order)
    seconds = time.perf_counter() - started
    del model
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.empty_cache()
    return len(texts) / seconds


class Utilisation:
    """GPU utilisation sampled from NVML every 0.1 s while in the block (none without it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._nvml = pynvml
        except Exception:  # no NVML (no GPU, or nvidia-ml-py absent): nothing to sample
            self._handle = None

    def __enter__(self) -> Utilisation:
        self.samples = []
        self._stop.clear()
        if self._handle is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._handle is not None:
            self._thread.join(timeout=5)

    def _sample(self) -> None:
        deadline = time.monotonic() + 3600  # bounded even if the block never ends
        while not self._stop.wait(0.1) and time.monotonic() < deadline:
            rates = self._nvml.nvmlDeviceGetUtilizationRates(self._handle)
            self.samples.append(float(rates.gpu))

    def figures(self) -> str:
        if not self.samples:
            return "n/a"
        return f"{statistics.mean(self.samples):.0f}% mean, {max(self.samples):.0f}% max"


def metric_sums(text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a histogram in Prometheus text."""
    values = {}
    for line in text.splitlines():
        for suffix in ("_sum", "_count"):
            if line.startswith(f"{name}{suffix} "):
                values[suffix] = float(line.split()[1])
    return values.get("_sum", 0.0), values.get("_count", 0.0)


def invariance(client: Any, table: pa.Table, cache: Path) -> str:
    """Whether each essay's embedding is the same bytes together, reversed and alone."""
    texts = mixed_texts(48)
    mixed = pa.table(
        {
            "essay_id": [f"inv-{i}" for i in range(48)],
            "text": texts,
            "prompt": [table.column("prompt")[0].as_py()] * 48,
        }
    )
    together = client.extract(mixed, feature_set="embeddings", cache=cache / "together")
    reverse = client.extract(
        mixed.take(pa.array(range(47, -1, -1))), feature_set="embeddings", cache=cache / "reverse"
    )
    vectors = {r["essay_id"]: np.asarray(r["embedding"], np.float32) for r in together.to_pylist()}
    same = all(
        np.asarray(r["embedding"], np.float32).tobytes() == vectors[r["essay_id"]].tobytes()
        for r in reverse.to_pylist()
    )
    for i in (0, 20, 47):
        alone = client.extract(mixed.slice(i, 1), feature_set="embeddings", cache=cache / f"a{i}")
        got = np.asarray(alone.column("embedding")[0].as_py(), np.float32)
        same &= got.tobytes() == vectors[f"inv-{i}"].tobytes()
    return "yes" if same else "NO: vectors depend on their pass"


def planned_share(lengths: list[int], shapes: Any, micro: int, depth: int) -> tuple[float, int]:
    """(share of pass positions holding real tokens, passes) when the encoder is the
    bottleneck: one stream keeps ``depth`` micro-batches of ``micro`` essays in flight, all
    waiting in the server's own planner (``padded.Buckets``), a pass as soon as one ends."""
    from collections import deque

    from hemma_features.engine.models.padded import Buckets, Pending, prepare

    buckets = Buckets(shapes, max_wait=float("inf"))
    pending: deque[set[int]] = deque()
    submitted = real = positions = passes = 0

    def submit() -> None:
        nonlocal submitted
        chunk = range(submitted, min(submitted + micro, len(lengths)))
        submitted += len(chunk)
        pending.append(set(chunk))
        for i in chunk:
            work = prepare(0, [0] * lengths[i], [(0, 0)] * lengths[i], 0, [])
            buckets.add(Pending(work, float(passes), i))

    while submitted < len(lengths) and len(pending) < depth:
        submit()
    while (taken := buckets.take(now=float(passes))) is not None:
        width, items = taken
        done = {item.ticket for item in items}
        if shapes.mode == "fixed":
            positions += shapes.rows_at(width) * width
        else:
            positions += len(items) * max(lengths[i] for i in done)
        real += sum(lengths[i] for i in done)
        passes += 1
        for chunk in pending:
            chunk -= done
        while pending and not pending[0]:
            pending.popleft()
            if submitted < len(lengths):
                submit()
    return (real / positions if positions else 0.0), passes


def padding_plan(model_dir: Path, texts: list[str], runtime: dict[str, Any]) -> str:
    """What the server's planner makes of these essays' lengths, fixed and dynamic shapes."""
    from transformers import AutoTokenizer

    from hemma_features.engine.models.pass_shapes import PassShapes

    batching = runtime["encoder_batching"]
    if not batching["padded"]:
        return "padding plan: none (one essay a pass, unpadded)"
    rows = {int(w): r for w, r in batching["rows_per_width"].items()}
    window = max(rows)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = [len(i) for i in tokenizer(texts, truncation=True, max_length=window)["input_ids"]]
    micro, depth = runtime["micro_batch_rows"], runtime["micro_batches_in_flight"]
    figures = []
    for mode in ("fixed", "dynamic"):
        shapes = PassShapes(
            mode=mode, widths=tuple(sorted(rows)), rows=tuple(rows[w] for w in sorted(rows))
        )
        share, passes = planned_share(lengths, shapes, micro, depth)
        figures.append(f"{mode} {share:.0%} real tokens in {passes} passes")
    return (
        f"padding plan ({micro} x {depth} essays in flight, the encoder the bottleneck): "
        + "; ".join(figures)
    )


class Figures:
    """Essays/s, CPU-s per essay and GPU utilisation per path, over rounds."""

    def __init__(self) -> None:
        self.rates: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.busy: dict[str, str] = {}

    def add(self, name: str, essays: int, seconds: float, cpu: float, busy: str) -> None:
        self.rates.setdefault(name, []).append(essays / seconds)
        self.cpu.setdefault(name, []).append(cpu / essays)
        self.busy[name] = busy

    def rate(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def row(self, name: str, bound: tuple[float, str] | None) -> str:
        rate = self.rate(name)
        cells = [name, f"{rate:.1f}", f"{statistics.median(self.cpu[name]):.3f}",
                 self.busy.get(name, "n/a"), "", ""]  # fmt: skip
        if bound is not None:
            cells[4:] = [f"{bound[1]} {bound[0]:.1f}", f"{rate / bound[0]:.0%}"]
        return "| " + " | ".join(cells) + " |"


def measure_server(
    env: dict[str, str], table: pa.Table, sets: list[str], rounds: int, suffix: str,
    figures: Figures, baseline: Baseline | None, work: Path,
) -> tuple[dict[str, Any], str, str]:  # fmt: skip
    """Serve with ``env``, time each feature set per round (the seed-style pipeline first,
    interleaved); (the server's runtime block, per-pass figures, invariance)."""
    import httpx

    from hemma_features import FeatureClient
    from hemma_features.client.server_process import ServerProcess

    texts = table.column("text").to_pylist()
    utilisation = Utilisation()
    with ServerProcess(env, startup_timeout=1800) as server:
        assert server.info is not None
        pid = server.info.pid
        with FeatureClient(server.http_url, timeout=600) as client:
            runtime = msgspec.to_builtins(client.config().runtime)
            chosen = runtime["embedding"]
            print(f"server{suffix}: {chosen['backend']} {chosen['precision']} on "
                  f"{runtime['embedding'].get('device', '?')}, batching "
                  f"{runtime['encoder_batching']}, micro-batches of "
                  f"{runtime['micro_batch_rows']} x {runtime['micro_batches_in_flight']} in "
                  f"flight, {runtime['parse_workers']} parse workers")  # fmt: skip
            client.extract(table.slice(0, 8), feature_set="combined", cache=work / "warm")
            for round_ in range(rounds):
                if baseline is not None:
                    baseline.run(texts[:8])
                    used, wall = own_cpu(), time.perf_counter()
                    with utilisation:
                        baseline.run(texts)
                    seconds = time.perf_counter() - wall
                    figures.add("seed-style", len(texts), seconds, own_cpu() - used,
                                utilisation.figures())  # fmt: skip
                for name in sets:
                    used, wall = own_cpu() + tree_cpu(pid), time.perf_counter()
                    with utilisation:
                        client.extract(table, feature_set=name, cache=work / f"{name}{round_}")
                    seconds = time.perf_counter() - wall
                    spent = own_cpu() + tree_cpu(pid) - used
                    figures.add(name + suffix, len(texts), seconds, spent, utilisation.figures())
                print(f"round {round_ + 1}{suffix}: " + ", ".join(
                    f"{n} {v[-1]:.1f}/s" for n, v in figures.rates.items()))  # fmt: skip
            text = httpx.get(f"{server.http_url}/metrics", timeout=60).text
            rows, passes = metric_sums(text, "hemma_encoder_pass_rows")
            padding, _ = metric_sums(text, "hemma_encoder_pass_padding_ratio")
            waited, windows = metric_sums(text, "hemma_encoder_queue_seconds")
            per_pass = (
                f"encoder passes{suffix}: {passes:.0f}, {rows / passes:.1f} essays and "
                f"{padding / passes:.0%} padding a pass, queue wait {waited / windows * 1e3:.1f} "
                "ms mean"
                if passes and windows
                else f"encoder passes{suffix}: none counted"
            )
            identical = invariance(client, table, work / "invariance")
    print(padding_plan(Path(env["HEMMA_EMBEDDING_MODEL"]), texts, runtime))
    return runtime, per_pass, identical


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--random-weights", default="minilm", help="minilm, mpnet or a folder")
    parser.add_argument("--tiny", action="store_true", help="2 layers of 64 (CI)")
    parser.add_argument("--save-config", type=Path, help="copy the model's files here, exit")
    parser.add_argument("--essays", type=int, default=800, help="ELLIPSE essays [800]")
    parser.add_argument("--essays-file", type=Path, help="an ELLIPSE-style CSV elsewhere")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds [2]")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu [auto]")
    parser.add_argument("--sets", default=",".join(SETS), help="project feature sets")
    parser.add_argument("--shapes", default="fixed", help="fixed,dynamic: a server for each")
    parser.add_argument("--no-baseline", action="store_true", help="skip the seed pipeline")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--parse-sample", type=int, default=100, help="essays for the bound")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hemma_features.engine.models.hardware import available_cores

    with tempfile.TemporaryDirectory(prefix="hemma-gpu-bench-") as tmp:
        work = Path(tmp)
        source = model_files(args.random_weights, work / "assembled")
        if args.save_config is not None:
            save_config(source, args.save_config)
            return 0
        model_dir = random_model(source, work / "model", tiny=args.tiny)
        device = device_of(args.device)
        table = essays(args.essays, args.essays_file)
        texts = table.column("text").to_pylist()
        cores = available_cores()
        print(f"speed only: {args.random_weights} architecture with random weights"
              f"{' (tiny)' if args.tiny else ''}; device {device}; {len(texts)} essays; "
              f"{cores} cores")  # fmt: skip
        if device == "cuda":
            import torch

            print(f"gpu: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        bare = {
            dtype: bare_encoder(model_dir, texts, device, dtype) for dtype in bare_dtypes(device)
        }
        for dtype, rate in bare.items():
            print(f"bare encoder {dtype}: {rate:.1f} essays/s")
        parse = parse_cost(texts[: args.parse_sample])
        parse_bound = cores / parse
        print(f"parse: {parse:.4f} CPU-s per essay; bound {cores} / {parse:.4f} = "
              f"{parse_bound:.1f} essays/s")  # fmt: skip
        env = {
            "HEMMA_EMBEDDING_MODEL": str(model_dir),
            "HEMMA_STORE": "false",
            "HEMMA_DEVICE": device,
            "HEMMA_MAX_ITEMS": str(max(4096, len(texts))),
            "HEMMA_MODEL_CACHE_DIR": str(work / "cache"),
        }
        env.update(dict(item.split("=", 1) for item in args.env))
        absent = None if args.no_baseline else baseline_absent()
        if absent is not None:
            print(absent)
        baseline = None if args.no_baseline or absent else Baseline(model_dir, device)
        sets = [s for s in args.sets.split(",") if s]
        figures = Figures()
        notes = []
        precision = "float32"
        for index, shapes in enumerate(s for s in args.shapes.split(",") if s):
            suffix = "" if index == 0 else f" ({shapes})"
            runtime, per_pass, identical = measure_server(
                {**env, "HEMMA_EMBEDDING_BATCH_SHAPES": shapes}, table, sets, args.rounds,
                suffix, figures, baseline if index == 0 else None, work / shapes,
            )  # fmt: skip
            if index == 0:
                precision = runtime["embedding"]["precision"]
            notes += [per_pass, f"bit-identical vectors across batch compositions{suffix}: "
                      f"{identical}"]  # fmt: skip
        encoder_bound = bare.get(precision, bare["float32"])
        bounds = {
            "embeddings": (encoder_bound, f"bare {precision}"),
            "handcrafted": (parse_bound, "parse"),
            "combined": (min(encoder_bound, parse_bound), "min(encoder, parse)"),
        }
        print(f"essays: {len(texts)}, rounds: {args.rounds} (medians)")
        print("| path | essays/s | CPU-s per essay | GPU utilisation | bound | of bound |")
        print("|---|---|---|---|---|---|")
        for dtype, rate in bare.items():
            print(f"| bare encoder {dtype} | {rate:.1f} | | | | |")
        for name in figures.rates:
            print(figures.row(name, bounds.get(name.split(" (")[0])))
        print(f"| parse bound | {parse_bound:.1f} | {parse:.4f} | | | |")
        for note in notes:
            print(note)
        for name in figures.rates:
            if name.endswith(")") and name.split(" (")[0] in figures.rates:
                plain = name.split(" (")[0]
                print(f"{name} / {plain}: {figures.rate(name) / figures.rate(plain):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
