"""A parse worker process: spaCy + TextDescriptives over stdin/stdout frames.

Started by ``parallel.SupervisedParser`` as ``python -m hemma_features.engine.features.
parse_worker MODEL PARENT_PID``. Frames are a 4-byte big-endian length and a msgpack map:
in ``{"texts": [...]}``; out ``{"ready": true}`` once, then per request one
``{"progress": i}`` before each batch of texts (``i`` its first text; see ``batches``) and
``{"rows": [...]}`` (or ``{"error": "..."}``).

The worker dies with its parent: Linux kills it when the parent dies (parent-death
signal), and a watchdog thread exits when the parent is gone on any system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from hemma_features.engine.features.nlp import TextAnalyzer

_HEADER = struct.Struct(">I")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_PR_SET_PDEATHSIG = 1


def write_frame(stream: IO[bytes], message: Any) -> None:
    """One frame: length, then the msgpack body."""
    body = _ENCODER.encode(message)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(read: Callable[[int], bytes]) -> Any | None:
    """The next frame from ``read(n)`` (up to n bytes), or None at end of stream."""
    header = read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = read(size)
    if len(body) < size:
        return None
    return _DECODER.decode(body)


def die_with_parent(parent_pid: int) -> None:
    """Exit when ``parent_pid`` is gone: parent-death signal on Linux, a watchdog anywhere."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:  # re-parented: the server is gone
                os._exit(0)
            time.sleep(1.0)

    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(0)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str]) -> int:
    """Serve parse requests until stdin closes."""
    model, parent_pid = argv[0], int(argv[1])
    die_with_parent(parent_pid)
    # Frames own the original stdout; anything a library prints goes to stderr instead.
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hemma_features.engine.features.nlp import TextAnalyzer

    analyzer = TextAnalyzer.load(model)
    analyzer.features(["Warm up."])
    source = sys.stdin.buffer
    write_frame(sink, {"ready": True})
    current = (0, 0)

    def progress(start: int, end: int) -> None:
        nonlocal current
        current = (start, end)
        write_frame(sink, {"progress": start})

    while (request := read_frame(source.read)) is not None:
        current = (0, 0)
        try:
            rows = request_rows(analyzer, request["texts"], progress)
        except Exception as exc:  # reported to the parent, which fails the request
            where = f"texts {current[0]}-{current[1] - 1}"
            write_frame(sink, {"error": f"{where}: {type(exc).__name__}: {exc}"})
            continue
        write_frame(sink, {"rows": rows})
    return 0


BATCH_TEXTS = 8
"""Most texts parsed in one ``nlp.pipe`` batch: batches of 4-16 ELLIPSE essays cost about
10% less CPU than one essay at a time (docs/benchmarks.md, issue 23), with the same values."""
BATCH_CHARS = 20_000
"""Most characters in one batch: a text longer than this (the kind that can run into the
parse deadline) is parsed alone, so a deadline on it names it exactly."""


def batches(texts: list[str]) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of at most BATCH_TEXTS texts and BATCH_CHARS
    characters; a text longer than BATCH_CHARS is a batch of its own."""
    spans = []
    start = chars = 0
    for i, text in enumerate(texts):
        if i > start and (i - start >= BATCH_TEXTS or chars + len(text) > BATCH_CHARS):
            spans.append((start, i))
            start, chars = i, 0
        chars += len(text)
    if start < len(texts):
        spans.append((start, len(texts)))
    return spans


def request_rows(
    analyzer: TextAnalyzer, texts: list[str], progress: Callable[[int, int], None]
) -> list[dict[str, float]]:
    """The rows of one request's texts, parsed in ``batches``: ``progress(start, end)``
    before each, so the parent names the batch a deadline passes on by its first text."""
    rows: list[dict[str, float]] = []
    for start, end in batches(texts):
        progress(start, end)
        rows.extend(analyzer.features(texts[start:end]))
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
