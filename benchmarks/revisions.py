"""Benchmark: this checkout's server against another revision's, interleaved, same essays.

    .venv/bin/python benchmarks/revisions.py --reference 901df02 --essays 150 --rounds 3

Starts two ``serve`` processes with the same settings (their defaults, store off, plus
``--env NAME=VALUE``): one running this checkout's code, one the ``--reference`` revision's
(``git archive`` into a temporary directory, first on ``PYTHONPATH``). Each round extracts
the same ELLIPSE essays through each feature set from each server in turn, into empty
caches. Prints per feature set the medians of essays/s and server CPU-s per essay, this
checkout's ratio to the reference, and whether the two answered the same fingerprint and
the same bytes (a change meant to keep values keeps both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.checkouts import git, revision_tree  # noqa: E402
from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from benchmarks.procs import tree_cpu  # noqa: E402
from benchmarks.throughput import own_cpu  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True, help="git revision to compare with")
    parser.add_argument("--essays", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", default="combined,embeddings,handcrafted")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both")
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    from hemma_features import FeatureClient
    from hemma_features.client.server_process import ServerProcess

    essays = essay_inputs(table)
    sets = [s for s in args.sets.split(",") if s]
    env = {"HEMMA_STORE": "false", **dict(item.split("=", 1) for item in args.env)}
    commit = git("rev-parse", "--short", args.reference)
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    same: dict[str, bool] = {}
    with (
        revision_tree(args.reference) as tree,
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess({**env, "PYTHONPATH": str(REPO / "src")}, startup_timeout=900) as here,
        ServerProcess({**env, "PYTHONPATH": str(tree / "src")}, startup_timeout=900) as there,
    ):
        servers = {"this checkout": here, f"reference {commit}": there}
        clients = {name: FeatureClient(s.http_url, timeout=600) for name, s in servers.items()}
        for client in clients.values():
            client.extract(essays.slice(0, 4), feature_set="combined", cache=Path(tmp) / "w")
        for round_ in range(args.rounds):
            for name in sets:
                tables = {}
                for side, server in servers.items():
                    assert server.info is not None
                    used = own_cpu() + tree_cpu(server.info.pid)
                    wall = time.perf_counter()
                    cache = Path(tmp) / f"{side}-{name}-{round_}"
                    tables[side] = clients[side].extract(essays, feature_set=name, cache=cache)
                    seconds = time.perf_counter() - wall
                    spent = own_cpu() + tree_cpu(server.info.pid) - used
                    rates.setdefault((side, name), []).append(len(essays) / seconds)
                    cpu.setdefault((side, name), []).append(spent / len(essays))
                first, second = tables.values()
                same[name] = same.get(name, True) and first.equals(second, check_metadata=True)
            last = [f"{side} {name} {v[-1]:.2f}/s" for (side, name), v in rates.items()]
            print(f"round {round_ + 1}: " + ", ".join(last))
        for client in clients.values():
            client.close()
    sides = list(servers)
    print(f"essays: {len(essays)}, rounds: {args.rounds} (medians)")
    print("| feature set | " + " | ".join(f"{s} essays/s | {s} CPU-s" for s in sides)
          + " | essays/s ratio | CPU-s ratio | same fingerprint and bytes |")  # fmt: skip
    print("|---" * (2 * len(sides) + 4) + "|")
    for name in sets:
        cells = [name]
        for side in sides:
            cells += [f"{statistics.median(rates[(side, name)]):.2f}",
                      f"{statistics.median(cpu[(side, name)]):.3f}"]  # fmt: skip
        mine, theirs = (statistics.median(rates[(s, name)]) for s in sides)
        mine_cpu, theirs_cpu = (statistics.median(cpu[(s, name)]) for s in sides)
        cells += [f"{mine / theirs:.2f}x", f"{mine_cpu / theirs_cpu:.2f}x",
                  "yes" if same[name] else "NO"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
