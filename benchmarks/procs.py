"""Processes as /proc shows them: a process tree, its CPU-seconds and memory (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, float]]:
    """Every live process: pid -> (parent pid, CPU-seconds so far)."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses: split after the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def descendants(root: int) -> list[int]:
    """The live descendants of ``root`` (children before grandchildren), ``root`` excluded."""
    stats = _stats()
    found, frontier = [], [root]
    while frontier:
        children = sorted(pid for pid, (parent, _) in stats.items() if parent in frontier)
        found.extend(children)
        frontier = children
    return found


def tree_cpu(root: int) -> float:
    """CPU-seconds used so far by ``root`` and its live descendants."""
    stats = _stats()
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += stats[pid][1] if pid in stats else 0.0
        stack.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def status_mib(pid: int, *names: str) -> dict[str, float]:
    """Memory lines of ``/proc/PID/status`` (``VmRSS``, ``RssAnon``, ``RssFile``, ``VmHWM``...)
    in MiB; an empty dict when the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in names:
            values[name] = int(rest.split()[0]) / 1024  # the kernel writes kB (KiB)
    return values


def command_line(pid: int) -> str:
    """The process's arguments joined by spaces ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""
