"""How well cached features predict a researcher's own scores: cross-validation with fixed
seeds (folds stratified by score, or grouped by a column such as the prompt), ridge with
an exact leave-one-out penalty, LightGBM (the ``evaluate`` extra), RMSE and QWK against
two baselines, then a family ablation and drop-column importance with its stability across
folds. Client side: numpy, pyarrow and msgspec (LightGBM only when installed).

``evaluate(cache, labels, ...)`` runs it; the CLI is ``hemma-features evaluate``; the
ELLIPSE benchmark (``benchmarks/usefulness.py``) fits with the same functions (``fit``,
``scoring``, ``folds``).
"""

from __future__ import annotations

from hemma_features.client.evaluation.api import evaluate
from hemma_features.client.evaluation.markdown import markdown
from hemma_features.client.evaluation.results import Evaluation

__all__ = ["Evaluation", "evaluate", "markdown"]
