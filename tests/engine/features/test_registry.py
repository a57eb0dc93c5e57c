"""The registry is the one place a feature lives: the catalogue, the versions and the golden
tests derive from it, every registered feature has a golden value and a hand-worked test,
and adding one is one function and one registration."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from hemma_features.contract import Undefined
from hemma_features.engine.features import catalogue as catalogue_module
from hemma_features.engine.features.catalogue import (
    COLUMN_ORDER,
    catalogue,
    checked_registry,
    feature_versions,
)
from hemma_features.engine.features.document import Document
from hemma_features.engine.features.registry import REGISTRY, Registry, RegistryError

TESTS = Path(__file__).parents[2]
GOLDEN = TESTS / "golden"
CATALOGUE = GOLDEN / "feature_catalogue.json"

GOLDEN_EXEMPT_STAGES = ("languagetool",)
"""The golden values (feature_values.json) are taken without a LanguageTool server, whose
values depend on its build and rules; LanguageTool's features are pinned by their
hand-worked tests on recorded matches (test_languagetool.py) instead."""

KNOWN_MISSING: tuple[str, ...] = ()
"""Registered features without a hand-worked test yet (shrinks to nothing; a name that has
one, or is no longer registered, fails the test below)."""


def snapshot() -> dict:
    """Every wire entry in column order (LanguageTool included) and its version."""
    specs = catalogue(languagetool=True)
    return {
        "catalogue": json.loads(msgspec.json.encode(list(specs))),
        "feature_versions": feature_versions(specs),
    }


def test_the_derived_catalogue_equals_the_golden_snapshot():
    """Names, order, definitions, units, undefined cases, sources and versions: regenerate
    (python -m tests.engine.features.test_registry) only with a new SCHEMA_VERSION or a
    version bump."""
    assert snapshot() == json.loads(CATALOGUE.read_text())


def test_the_catalogue_without_languagetool_is_its_prefix():
    with_lt = catalogue(languagetool=True)
    without = catalogue(languagetool=False)
    assert with_lt[: len(without)] == without
    assert {spec.source for spec in with_lt[len(without) :]} == {"languagetool"}
    assert [spec.name for spec in without] == list(COLUMN_ORDER)


def test_every_registered_feature_has_a_golden_value_and_every_golden_value_a_feature():
    golden = json.loads((GOLDEN / "feature_values.json").read_text())
    golden_names = set(golden["feature_versions"])
    for row in golden["values"].values():
        assert set(row) == golden_names
    registered = {f.name for f in REGISTRY.features if f.stage not in GOLDEN_EXEMPT_STAGES}
    assert sorted(registered - golden_names) == [], "registered without a golden value"
    assert sorted(golden_names - registered) == [], "golden values of no registered feature"


def hand_worked_names() -> dict[str, list[str]]:
    """Feature name -> the tests whose ``@hand_worked(...)`` names it, read from every test
    module's AST."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "hand_worked"
                ):
                    for arg in decorator.args:
                        assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                            f"{path.name}::{node.name}: hand_worked takes literal names"
                        )
                        found.setdefault(arg.value, []).append(f"{path.name}::{node.name}")
    return found


def test_every_registered_feature_has_a_hand_worked_test():
    """A feature is checked on a small text whose value is worked out by hand; the tests
    say which with ``@hand_worked(...)`` (tests/engine/features/hand_worked.py)."""
    marked = hand_worked_names()
    registered = {f.name for f in REGISTRY.features}
    assert sorted(set(marked) - registered) == [], "hand_worked names an unregistered feature"
    missing = sorted(registered - set(marked) - set(KNOWN_MISSING))
    assert missing == [], f"registered features without a hand-worked test: {missing}"
    stale = sorted(set(KNOWN_MISSING) & (set(marked) | (set(KNOWN_MISSING) - registered)))
    assert stale == [], f"KNOWN_MISSING is stale (remove these): {stale}"


def test_every_family_returns_exactly_its_registered_names():
    checked_registry()  # the startup check, on an empty document
    empty = REGISTRY.compute("parse", Document.empty())
    parsed = {f.name for f in REGISTRY.features if f.stage == "parse"}
    assert set(empty) == parsed
    assert all(value == 0.0 for value in empty.values())
    lt = REGISTRY.compute("languagetool", [], 0)
    assert set(lt) == {f.name for f in REGISTRY.features if f.stage == "languagetool"}


def test_adding_a_feature_is_one_function_and_one_registration():
    """A toy feature in a fresh registry reaches the catalogue, its definition sentences and
    the versions; the values come from its function."""
    registry = Registry()

    @registry.feature(
        "n_tokens",
        tier=1,
        group="surface",
        definition="number of spaCy tokens",
        unit="tokens",
        source="spacy",
        undefined=Undefined(case="for an empty text", column="n_tokens"),
        version=2,
    )
    def n_tokens(doc: Document) -> float:
        return float(len(doc.view.text))

    [spec] = registry.catalogue()
    assert spec.name == "n_tokens" and spec.unit == "tokens" and spec.tier == 1
    assert spec.definition.startswith("Number of spaCy tokens. Undefined, and 0, for an empty")
    assert registry.versions() == {"n_tokens": 2}
    registry.check({"parse": [(Document.empty(),)]})
    assert registry.compute("parse", Document.empty()) == {"n_tokens": 0.0}


def test_a_family_that_returns_other_names_fails_at_the_startup_check():
    registry = Registry()

    @registry.family("pair")
    def pair(doc: Document) -> dict[str, float]:
        return {"first": 0.0, "third": 0.0}

    meta = {"tier": 1, "group": "surface", "definition": "x", "unit": "words", "source": "spacy"}
    registry.value("first", family="pair", **meta)
    registry.value("second", family="pair", **meta)
    with pytest.raises(RegistryError, match=r"returns \['third'\] unregistered and misses"):
        registry.check({"parse": [(Document.empty(),)]})


def test_conflicting_registrations_fail_at_import():
    registry = Registry()
    meta = {"tier": 1, "group": "surface", "definition": "x", "unit": "words", "source": "spacy"}
    registry.feature("a", **meta)(lambda doc: 0.0)
    with pytest.raises(RegistryError, match="registered twice"):
        registry.feature("a", **meta)(lambda doc: 0.0)
    registry.value("b", family="missing", **meta)
    with pytest.raises(RegistryError, match="unregistered family 'missing'"):
        registry.check()
    with pytest.raises(RegistryError, match="unregistered features"):
        registry.catalogue(["nope"])


def test_unit_ranges_equal_the_feature_reports_and_hold_on_the_golden_values():
    """The registry's unit ranges are the report's; every golden value lies in its
    feature's range."""
    import math

    from hemma_features.client.feature_report.stats import RANGES
    from hemma_features.engine.features.registry import UNIT_RANGES

    assert {
        unit: (low, math.inf if high is None else high) for unit, (low, high) in UNIT_RANGES.items()
    } == RANGES
    golden = json.loads((GOLDEN / "feature_values.json").read_text())
    for row in golden["values"].values():
        for name, value in row.items():
            low, high = REGISTRY[name].value_range
            assert (low is None or value >= low) and (high is None or value <= high), name


if __name__ == "__main__":
    CATALOGUE.write_text(json.dumps(snapshot(), indent=1) + "\n")
    print(f"wrote {CATALOGUE}")


def test_every_registering_module_is_imported_by_the_catalogue():
    """A module that registers features is in catalogue.DEFINITION_MODULES, so the registry
    is complete whichever module a process imports first (a fresh interpreter that imports
    only the LanguageTool counts still sees every registered feature)."""
    folder = Path(catalogue_module.__file__).parent
    registering = {
        path.stem
        for path in folder.glob("*.py")
        if path.stem not in ("registry", "catalogue")
        and re.search(r"REGISTRY\.(feature|family|value)\b", path.read_text())
    }
    listed = {module.__name__.rsplit(".", 1)[-1] for module in catalogue_module.DEFINITION_MODULES}
    assert registering and registering == listed
    code = (
        "from hemma_features.engine.features import languagetool_counts\n"
        "from hemma_features.engine.features.catalogue import catalogue\n"
        "print(len(catalogue(languagetool=True)))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(fresh.stdout) == len(catalogue_module.catalogue(languagetool=True))
