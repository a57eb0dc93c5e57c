"""At the boundary with Ray: its errors leave as the project's, its blocks in the feature
set's schema.

An actor's own error (a bad row, a model that does not load on a host, another
fingerprint) reaches the driver wrapped in Ray's (``RayTaskError``, ``ActorDiedError``);
``translated`` raises the project's error under them, once, and anything else as
``ServerInternalError`` with Ray's last line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa

from hemma_features.client.errors import ProtocolError, ServerInternalError
from hemma_features.contract import ContractError
from hemma_features.engine.errors import HemmaServiceError

MISSING_MODULE_HINT = (
    "install the same hemma-features[server,ray] version on the driver and every host "
    "of the cluster"
)


def cause(exc: BaseException) -> BaseException:
    """The project's own error under Ray's wrappers (``RayTaskError``, ``UserCodeException``);
    ``exc`` itself when there is none."""
    todo: list[BaseException] = [exc]
    for _ in range(20):  # wrappers nest a few levels at most
        if not todo:
            break
        seen = todo.pop(0)
        if isinstance(seen, HemmaServiceError | ContractError):
            return seen
        # RayTaskError keeps the error in .cause, ActorDiedError the RayTaskError in args.
        inner = [getattr(seen, "cause", None), seen.__cause__, *seen.args]
        todo += [e for e in inner if isinstance(e, BaseException)]
    return exc


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Ray's errors leave as the project's, once, at this boundary: the project error an
    actor raised (a bad row, a model that does not load), else ``ServerInternalError``."""
    import ray.exceptions

    try:
        yield
    except ray.exceptions.RayError as exc:
        found = cause(exc)
        if isinstance(found, HemmaServiceError | ContractError):
            raise found from exc
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        hint = f" ({MISSING_MODULE_HINT})" if "No module named" in last else ""
        raise ServerInternalError(f"the Ray cluster failed while {what}: {last}{hint}") from exc


def restore_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema`` with its metadata (Ray may drop schema metadata when it
    moves blocks); names and types must already match."""
    if table.column_names != schema.names:
        raise ProtocolError(
            f"a Ray block has columns {table.column_names}, the feature set has {schema.names}"
        )
    return pa.Table.from_arrays(table.columns, schema=schema)


__all__ = ["cause", "restore_schema", "translated"]
