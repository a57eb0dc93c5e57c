"""Store-backed features: the one step every Flight verb shares, an input batch -> its
feature batch.

Validates the rows, serves what the feature store already holds, computes the rest with
the runtime, stores it, and returns the rows in input order. Knows nothing of gRPC.
"""

from __future__ import annotations

import pyarrow as pa
import structlog

from hemma_features.contract import (
    ID_COLUMN,
    KEY_COLUMN,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    FeatureSet,
    check_input_batch,
    content_keys,
)
from hemma_features.flight.datasets import DatasetStore
from hemma_features.flight.store import FeatureStore, merge_in_order
from hemma_features.service.errors import InputError, ParseDeadlineError
from hemma_features.service.runtime import Runtime

log = structlog.get_logger(__name__)


class StoreBackedFeatures:
    """The runtime plus, when ``store_dir`` is set, the feature store and datasets."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.store = (
            FeatureStore(settings.store_dir, settings.store_max_bytes)
            if settings.store_dir
            else None
        )
        self.datasets = DatasetStore(settings.store_dir) if settings.store_dir else None

    def _keep(self, fingerprint: str, feature_set: FeatureSet, computed: pa.Table) -> None:
        """Store computed rows; a store that cannot take them never fails the request."""
        assert self.store is not None
        runtime = self.runtime
        try:
            self.store.add(fingerprint, feature_set, computed)
        except OSError as exc:
            reason = (
                f"the feature store at {self.store.root} cannot keep new rows "
                f"({exc.strerror or exc}); features are computed and served but not stored"
            )
            runtime.metrics.store_write_errors.inc()
            if runtime.store_problem != reason:
                log.error("store.write_failed", store=str(self.store.root), error=str(exc))
            runtime.store_problem = reason
        else:
            runtime.store_problem = None

    def _extract(
        self, batch: pa.RecordBatch, rows: list[int], feature_set: FeatureSet, first_row: int
    ) -> pa.RecordBatch:
        """Compute ``rows`` of ``batch``; a parse past its deadline names the essay."""
        todo = batch if len(rows) == batch.num_rows else batch.take(pa.array(rows, pa.int64()))
        try:
            return self.runtime.extract(todo, feature_set)
        except ParseDeadlineError as exc:
            row = rows[exc.index]
            essay_id = batch.column(ID_COLUMN)[row].as_py()
            raise InputError(f"row {first_row + row} (essay_id={essay_id!r}): {exc}") from exc

    def features(
        self, batch: pa.RecordBatch, feature_set: FeatureSet, first_row: int
    ) -> pa.RecordBatch:
        """Validated, store-backed features for one input batch (same rows, same order)."""
        runtime = self.runtime
        check_input_batch(
            batch, max_text_chars=runtime.settings.max_text_chars, first_row=first_row
        )
        if self.store is None:
            return self._extract(batch, list(range(batch.num_rows)), feature_set, first_row)
        fingerprint = runtime.fingerprint_for(feature_set)
        keys = content_keys(
            batch.column(TEXT_COLUMN).to_pylist(), batch.column(PROMPT_COLUMN).to_pylist()
        )
        stored = self.store.lookup(fingerprint, feature_set, keys)
        have = set(stored.column(KEY_COLUMN).to_pylist()) if stored is not None else set()
        first_row_of: dict[str, int] = {}
        for row, key in enumerate(keys):
            first_row_of.setdefault(key, row)
        rows = [row for key, row in first_row_of.items() if key not in have]
        computed = None
        if rows:
            out = self._extract(batch, rows, feature_set, first_row)
            computed = pa.Table.from_batches([out]).add_column(
                0, KEY_COLUMN, pa.array([keys[i] for i in rows], pa.string())
            )
            self._keep(fingerprint, feature_set, computed)
        runtime.metrics.store_hits.labels(feature_set).inc(len(first_row_of) - len(rows))
        merged = merge_in_order(keys, stored, computed).drop_columns([KEY_COLUMN])
        merged = merged.set_column(0, merged.schema.field(ID_COLUMN), batch.column(ID_COLUMN))
        schema = runtime.schema(feature_set)
        return pa.RecordBatch.from_arrays(
            [merged.column(i).combine_chunks() for i in range(merged.num_columns)], schema=schema
        )
