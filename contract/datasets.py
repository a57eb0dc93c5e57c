"""The ``do_put`` answer: the named dataset the server stored."""

from __future__ import annotations

import msgspec


class DatasetEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A named dataset: its content hash and row count (``do_put``'s answer, and what the
    server keeps under the name). Unknown fields are allowed: a newer server may add one."""

    name: str
    """Name given with ``do_put``."""
    sha256: str
    """Content hash of the stored Arrow IPC file."""
    rows: int
    """Number of essays."""
