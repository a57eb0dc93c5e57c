"""The one step loop every transport runs: an input batch in, its feature batches out.

``StoreBackedFeatures.answers`` is the loop: it plans the batch (``plan``: the rows checked,
the stored ones found with one index lookup), serves stored stretches as they are
(``stored_rows``) and computes the rest micro-batch by micro-batch with the runtime, several in
flight, storing them (``compute``), all in input order. The Flight plane and the Ray stage
only adapt their input into an ``InputBatch`` and send on the record batches; neither plans
or steps itself. Knows nothing of gRPC or Ray.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import msgspec
import numpy as np
import pyarrow as pa

from hemma_features.arrowfiles.keyindex import Located
from hemma_features.contract import (
    ID_COLUMN,
    KEY_COLUMN,
    FeatureSet,
    check_input_batch,
    content_key_array,
)
from hemma_features.contract.errors import ROW_NUMBERS, SHOWN_VIOLATIONS
from hemma_features.engine.errors import DependencyError, InputError, ParseDeadlineError
from hemma_features.engine.feature_store import merge_in_order
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.storage import Stores


class InputBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One input batch of a request, to be answered with its feature batches."""

    rows: Any
    """The essays (``pa.RecordBatch`` or ``pa.Table``)."""
    feature_set: FeatureSet
    """The feature set asked for."""
    first_row: int = 0
    """The batch's first row in the whole request (for messages)."""
    keys: Any = None
    """The rows' content keys (``pa.Array``) when known: an uploaded dataset keeps them."""
    checked: bool = False
    """The rows were checked already (at upload)."""


class StoreBackedFeatures:
    """A runtime plus, unless the store is off, the feature store and datasets.

    Args:
        runtime: Computes what is not stored.
        stores: The server's stores; opened from ``runtime``'s settings when None.
        use_store: With ``stores`` None, False opens none (compute everything).
    """

    def __init__(
        self, runtime: Runtime, stores: Stores | None = None, *, use_store: bool = True
    ) -> None:
        self.runtime = runtime
        self.stores = stores or Stores(runtime.settings, use_store=use_store)
        self.store = self.stores.store
        self.datasets = self.stores.datasets

    def _extract(
        self, batch: pa.RecordBatch, rows: list[int], feature_set: FeatureSet
    ) -> tuple[pa.RecordBatch, _Refused | None]:
        """Compute ``rows`` of ``batch``: their feature batch, in order, and what was refused
        (rows whose parse passed the deadline, left out of the batch), or None."""
        todo = batch if len(rows) == batch.num_rows else batch.take(pa.array(rows, pa.int64()))
        try:
            return self.runtime.extract(todo, feature_set), None
        except ParseDeadlineError as exc:
            return exc.partial, _Refused([rows[i] for i in exc.indices], exc.deadline)

    def _refusal(
        self, batch: pa.RecordBatch, first_row: int, refused: _Refused, computed: int
    ) -> InputError:
        """The error that ends the request at a micro-batch with refused rows.

        The wire contract answers every input row, in order (docs/architecture.md), and a
        refused essay has no features to answer with (a row of NaN would be cached as if
        computed), so the request stops here, naming each refused essay, and says what
        became of the ``computed`` other rows of the micro-batch: kept in the store, a
        rerun without the refused essays takes them from there instead of computing them.
        """
        ids = batch.column(ID_COLUMN)
        named = [f"row {first_row + r} (essay_id={ids[r].as_py()!r})" for r in refused.rows]
        shown = "; ".join(named[:SHOWN_VIOLATIONS])
        if len(named) > SHOWN_VIOLATIONS:
            shown += f"; and {len(named) - SHOWN_VIOLATIONS} more"
        one = len(named) == 1
        essays, it, its = ("this essay", "it", "its") if one else ("these essays", "them", "their")
        other, were, them = (
            ("the other essay", "was", "it")
            if computed == 1
            else (f"the other {computed} essays", "were", "them")
        )
        if computed == 0:
            others = ""
        elif self.store is not None and self.stores.problem is None:
            others = (
                f"; {other} of {its} micro-batch {were} computed and kept in the server store, "
                f"so a rerun takes {them} from there"
            )
        else:
            others = (
                f"; {other} of {its} micro-batch {were} computed but not kept (no server "
                f"store), so a rerun computes {them} again"
            )
        return InputError(
            f"{shown}: {essays} took longer to parse than the deadline of "
            f"{refused.deadline:g} s (HEMMA_PARSE_DEADLINE, per parse batch), also alone in a "
            f"fresh worker, so {it} got no features: leave {it} out or shorten {it} (or have "
            f"the server's HEMMA_PARSE_DEADLINE raised) and rerun{others} ({ROW_NUMBERS})"
        )

    def plan(
        self,
        batch: pa.RecordBatch | pa.Table,
        feature_set: FeatureSet,
        first_row: int,
        *,
        keys: pa.Array | None = None,
        checked: bool = False,
    ) -> Plan:
        """Check an input batch and find, with one index lookup, which rows are stored.

        Args:
            batch: Input rows.
            feature_set: Feature set asked for.
            first_row: The batch's first row in the whole request (for messages).
            keys: The rows' content keys when known (an uploaded dataset keeps them).
            checked: The rows were checked already (at upload).
        """
        runtime = self.runtime
        if not checked:
            check_input_batch(
                record_batch(batch),
                max_text_chars=runtime.settings.limits.max_text_chars,
                first_row=first_row,
            )
        if self.store is None:
            return Plan(batch, feature_set, first_row, None, None, None)
        fingerprint = runtime.fingerprint_for(feature_set)
        if keys is None:
            keys = content_key_array(batch)
        located = self.store.locate(fingerprint, feature_set, keys)
        if (
            feature_set != "combined"
            and not located.present.all()
            and self._cut_from_combined(feature_set, fingerprint, keys, located.present)
        ):
            located = self.store.locate(fingerprint, feature_set, keys)
        return Plan(batch, feature_set, first_row, fingerprint, keys, located)

    def _cut_from_combined(
        self, feature_set: FeatureSet, fingerprint: str, keys: pa.Array, present: np.ndarray
    ) -> int:
        """Store the ``feature_set`` rows the store lacks but holds as combined rows of this
        runtime, cut from them; the rows written.

        ``combined`` is exactly ``embeddings`` and ``handcrafted`` side by side, under a
        fingerprint covering both, so its columns are the component's values bit for bit.
        Without this, a store filled by combined reads computed every embeddings row again
        (100k essays: hours on a CPU); with it, the first read writes them once and every
        read after is a plain hit.
        """
        assert self.store is not None
        try:
            combined = self.runtime.fingerprint_for("combined")
        except DependencyError:  # LanguageTool pending: no combined rows to trust yet
            return 0
        missing = keys.take(pa.array(np.flatnonzero(~present)))
        found = self.store.locate(combined, "combined", missing).take(ordered=False)
        if found is None:
            return 0
        schema = self.runtime.schema(feature_set)
        stored = pa.schema([pa.field(KEY_COLUMN, pa.string()), *schema], metadata=schema.metadata)
        rows = pa.Table.from_arrays(
            [found.column(KEY_COLUMN), *(found.column(field.name) for field in schema)],
            schema=stored,
        )
        self.stores.keep(fingerprint, feature_set, rows, self.runtime.metrics)
        return rows.num_rows

    def stored_rows(self, plan: Plan, start: int, stop: int) -> list[pa.RecordBatch]:
        """Output rows ``[start, stop)`` of a plan, all of them stored (no compute): as
        zero-copy slices of the stored files where the rows were stored in this order."""
        assert plan.located is not None
        out = []
        at = start
        for piece in plan.located.pieces(np.arange(start, stop)):
            out.append(
                self._output(piece.drop_columns([KEY_COLUMN]), plan, at, at + piece.num_rows)
            )
            at += piece.num_rows
        self.runtime.metrics.store_hits.labels(plan.feature_set).inc(stop - start)
        return out

    def _output(self, table: pa.Table, plan: Plan, start: int, stop: int) -> pa.RecordBatch:
        """Feature rows as the feature set's batch, carrying the input's essay ids."""
        ids = plan.batch.column(ID_COLUMN).slice(start, stop - start)
        table = table.set_column(0, table.schema.field(ID_COLUMN), ids)
        schema = self.runtime.schema(plan.feature_set)
        columns = [
            column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
            for column in table.columns
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def answers(
        self,
        batch: InputBatch,
        *,
        slot: Callable[[], AbstractContextManager[object]] = nullcontext,
        check: Callable[[], None] = lambda: None,
        in_flight: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """An input batch's feature batches in input order: the batch planned, stored
        stretches sent at once, the rest one micro-batch at a time, up to ``in_flight`` of
        them computed at once (each under ``slot()``), so the parse workers and the encoder's
        queue hold the next ones while one is sent. The one step loop every transport
        (Flight, Ray) runs.

        Args:
            batch: The input rows and what is asked of them.
            slot: A compute slot held while one micro-batch is computed.
            check: Called between steps; raises to stop (a cancelled client, shutdown).
                Micro-batches already running finish (and are stored); none starts after.
            in_flight: Micro-batches computed at once; the runtime's when None.
        """
        plan = self.plan(
            batch.rows, batch.feature_set, batch.first_row, keys=batch.keys, checked=batch.checked
        )
        runtime = self.runtime
        depth = in_flight or runtime.micro_batches_in_flight
        steps = plan.steps(runtime.settings.limits.batch_rows, runtime.micro_batch_rows)

        def computed(start: int, stop: int) -> pa.RecordBatch:
            with slot():
                return self.compute(plan, start, stop)

        pending: deque[Future[pa.RecordBatch]] = deque()
        pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="micro-batch")
        try:
            for start, stop, stored in steps:
                check()
                if stored:
                    while pending:  # answers leave in input order
                        yield pending.popleft().result()
                    check()
                    yield from self.stored_rows(plan, start, stop)
                    continue
                if len(pending) >= depth:
                    yield pending.popleft().result()
                    check()
                # the worker thread logs with the stream's bound context (correlation id)
                pending.append(pool.submit(contextvars.copy_context().run, computed, start, stop))
            while pending:
                yield pending.popleft().result()
                if pending:
                    check()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def compute(self, plan: Plan, start: int, stop: int) -> pa.RecordBatch:
        """Output rows ``[start, stop)`` of a plan: stored ones (possibly stored by another
        request since the plan was made) served, the rest computed and stored. Rows whose
        parse passed the deadline end the request with an ``InputError`` naming them,
        after the micro-batch's other rows are stored."""
        batch = record_batch(plan.batch.slice(start, stop - start))
        first_row = plan.first_row + start
        if self.store is None or plan.keys is None or plan.fingerprint is None:
            out, refused = self._extract(batch, list(range(batch.num_rows)), plan.feature_set)
            if refused is not None:
                raise self._refusal(batch, first_row, refused, out.num_rows)
            return out
        keys = plan.keys.slice(start, stop - start).to_pylist()
        stored = self.store.lookup(plan.fingerprint, plan.feature_set, keys)
        have = set(stored.column(KEY_COLUMN).to_pylist()) if stored is not None else set()
        first_row_of: dict[str, int] = {}
        for row, key in enumerate(keys):
            first_row_of.setdefault(key, row)
        rows = [row for key, row in first_row_of.items() if key not in have]
        self.runtime.metrics.store_hits.labels(plan.feature_set).inc(len(first_row_of) - len(rows))
        computed = None
        refused = None
        if rows:
            out, refused = self._extract(batch, rows, plan.feature_set)
            if refused is not None:
                rows = [row for row in rows if row not in refused.rows]
            if rows:
                computed = pa.Table.from_batches([out]).add_column(
                    0, KEY_COLUMN, pa.array([keys[i] for i in rows], pa.string())
                )
                self.stores.keep(plan.fingerprint, plan.feature_set, computed, self.runtime.metrics)
        if refused is not None:
            raise self._refusal(batch, first_row, refused, len(rows))
        merged = merge_in_order(keys, stored, computed).drop_columns([KEY_COLUMN])
        return self._output(merged, plan, start, stop)


class _Refused(NamedTuple):
    """Rows of a micro-batch refused for passing the parse deadline."""

    rows: list[int]
    """Their positions in the micro-batch."""
    deadline: float
    """The deadline they passed, in seconds."""


def record_batch(rows: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    if isinstance(rows, pa.RecordBatch):
        return rows
    return rows.combine_chunks().to_batches()[0]


class Plan:
    """One input batch, checked, with its content keys and where the stored ones are.

    ``runs()`` cuts it into consecutive stretches of stored rows (served without
    computing) and of rows to compute, in input order.
    """

    def __init__(
        self,
        batch: pa.RecordBatch | pa.Table,
        feature_set: FeatureSet,
        first_row: int,
        fingerprint: str | None,
        keys: pa.Array | None,
        located: Located | None,
    ) -> None:
        self.batch = batch
        self.feature_set = feature_set
        self.first_row = first_row
        self.fingerprint = fingerprint
        self.keys = keys
        self.located = located

    def runs(self) -> Iterator[tuple[int, int, bool]]:
        """(start, stop, stored) stretches covering every row once, in order."""
        rows = self.batch.num_rows
        if self.located is None:
            if rows:
                yield 0, rows, False
            return
        present = self.located.present
        edges = np.flatnonzero(present[1:] != present[:-1]) + 1
        bounds = [0, *edges.tolist(), rows]
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            if stop > start:
                yield start, stop, bool(present[start])

    def steps(self, stored_rows: int, compute_rows: int) -> Iterator[tuple[int, int, bool]]:
        """(start, stop, stored) pieces in input order: stored stretches cut every
        ``stored_rows`` rows (served at once), the rest every ``compute_rows`` (one
        micro-batch each). Every engine (Flight, Ray) computes in these same pieces."""
        for start, stop, stored in self.runs():
            step = stored_rows if stored else compute_rows
            for offset in range(start, stop, step):
                yield offset, min(stop, offset + step), stored
