"""Soak (issue 32): N clients for M minutes against one server; does its memory level off?

    .venv/bin/python benchmarks/soak.py --clients 6 --minutes 30

A real ``serve`` process on 127.0.0.1 with its default settings, except
``HEMMA_STORE_DIR`` (a fresh temporary store, so the run starts empty and leaves the
user's store alone; the store itself stays on, as by default). ``--server-env NAME=VALUE``
adds to the server's environment (``MALLOC_ARENA_MAX=2``, ``HEMMA_SOAK_TRACE``...).

Each client is a thread with its own ``FeatureClient`` and its own cache directory, sending
one request after another on real ELLIPSE essays (4 to 32 consecutive rows from a random
place), each request drawn from this mix (seeded, so a rerun sends the same):

- the feature set: ``embeddings``, ``handcrafted`` or ``combined``, evenly;
- a third of the requests carry *revised* essays (the text with a line ``Revision N.``
  added, N new each time): new content keys, so the server computes them and stores them;
  the rest are the essays as they are, which the server computes the first time and
  serves from its store after;
- half go through the client's own cache (only what it lacks is sent), half with no cache
  (every row reaches the server);
- one in twenty is cancelled: 48 revised essays streamed, the call dropped after the
  first answer (as Ctrl-C does), while the server still computes the rest.

Every ``--sample-seconds`` it prints the time, the server's RSS (with its anonymous part:
heap and arenas, not mapped files), each parse worker's RSS and the requests done. At the
end: the least-squares slope (MiB/min) of each over the last half of the run, the server's
peak, the requests by outcome, and the rows the server computed and served from its store
(``/metrics``). Bounded by ``--minutes`` and ``--max-requests``; a client still busy 300 s
after the end is reported and left behind.

For a diagnosis: ``--probe SECONDS`` also records where the server's anonymous memory is,
by allocator (Arrow's pool, glibc's in-use and free bytes, the rest; tracemalloc's top
growing lines with ``--probe-top``; see ``benchmarks/soak_probe``), and ``--warm-lengths
512`` first embeds one text of every token length, so that growth from the encoder meeting
new sequence lengths is over before the first sample.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from benchmarks.procs import command_line, descendants, status_mib  # noqa: E402
from benchmarks.soak_probe import probe_env, probe_lines, read_probe, slope  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402

FEATURE_SETS = ("embeddings", "handcrafted", "combined")
REVISED_SHARE = 1 / 3
CACHED_SHARE = 1 / 2
CANCEL_SHARE = 1 / 20
CANCEL_ROWS = 48
JOIN_SECONDS = 300.0
WARM_SECONDS = 900.0
WORKER_MODULE = "parse_worker"
MEMORY = ("VmRSS", "RssAnon", "RssFile")


@dataclass
class Tally:
    """Requests done, shared by the client threads (under ``lock``)."""

    max_requests: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    revision: int = 0
    errors: list[str] = field(default_factory=list)

    def take(self) -> bool:
        """Claim one request of the budget; False when it is spent."""
        with self.lock:
            if self.started >= self.max_requests:
                return False
            self.started += 1
            return True

    def next_revision(self) -> int:
        with self.lock:
            self.revision += 1
            return self.revision

    def done(self, outcome: str, rows: int, error: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.rows += rows
            if error is not None and len(self.errors) < 5:
                self.errors.append(error[:300])

    def count(self) -> int:
        with self.lock:
            return sum(self.outcomes.values())


def revised(essays: pa.Table, revision: int) -> pa.Table:
    """The essays with a line added: a student's next draft, whose content keys are new."""
    text = pc.binary_join_element_wise(essays.column("text"), f"Revision {revision}.", "\n\n")
    return essays.set_column(essays.schema.get_field_index("text"), "text", text)


def client_loop(
    index: int, server: str, essays: pa.Table, cache: Path, tally: Tally, stop: threading.Event
) -> None:
    """One client: requests from the mix until ``stop`` or the request budget is spent."""
    rng = random.Random(index)
    with FeatureClient(server) as client:
        while not stop.is_set() and tally.take():
            feature_set = rng.choice(FEATURE_SETS)
            cancel = rng.random() < CANCEL_SHARE
            rows = CANCEL_ROWS if cancel else rng.randint(4, 32)
            start = rng.randrange(essays.num_rows - rows)
            chunk = essays.slice(start, rows)
            if cancel or rng.random() < REVISED_SHARE:
                chunk = revised(chunk, tally.next_revision())
            cached = rng.random() < CACHED_SHARE
            try:
                if cancel:
                    answers = client.stream(chunk, feature_set)
                    next(answers)
                    answers.close()  # cancels the call, as Ctrl-C does
                    tally.done("cancelled", rows)
                else:
                    client.extract(chunk, feature_set=feature_set, cache=cache if cached else None)
                    tally.done("cached" if cached else "uncached", rows)
            except Exception as exc:  # counted and shown at the end, never hidden
                tally.done("failed", rows, f"{feature_set}: {type(exc).__name__}: {exc}")


def length_ladder(longest: int) -> pa.Table:
    """Texts of 1 to ``longest - 3`` words "the" and a full stop. In the default model's
    WordPiece vocabulary each is one token, so with ``[CLS]``, "." and ``[SEP]`` the encoder
    sees every sequence length from 4 to ``longest`` once (no prompt: no other pass)."""
    counts = range(1, longest - 2)
    return pa.table(
        {
            "essay_id": [f"ladder-{n}" for n in counts],
            "text": [" ".join(["the"] * n) + "." for n in counts],
            "prompt": [""] * len(counts),
        }
    )


def embed_once(server: str, essays: pa.Table, errors: list[BaseException]) -> None:
    """``essays`` as ``embeddings`` through a client of its own; an error goes to ``errors``."""
    try:
        with FeatureClient(server) as client:
            client.extract(essays, feature_set="embeddings")
    except Exception as exc:  # re-raised by the caller, in its thread
        errors.append(exc)


@dataclass
class Sample:
    seconds: float
    server: dict[str, float]
    workers: dict[int, float]
    requests: int
    load: float


def sample(pid: int, started: float, tally: Tally) -> Sample:
    """The server's memory, each parse worker's RSS and the requests done, now."""
    workers = {
        child: status_mib(child, "VmRSS").get("VmRSS", float("nan"))
        for child in descendants(pid)
        if WORKER_MODULE in command_line(child)
    }
    return Sample(
        seconds=time.monotonic() - started,
        server=status_mib(pid, *MEMORY),
        workers=workers,
        requests=tally.count(),
        load=os.getloadavg()[0],
    )


def sample_line(s: Sample) -> str:
    workers = " ".join(f"{pid}:{rss:.1f}" for pid, rss in s.workers.items())
    return (
        f"t {s.seconds:7.0f} s | server RSS {s.server.get('VmRSS', float('nan')):7.1f} MiB "
        f"(anon {s.server.get('RssAnon', float('nan')):7.1f}) | workers MiB {workers} | "
        f"requests {s.requests:6d} | load {s.load:.2f}"
    )


def slopes(samples: list[Sample]) -> list[str]:
    """The slope of each series over the last half of the run."""
    half = samples[-1].seconds / 2
    late = [s for s in samples if s.seconds >= half]
    lines = [f"slope over the last half (t >= {half:.0f} s, {len(late)} samples, least squares):"]
    for name, label in (
        ("VmRSS", "server RSS"),
        ("RssAnon", "server anon"),
        ("RssFile", "server file"),
    ):
        series = [(s.seconds, s.server[name]) for s in late if name in s.server]
        if series:
            lines.append(
                f"  {label:12s} {slope(series):+7.2f} MiB/min "
                f"({series[0][1]:.1f} -> {series[-1][1]:.1f} MiB)"
            )
    pids = sorted({pid for s in late for pid in s.workers})
    for pid in pids:
        series = [(s.seconds, s.workers[pid]) for s in late if pid in s.workers]
        lines.append(
            f"  worker {pid:<6d} {slope(series):+7.2f} MiB/min "
            f"({series[0][1]:.1f} -> {series[-1][1]:.1f} MiB, {len(series)} samples)"
        )
    total = [(s.seconds, sum(s.workers.values())) for s in late if s.workers]
    if total:
        lines.append(f"  workers sum  {slope(total):+7.2f} MiB/min")
    return lines


def server_counters(url: str) -> dict[str, float]:
    """``hemma_extract_rows_total`` and ``hemma_store_hits_total`` summed over feature sets,
    plus the parse worker restarts, from ``/metrics``."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    wanted = (
        "hemma_extract_rows_total",
        "hemma_store_hits_total",
        "hemma_parse_worker_restarts_total",
        "hemma_flight_refusals_total",
    )
    totals = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=6, help="client threads [6]")
    parser.add_argument("--minutes", type=float, default=30.0, help="run length [30]")
    parser.add_argument("--max-requests", type=int, default=100_000, help="request cap [100000]")
    parser.add_argument("--sample-seconds", type=float, default=30.0, help="sample every [30]")
    parser.add_argument("--essays", type=int, default=2000, help="ELLIPSE essays to draw [2000]")
    parser.add_argument(
        "--probe", type=float, default=0.0, metavar="SECONDS",
        help="every SECONDS, the server's memory by allocator (benchmarks/soak_probe) [0: off]",
    )  # fmt: skip
    parser.add_argument(
        "--probe-top", type=float, default=None, metavar="SECONDS",
        help="with --probe: tracemalloc on (slow; the other figures become trends); the "
        "source lines whose traced memory grew most since the server was SECONDS old",
    )  # fmt: skip
    parser.add_argument(
        "--probe-trim", action="store_true", help="with --probe: malloc_trim(0) at each reading"
    )
    parser.add_argument(
        "--warm-lengths", type=int, default=0, metavar="TOKENS",
        help="before the first sample, embed one text of every token length up to TOKENS "
        "(a diagnosis: is the growth the encoder meeting new sequence lengths?) [0: off]",
    )  # fmt: skip
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server process (repeatable)",
    )
    args = parser.parse_args(argv)
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    essays = essay_inputs(table)
    extra = dict(item.split("=", 1) for item in args.server_env)
    with tempfile.TemporaryDirectory(prefix="hemma-soak-") as tmp:
        env = {"HEMMA_STORE_DIR": str(Path(tmp) / "store"), **extra}
        probe_file = Path(tmp) / "probe.jsonl"
        if args.probe:
            env.update(probe_env(probe_file, args.probe, args.probe_top, args.probe_trim))
        with ServerProcess(env, startup_timeout=900) as server:
            assert server.info is not None
            pid = server.info.pid
            print(
                f"server pid {pid}, environment set: {sorted(env)}; {args.clients} clients, "
                f"{args.minutes} min, at most {args.max_requests} requests",
                flush=True,
            )
            if args.warm_lengths:
                ladder = length_ladder(args.warm_lengths)
                errors: list[BaseException] = []
                warm = threading.Thread(
                    target=embed_once, args=(server.http_url, ladder, errors), daemon=True
                )
                warm.start()
                warm.join(WARM_SECONDS)
                if warm.is_alive():
                    raise TimeoutError(f"--warm-lengths took over {WARM_SECONDS:.0f} s")
                if errors:
                    raise errors[0]
                print(f"embedded {ladder.num_rows} texts, one of each length up to "
                      f"{args.warm_lengths} tokens", flush=True)  # fmt: skip
            tally = Tally(args.max_requests)
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=client_loop,
                    daemon=True,
                    name=f"client-{i}",
                    args=(i, server.http_url, essays, Path(tmp) / f"client-{i}", tally, stop),
                )
                for i in range(args.clients)
            ]
            started, started_unix = time.monotonic(), time.time()
            samples = [sample(pid, started, tally)]
            print(sample_line(samples[0]), flush=True)
            for thread in threads:
                thread.start()
            end, at = started + args.minutes * 60, started
            while at < end and any(t.is_alive() for t in threads):
                at = min(at + args.sample_seconds, end)
                time.sleep(max(0.0, at - time.monotonic()))
                samples.append(sample(pid, started, tally))
                print(sample_line(samples[-1]), flush=True)
            stop.set()
            deadline = time.monotonic() + JOIN_SECONDS
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            hung = [t.name for t in threads if t.is_alive()]
            counters = server_counters(server.http_url)
            peak = status_mib(pid, "VmHWM").get("VmHWM", float("nan"))
            stored = [f.stat().st_size for f in (Path(tmp) / "store").rglob("*") if f.is_file()]
            probe = read_probe(probe_file)
    for line in slopes(samples):
        print(line)
    for line in probe_lines(probe, started_unix, samples[-1].seconds / 2, samples[-1].seconds):
        print(line)
    outcomes = ", ".join(f"{name} {n}" for name, n in sorted(tally.outcomes.items()))
    print(
        f"totals: {tally.count()} requests ({outcomes}), {tally.rows} rows sent, "
        f"{samples[-1].seconds / 60:.1f} min; server computed "
        f"{counters['hemma_extract_rows_total']:.0f} rows, served "
        f"{counters['hemma_store_hits_total']:.0f} from its store, refused "
        f"{counters['hemma_flight_refusals_total']:.0f} calls as busy, replaced "
        f"{counters['hemma_parse_worker_restarts_total']:.0f} parse workers"
    )
    first, last = samples[0].server, samples[-1].server
    print(
        f"server RSS {first.get('VmRSS', 0):.1f} -> {last.get('VmRSS', 0):.1f} MiB, peak "
        f"{peak:.1f} MiB; of it file-backed {first.get('RssFile', 0):.1f} -> "
        f"{last.get('RssFile', 0):.1f} MiB (the store holds {sum(stored) / 2**20:.1f} MiB in "
        f"{len(stored)} files); load average {samples[0].load:.2f} at the start, "
        f"{samples[-1].load:.2f} at the end, mean {np.mean([s.load for s in samples]):.2f}"
    )
    for error in tally.errors:
        print(f"  error: {error}")
    if hung:
        print(f"clients still busy {JOIN_SECONDS:.0f} s after the end: {', '.join(hung)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
