"""What a report shows, as plain records: built by ``build``, drawn by ``html``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hemma_features.client.evaluation.results import Evaluation
from hemma_features.client.feature_report import stats
from hemma_features.client.feature_report.score_labels import LabelJoin
from hemma_features.client.fingerprint_record import InputRecord
from hemma_features.client.scope import ScopeMatch
from hemma_features.contract import FeatureSpec, FingerprintInfo


class Provenance(NamedTuple):
    """What produced the rows: the report's header."""

    cache: str
    fingerprint: str
    feature_set: str
    schema_version: str
    embedding_model: str
    components: dict[str, str]
    """Combined rows: the fingerprints of the embeddings and handcrafted rows they joined."""
    record: FingerprintInfo | None
    """The server's fingerprint answer recorded at extract time (None: not recorded)."""
    rows: int
    files: int
    bytes: int
    written_first: str
    written_last: str
    generated: str
    tool_version: str
    scope: ScopeMatch | None = None
    """The input the report is limited to (``--ids-from``), and how its essays matched."""
    partition_rows: int = 0
    """Rows of the whole partition (``rows`` counts those of ``scope``)."""
    inputs: tuple[InputRecord, ...] = ()
    """The inputs extract recorded for this fingerprint (``_inputs.json``)."""


class Feature(NamedTuple):
    """One feature column of the report."""

    name: str
    spec: FeatureSpec | None
    version: int | None
    summary: stats.Summary
    correlations: dict[str, stats.Correlation]


class Embedding(NamedTuple):
    """The embedding column: norms and a 2-D projection."""

    dim: int
    norms: stats.Summary
    projection: stats.Projection
    colour: np.ndarray | None
    colour_label: str


class LabelSummary(NamedTuple):
    """The labels joined, and their own distributions."""

    source: str
    join: LabelJoin
    summaries: dict[str, stats.Summary]


class ReportData(NamedTuple):
    """Everything the HTML shows."""

    provenance: Provenance
    features: list[Feature]
    labels: LabelSummary | None
    embedding: Embedding | None
    redundant: list[tuple[str, str, float]]
    command: str
    evaluation: Evaluation | None = None
    """Cross-validated predictions of the labels (``hemma-features evaluate --html``)."""
