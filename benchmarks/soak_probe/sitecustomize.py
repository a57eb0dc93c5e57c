"""Memory probe for ``benchmarks/soak.py --probe``: loaded by the server's interpreter at
start, because soak.py puts this folder first on the server's ``PYTHONPATH``.

Inert unless ``SOAK_PROBE`` names a file and the process is ``serve`` (parse workers
inherit the environment and skip it). Then every ``SOAK_PROBE_SECONDS`` (30) it appends
one JSON line to that file: where the process's anonymous memory is, by allocator,

- ``arrow``: bytes pyarrow's default pool holds (``pa.total_allocated_bytes()``);
- ``glibc_used`` / ``glibc_free``: malloc's in-use bytes and the free bytes it keeps in its
  arenas (``mallinfo2``; the free part is fragmentation a ``malloc_trim`` may return);
- ``py_blocks``: blocks Python's own allocator holds (``sys.getallocatedblocks()``);
- ``rss_anon``, ``threads``; what none of the allocators above accounts for (the OpenVINO
  and ONNX Runtime kernels' own pools, thread stacks) is ``rss_anon`` less the rest.

With ``SOAK_PROBE_TRIM=1`` each reading first calls ``malloc_trim(0)`` and records
``rss_anon`` before it too. With ``SOAK_PROBE_TOP=<seconds>`` tracemalloc runs (one frame;
numpy's buffers included; it costs memory and time, so the other figures are only
trends then), a snapshot is taken at that age, and every tenth reading after it writes
``python`` (bytes traced) and the 12 source lines whose traced bytes grew most since
(``top``).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
           "fordblks", "keepcost")  # fmt: skip


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


def _status(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    return -1


def _reading(libc: ctypes.CDLL, started: float, trim: bool) -> dict[str, object]:
    row: dict[str, object] = {
        "seconds": round(time.monotonic() - started, 1),
        "unix": time.time(),  # the soak lines its samples up with these
    }
    if trim:
        row["rss_anon_before_trim"] = _status("RssAnon")
        libc.malloc_trim(0)
    info = libc.mallinfo2()
    arrow = sys.modules.get("pyarrow")
    row.update(
        rss_anon=_status("RssAnon"),
        threads=_status("Threads") // 1024,
        arrow=arrow.total_allocated_bytes() if arrow is not None else -1,
        glibc_used=info.uordblks + info.hblkhd,
        glibc_free=info.fordblks,
        py_blocks=sys.getallocatedblocks(),
    )
    return row


def _top(base: tracemalloc.Snapshot) -> dict[str, object]:
    """Bytes traced now and the source lines that grew most since ``base``."""
    stats = tracemalloc.take_snapshot().compare_to(base, "lineno")[:12]
    return {
        "python": tracemalloc.get_traced_memory()[0],
        "top": [f"{stat.size_diff / 2**20:+.2f} MiB {stat.traceback[0]}" for stat in stats],
    }


def _run(path: Path, every: float, trim: bool, top_at: float | None) -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    started = time.monotonic()
    base: tracemalloc.Snapshot | None = None
    since = 0  # readings since the snapshot
    while True:
        time.sleep(every)
        row = _reading(libc, started, trim)
        if top_at is not None and base is None and time.monotonic() - started >= top_at:
            base = tracemalloc.take_snapshot()
        elif base is not None:
            since += 1
            if since % 10 == 0:
                row.update(_top(base))
        with path.open("a") as out:
            out.write(json.dumps(row) + "\n")


def _start() -> None:
    target = os.environ.get("SOAK_PROBE")
    if not target or sys.argv[1:2] != ["serve"]:
        return
    every = float(os.environ.get("SOAK_PROBE_SECONDS", "30"))
    trim = os.environ.get("SOAK_PROBE_TRIM") == "1"
    top = os.environ.get("SOAK_PROBE_TOP")
    if top:
        tracemalloc.start(1)
    args = (Path(target), every, trim, float(top) if top else None)
    threading.Thread(target=_run, args=args, name="soak-probe", daemon=True).start()


_start()
