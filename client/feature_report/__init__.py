"""A self-contained HTML report of one cached feature set: what a researcher (and a
paper's appendix) checks before training. Client side: pyarrow + numpy, no plotting
library, nothing fetched when the file opens.

``report(cache, out, labels=..., feature_set=..., fingerprint=...)`` writes it; the CLI is
``hemma-features report``.
"""

from __future__ import annotations

from hemma_features.client.feature_report.build import report

__all__ = ["report"]
