"""Reads of one study in a shared cache (issue 34): labels join on the id column the
researcher named, and `--ids-from` limits a read, a report, an export and an evaluation to
one input's essays, matched by text and prompt, under that input's ids."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from benchmarks.report_scale import synthetic_cache
from hemma_features import open_features
from hemma_features.cli import main
from hemma_features.client.cache import FeatureCache
from hemma_features.client.errors import LabelsError, ScopeError
from hemma_features.client.fingerprint_record import (
    InputRecord,
    read_inputs,
    record_input,
    write_records,
)
from hemma_features.client.labels import join_labels
from hemma_features.client.scope import MissingEssaysWarning
from hemma_features.contract import content_key
from tests.conftest import REPO

A = 30
"""Essays of study A (ids a00...), six prompts; the file names its ids essay_id_comp."""
B = 20
"""Essays of study B (ids b00...), extracted first: b05 has the text of a05, and b19 is
named a01 (another text under A's id)."""


def essays(prefix: str, count: int) -> dict[str, list[str]]:
    texts = [f"Essay {prefix}{i:02d} argues point {i} at some length." for i in range(count)]
    prompts = [f"prompt {i % 6}" for i in range(count)]
    return {"ids": [f"{prefix}{i:02d}" for i in range(count)], "texts": texts, "prompts": prompts}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One combined cache holding study B's rows, then study A's (a05's text already there
    under b05's id), with A's extract recorded (`--id-column essay_id_comp`)."""
    tmp = tmp_path_factory.mktemp("scope")
    info = synthetic_cache(tmp / "synthetic", A + B, dim=8)
    rows = open_features(tmp / "synthetic", "combined")
    a, b = essays("a", A), essays("b", B)
    b["texts"][5], b["prompts"][5] = a["texts"][5], a["prompts"][5]
    b["ids"][19] = "a01"
    root = tmp / "cache"
    cache = FeatureCache(root)
    start = 0
    for study in (b, a):
        keys = [content_key(t, p) for t, p in zip(study["texts"], study["prompts"], strict=True)]
        part = rows.slice(start, len(keys))
        part = part.set_column(0, part.schema.field("key"), pa.array(keys))
        part = part.set_column(1, part.schema.field("essay_id"), pa.array(study["ids"]))
        cache.write(info.fingerprint, "combined", part)  # a05's key is there: kept as b05
        start += len(keys)
    write_records(root, info)
    path = tmp / "study_a.csv"
    pacsv.write_csv(
        pa.table({"essay_id_comp": a["ids"], "text": a["texts"], "prompt": a["prompts"]}), path
    )
    record_input(root, [info.fingerprint], InputRecord(
        source=str(path.resolve()), id_column="essay_id_comp", text_column="text",
        prompt_column="prompt", feature_set="combined", rows=A,
    ))  # fmt: skip
    words = open_features(root, "combined").column("n_words").to_numpy()
    scores = tmp / "scores.csv"
    overall = np.clip(np.round((1 + np.arange(A) / 8) * 2) / 2, 1, 5)
    pacsv.write_csv(pa.table({"essay_id_comp": a["ids"], "overall": overall}), scores)
    return root, path, scores, info, words


def test_an_input_file_reads_back_its_own_essays_under_its_own_ids(shared):
    """49 cached rows; the essays file of study A gives its 30, in its order, with its ids:
    a05 too, whose cached row came from B under b05."""
    root, path, _, _, _ = shared
    assert open_features(root, "combined").num_rows == A + B - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = open_features(root, "combined", ids=path)
    assert table.column("essay_id").to_pylist() == [f"a{i:02d}" for i in range(A)]
    assert table.column("key").to_pylist()[5] == content_key(
        "Essay a05 argues point 5 at some length.", "prompt 5"
    )


def test_labels_join_on_the_id_column_extract_was_given(shared):
    """The labels name their ids essay_id_comp, as the recorded extract did: no --on
    needed; a table of labels maps on= to the rows' essay_id."""
    root, path, scores, _, _ = shared
    joined = open_features(root, "combined", labels=scores, ids=path)
    assert joined.num_rows == A and joined.column("overall").to_pylist()[-1] == 4.5
    assert read_inputs(root, open_features(root, "combined").schema.metadata[
        b"hemma.fingerprint"].decode())[0].id_column == "essay_id_comp"  # fmt: skip
    rows = open_features(root, "combined", ids=path)
    labels = pacsv.read_csv(scores)
    joined, match = join_labels(rows, labels, on="essay_id_comp")
    assert match.summary() == f"{A} rows matched on essay_id_comp (the features' essay_id)"
    with pytest.raises(
        LabelsError,
        match=r"no 'essay_id' column to join on; they have "
        r"\['essay_id_comp', 'overall'\]: name their id column with --on",
    ):
        join_labels(rows, labels)  # no record to go by  # fmt: skip


def test_a_list_of_ids_reads_their_rows_and_names_what_the_cache_lacks(shared):
    """Ids alone match the cached essay_id; two the cache lacks are named in a warning;
    none at all, or one id the cache holds twice, is one line."""
    root, _, _, _, _ = shared
    with pytest.warns(MissingEssaysWarning, match=r"2 of its essays are not in the cache "
                      r"\(zz1, zz2\)"):  # fmt: skip
        table = open_features(root, "combined", ids=["b03", "zz1", "a07", "zz2"])
    assert table.column("essay_id").to_pylist() == ["b03", "a07"]
    with pytest.raises(ScopeError, match=r"none of the 1 essays of a list of 1 ids is in"):
        open_features(root, "combined", ids=["nope"])
    with pytest.raises(ScopeError, match=r"holds 1 id\(s\) of a list of 1 ids more than once "
                       r"\(e.g. 'a01'\).*with its text column"):  # fmt: skip
        open_features(root, "combined", ids=["a01"])


def test_a_file_of_ids_without_the_recorded_column_asks_for_id_column(shared, tmp_path):
    """A file naming its ids otherwise: --id-column; without it one line naming its columns."""
    root, _, _, _, _ = shared
    ids = tmp_path / "test_split.csv"
    ids.write_text("code\nb01\nb02\n")
    with pytest.raises(ScopeError, match=r"has no 'essay_id' column; it has \['code'\]: name "
                       r"its id column with --id-column"):  # fmt: skip
        open_features(root, "combined", ids=ids)
    assert open_features(root, "combined", ids=ids, id_column="code").num_rows == 2


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cache_export_limited_to_one_input_says_what_matched(shared, tmp_path, capsys):
    """`cache export --ids-from A --labels scores`: 30 rows, two lines saying how."""
    root, path, scores, _, _ = shared
    out = tmp_path / "a.parquet"
    code, text, err = cli(capsys, "cache", "export", root, "--feature-set", "combined",
                          "--ids-from", path, "--labels", scores, "--out", out)  # fmt: skip
    assert code == 0, err
    assert f"essays: {A} essays of {path} (matched by text and prompt)" in text
    assert f"labels: {A} rows matched on essay_id_comp (the features' essay_id)" in text
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == A


def test_the_report_of_one_input_says_how_many_essays_and_from_where(shared, tmp_path, capsys):
    """The header: 30 essays, of study A's file, of the 49 the partition holds, and the
    inputs extract recorded; the labels match every one of them."""
    root, path, scores, _, _ = shared
    out = tmp_path / "r.html"
    code, _, err = cli(capsys, "report", root, "--labels", scores, "--ids-from", path,
                       "--out", out)  # fmt: skip
    assert code == 0, err
    text = out.read_text()
    assert f"<h1>Feature report: combined, {A} essays</h1>" in text
    header = text[text.index('id="provenance"') : text.index('id="overview"')]
    assert f"<td>essays</td><td>{A}</td>" in header
    assert f"{A} essays of {path} (matched by text and prompt); the partition holds 49" in header
    assert "inputs extracted into it" in header and "ids from essay_id_comp" in header
    assert f"<b>{A}</b> of {A} cached essays have a labels row" in text
    whole = tmp_path / "whole.html"
    assert cli(capsys, "report", root, "--out", whole)[0] == 0
    assert "every cached row of this fingerprint and feature set" in whole.read_text()


def test_evaluate_groups_by_the_prompt_of_the_input_file(shared, tmp_path, capsys):
    """The scores file has no prompt; --ids-from's file does: folds grouped by it. Markdown
    on stdout, every figure in --json, and an HTML report with the evaluation section."""
    root, path, scores, _, _ = shared
    out, html = tmp_path / "e.json", tmp_path / "e.html"
    code, text, err = cli(capsys, "evaluate", root, "--labels", scores, "--ids-from", path,
                          "--group-by", "prompt", "--no-lightgbm", "--folds", "3",
                          "--json", out, "--html", html)  # fmt: skip
    assert code == 0, err
    assert text.startswith("## Evaluation: combined ")
    assert f"{A} essays" in text.splitlines()[0]
    assert "grouped by prompt (6 groups)" in text and "| ridge: all features |" in text
    assert "### Drop-column importance" in text and "ridge: all features: mean RMSE" in err
    figures = json.loads(out.read_text())
    assert figures["essays"] == A and figures["targets"][0]["name"] == "overall"
    page = html.read_text()
    section = page[page.index('id="evaluation"') : page.index('id="embedding"')]
    assert len(re.findall(r'<svg class="bars rmse"', section)) == 1
    assert '<svg class="bars importance"' in section and '<svg class="bars families"' in section
    assert '<a href="#evaluation">Evaluation</a>' in page


def test_evaluate_without_an_id_column_it_can_find_is_one_line(shared, tmp_path, capsys):
    """Labels whose ids are in a column nobody named: exit 2, one line naming --on."""
    root, _, _, _, _ = shared
    labels = tmp_path / "l.csv"
    labels.write_text("code,overall\na00,3\n")
    code, text, err = cli(capsys, "evaluate", root, "--labels", labels)
    assert code == 2 and text == ""
    assert len(err.strip().splitlines()) == 1 and "--on" in err and "essay_id_comp" in err


def test_the_readme_evaluate_snippet_runs_on_a_shared_cache(shared, tmp_path, monkeypatch):
    """The README's evaluate snippet works as written in a directory holding hemma-cache,
    scores.csv and essays.csv (ids in essay_id_comp; ridge only, for time)."""
    import re
    import shutil

    root, path, scores, _, _ = shared
    readme = (REPO / "README.md").read_text()
    [snippet] = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
        if "from hemma_features import evaluate" in b
    ]  # fmt: skip
    shutil.copytree(root, tmp_path / "hemma-cache")
    shutil.copy(path, tmp_path / "essays.csv")
    shutil.copy(scores, tmp_path / "scores.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "hemma_features.client.evaluation.api.lightgbm_missing", lambda: "not installed"
    )
    scope: dict = {}
    exec(compile(snippet, "README-evaluate", "exec"), scope)
    assert scope["result"].essays == A
    assert set(scope["carriers"]) <= {unit.name for unit in scope["result"].importance}
    assert scope["result"].fold_kind.startswith("grouped by prompt (6 groups)")


def test_the_issues_call_joins_a_frame_on_its_own_id_column(shared, tmp_path, capsys):
    """open_features(..., labels=df, on="essay_id_comp") (it raised before); a copy of the
    cache (`cache export DIR OUT`) keeps the recorded inputs."""
    import pandas as pd

    root, path, scores, info, _ = shared
    frame = pd.read_csv(scores)
    joined = open_features(root, "combined", labels=frame, on="essay_id_comp", ids=path)
    assert joined.num_rows == A and "essay_id_comp" not in joined.column_names
    copy = tmp_path / "copy"
    assert cli(capsys, "cache", "export", root, copy, "--format", "parquet")[0] == 0
    assert read_inputs(copy, info.fingerprint) == read_inputs(root, info.fingerprint)
