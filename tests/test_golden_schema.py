"""Golden snapshot: names, order and types of every feature set's columns.

Regenerate with ``python -m tests.test_golden_schema`` only together with a new
``SCHEMA_VERSION``; the test fails when one moves without the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from hemma_features.contract import FEATURE_SETS, output_schema
from hemma_features.engine.features.catalogue import SCHEMA_VERSION, catalogue

GOLDEN = Path(__file__).parent / "golden" / "feature_schema.json"
EMBEDDING_DIM = 384


def snapshot() -> dict:
    sets = {}
    for languagetool in (False, True):
        for feature_set in FEATURE_SETS:
            schema = output_schema(
                feature_set=feature_set,
                embedding_dim=EMBEDDING_DIM,
                catalogue=catalogue(languagetool=languagetool),
                fingerprint="-",
                schema_version=SCHEMA_VERSION,
                embedding_model="-",
            )
            key = f"{feature_set}{'+languagetool' if languagetool else ''}"
            sets[key] = [f"{field.name}: {field.type}" for field in schema]
    return {"schema_version": SCHEMA_VERSION, "feature_sets": sets}


def test_schema_matches_the_golden_snapshot():
    """A change to a column name, order or type must come with a new schema_version."""
    golden = json.loads(GOLDEN.read_text())
    current = snapshot()
    if current["feature_sets"] != golden["feature_sets"]:
        assert current["schema_version"] != golden["schema_version"], (
            "the feature columns changed but SCHEMA_VERSION did not: bump it and regenerate "
            "the snapshot (python -m tests.test_golden_schema)"
        )
    assert current == golden, "regenerate the snapshot together with the new SCHEMA_VERSION"


def test_catalogue_names_are_unique_and_at_least_45():
    """No two features share a column name; at least 45 without LanguageTool."""
    for languagetool in (False, True):
        names = [spec.name for spec in catalogue(languagetool=languagetool)]
        assert len(names) == len(set(names))
    assert len(catalogue(languagetool=False)) >= 45


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(snapshot(), indent=1) + "\n")
