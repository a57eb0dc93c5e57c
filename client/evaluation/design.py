"""From feature rows joined to scores to the matrices an evaluation fits: the named
feature columns with their catalogue families, the embedding, the targets and the groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from hemma_features.client.errors import EvaluationError
from hemma_features.contract import (
    EMBEDDING_COLUMN,
    EMBEDDING_DERIVED,
    ID_COLUMN,
    KEY_COLUMN,
    decode_catalogue,
)
from hemma_features.terminal import shown

EMBEDDING_FAMILY = "embedding"
"""The family of the embedding vector (one unit in the ablation and the importance)."""
OTHER_FAMILY = "not in the catalogue"
NO_GROUP = "(none)"
"""The group of rows whose group column is empty."""


class Design(NamedTuple):
    """The matrices of one evaluation, one row per essay."""

    ids: list[str]
    names: list[str]
    """The named feature columns, in the cache's order."""
    families: list[str]
    """The catalogue family of each named column."""
    named: np.ndarray
    """[N, H] float64, missing values filled with the column's median."""
    embedding: np.ndarray | None
    """[N, D] float64, or None (a handcrafted set)."""
    targets: list[str]
    scores: np.ndarray
    """[N, targets] float64, NaN where an essay has no score."""
    groups: list[str] | None
    """The group of each row (``--group-by``), or None."""
    notes: list[str]

    def hand(self) -> list[int]:
        """Indices of the named columns not computed from the embedding's forward pass."""
        return [i for i, f in enumerate(self.families) if f != EMBEDDING_DERIVED]


def design(
    table: pa.Table,
    features: Sequence[str],
    targets: Sequence[str],
    *,
    group_by: str | None = None,
) -> Design:
    """The matrices of ``table`` (feature rows with their scores appended).

    Args:
        table: Joined rows: ``essay_id``, the feature columns, the label columns.
        features: The feature table's own column names (the rest are labels).
        targets: The score columns to predict (numbers).
        group_by: The column rows are grouped by (a label column, or one the caller
            appended from the ``--ids-from`` file).

    Raises:
        EvaluationError: a target that is not a number column, no row with a score.
    """
    notes: list[str] = []
    specs = {s.name: s.group for s in decode_catalogue(table.schema)}
    names = [
        f.name for f in table.schema
        if f.name in features and f.name not in (KEY_COLUMN, ID_COLUMN, EMBEDDING_COLUMN)
        and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]  # fmt: skip
    for target in targets:
        if target not in table.column_names:
            labels = [c for c in table.column_names if c not in features]
            raise EvaluationError(f"no score column {target!r}; the labels have {labels}")
        kind = table.schema.field(target).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise EvaluationError(f"target {target!r} is not a number column ({kind})")
    scores = np.column_stack([_floats(table.column(t)) for t in targets])
    keep = np.isfinite(scores).any(axis=1)
    if not keep.any():
        raise EvaluationError(f"no essay has a score for {', '.join(targets)}")
    if not keep.all():
        notes.append(f"{int((~keep).sum())} labelled essays have none of the scores: left out")
    rows = pa.array(np.flatnonzero(keep))
    table = table.take(rows)
    named = np.column_stack([_floats(table.column(n)) for n in names]) if names else None
    if named is None:
        named = np.zeros((table.num_rows, 0))
    gaps = ~np.isfinite(named)
    if gaps.any():
        filled = [names[j] for j in np.flatnonzero(gaps.any(axis=0))]
        medians = np.nanmedian(np.where(gaps, np.nan, named), axis=0)
        named = np.where(gaps, np.nan_to_num(medians)[None, :], named)
        notes.append(
            f"missing values in {len(filled)} feature column(s) ({', '.join(filled[:5])}"
            f"{', ...' if len(filled) > 5 else ''}) filled with the column's median"
        )
    embedding = None
    if EMBEDDING_COLUMN in table.column_names:
        column = table.column(EMBEDDING_COLUMN).combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        embedding = flat.reshape(len(column), column.type.list_size)
    return Design(
        ids=[str(i) for i in table.column(ID_COLUMN).to_pylist()],
        names=names,
        families=[specs.get(n, OTHER_FAMILY) for n in names],
        named=named,
        embedding=embedding,
        targets=list(targets),
        scores=scores[keep],
        groups=_groups(table, group_by, features) if group_by else None,
        notes=notes,
    )


def default_targets(table: pa.Table, features: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Every number column among the labels (not a feature, not ``exclude``)."""
    return [
        f.name for f in table.schema
        if f.name not in features and f.name not in exclude
        and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]  # fmt: skip


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy().astype(np.float64)  # nulls become NaN


def _groups(table: pa.Table, name: str, features: Sequence[str]) -> list[str]:
    if name in table.column_names:
        values = table.column(name)
    else:
        raise EvaluationError(
            f"--group-by {shown(name)}: neither the labels nor --ids-from have that column "
            f"(the labels have {[c for c in table.column_names if c not in features]})"
        )
    return [NO_GROUP if v is None or str(v).strip() == "" else str(v) for v in values.to_pylist()]
