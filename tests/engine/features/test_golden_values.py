"""Golden values: every named feature of the sample essays, against a snapshot.

A value that moves fails this test until the feature's version is bumped in its
registration (``version=``, engine/features/registry.py; it changes the fingerprint, so rows
cached under the old definition stop matching) and the snapshot is regenerated in the same
change::

    python -m tests.engine.features.test_golden_values

Besides the sample essays, one run-on essay of the tests' own (``RUN_ON``: the sample
essays have no sentence over 40 words) keeps the run-on policy under the snapshot.

Values are compared within a relative 1e-4 (the last bits of a cosine may differ between
machines whose kernels sum in another order); a definition change moves them far more.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa

GOLDEN = Path(__file__).parents[2] / "golden" / "feature_values.json"
REL, ABS = 1e-4, 1e-5
RUN_ON = (
    "R001",
    "Phones in school",
    "I think phones are good for students because they can call there parents when "
    "something happen and they can search things for homework fast but some students play "
    "games in class and the teacher get angry so the school say that phones are bad but I "
    "think that the school is wrong because phones help us learn and we can use them for "
    "good things like reading books and watching videos that teach us math and science "
    "and my friend use his phone to learn english every day and now he speak very good so "
    "phones are not only for games they are for learning too",
)
"""A learner-style essay of 106 words without a sentence end: spaCy's two sentences (44
and 62 words), four for the run-on policy."""


def snapshot(runtime, essays: pa.Table) -> dict:
    from hemma_features.contract import specs_for
    from hemma_features.engine.features.catalogue import feature_versions

    essays = essays.select(["essay_id", "text", "prompt"])
    run_on = pa.table({"essay_id": [RUN_ON[0]], "text": [RUN_ON[2]], "prompt": [RUN_ON[1]]})
    essays = pa.concat_tables([essays, run_on.cast(essays.schema)])
    batch = essays.combine_chunks().to_batches()[0]
    out = runtime.extract(batch, "combined")
    specs = specs_for("combined", runtime.catalogue)
    values = {
        essay: {spec.name: out.column(spec.name)[i].as_py() for spec in specs}
        for i, essay in enumerate(out.column("essay_id").to_pylist())
    }
    return {"feature_versions": feature_versions(specs), "values": values}


def test_feature_values_match_the_golden_snapshot(runtime, sample_essays):
    golden = json.loads(GOLDEN.read_text())
    current = snapshot(runtime, sample_essays)
    assert set(current["values"]) == set(golden["values"]), "sample essays changed: regenerate"
    moved = sorted(
        {
            name
            for essay, row in current["values"].items()
            for name, value in row.items()
            if name not in golden["values"][essay]
            or not math.isclose(value, golden["values"][essay][name], rel_tol=REL, abs_tol=ABS)
        }
    )
    unbumped = [
        name
        for name in moved
        if current["feature_versions"][name] == golden["feature_versions"].get(name)
    ]
    assert not unbumped, (
        f"values of {unbumped} changed but their versions did not: bump them in "
        "their registrations (version=) and regenerate "
        "(python -m tests.engine.features.test_golden_values)"
    )
    assert not moved and current["feature_versions"] == golden["feature_versions"], (
        "feature versions moved: regenerate the snapshot in the same change"
    )


def test_a_changed_value_without_a_version_bump_is_caught(runtime, sample_essays):
    """The check itself can fail: a value nudged in the snapshot is reported by name."""
    golden = json.loads(GOLDEN.read_text())
    current = snapshot(runtime, sample_essays)
    essay = next(iter(golden["values"]))
    golden["values"][essay]["n_words"] += 1.0
    moved = [
        name
        for name, value in current["values"][essay].items()
        if not math.isclose(value, golden["values"][essay][name], rel_tol=REL, abs_tol=ABS)
    ]
    assert moved == ["n_words"]


if __name__ == "__main__":
    import pyarrow.csv as pacsv

    import tests.conftest as conftest
    from hemma_features.engine.runtime import Runtime

    loaded = Runtime.load(conftest.settings_for_tests())
    samples = pacsv.read_csv(
        conftest.SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True)
    )
    GOLDEN.write_text(json.dumps(snapshot(loaded, samples), indent=1, sort_keys=True) + "\n")
    loaded.close()
