"""Golden snapshot: names, order and types of every feature set's columns.

Regenerate with ``python -m tests.test_golden_schema`` only together with a new
``SCHEMA_VERSION``; the test fails when one moves without the other.
"""

from __future__ import annotations

import json
import re
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


def test_every_definition_is_complete_sentences():
    """Each definition starts with a capital (or a quote), ends with a full stop, and its
    undefined case and parse note are sentences of their own, not run into the one before
    ("...0 when undefined Parsed text:")."""
    from hemma_features.engine.features.registry import PARSED_TEXT

    problems = []
    for spec in catalogue(languagetool=True):
        text = spec.definition
        if text[:1].islower() or not text.endswith("."):
            problems.append(f"{spec.name}: not whole sentences: {text[:40]!r}...{text[-40:]!r}")
        if "0 when undefined" in text or re.search(r"[a-z0-9)] [A-Z][a-z]+ text:", text):
            problems.append(f"{spec.name}: two sentences run together")
        tails = [PARSED_TEXT.strip()] + ([spec.undefined.sentence()] if spec.undefined else [])
        for tail in tails:
            if tail in text and not text[: text.index(tail)].endswith(". "):
                problems.append(f"{spec.name}: {tail[:20]!r} does not follow a full stop")
        if spec.undefined is not None and spec.undefined.sentence() not in text:
            problems.append(f"{spec.name}: its undefined case is not in its definition")
    assert not problems, "\n".join(problems)


def test_every_undefined_case_is_told_by_a_column_of_its_own_feature_set():
    """A feature's undefined case names a column that every feature set holding the feature
    holds too, so the report can count the case from the same rows."""
    from hemma_features.contract import specs_for

    for feature_set in FEATURE_SETS:
        specs = specs_for(feature_set, catalogue(languagetool=True))
        names = {spec.name for spec in specs}
        for spec in specs:
            column = spec.undefined.column if spec.undefined else None
            assert column is None or column in names, (feature_set, spec.name, column)


def test_every_unit_has_a_range_or_a_reason_it_has_none():
    """Every catalogue unit is bounded in the report's RANGES (which the realism test
    checks on the ELLIPSE essays) or listed as unbounded with its reason."""
    from hemma_features.client.feature_report.stats import RANGES, UNBOUNDED

    units = {spec.unit for spec in catalogue(languagetool=True)}
    assert units <= set(RANGES) | set(UNBOUNDED), units - set(RANGES) - set(UNBOUNDED)
    assert not set(RANGES) & set(UNBOUNDED)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(snapshot(), indent=1) + "\n")
