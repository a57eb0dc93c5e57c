"""The feature report: one self-contained HTML file per cached feature set (issue 24)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from benchmarks.report_scale import synthetic_cache, synthetic_labels
from hemma_features.client.errors import CacheError, LabelsError
from hemma_features.client.feature_report.score_labels import align_labels, read_labels
from hemma_features.client.feature_report.stats import ranks, spearman
from hemma_features.contract import decode_catalogue
from tests.conftest import REPO

ROWS = 240
DIM = 16
REPORT_DIR = REPO / "client" / "feature_report"


class Page(HTMLParser):
    """Tags and text of a report, parsed with the standard library's HTML parser."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def tags(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.starts
            if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A combined cache of synthetic rows in the real layout, with its fingerprint record."""
    root = tmp_path_factory.mktemp("report") / "cache"
    info = synthetic_cache(root, ROWS, dim=DIM)
    return root, info


@pytest.fixture(scope="module")
def labelled(cache, tmp_path_factory):
    """A report with labels for every second essay plus three ids the cache lacks."""
    root, info = cache
    path = synthetic_labels(tmp_path_factory.mktemp("labels") / "half.csv", root, info, every=2)
    table = pacsv.read_csv(path)
    extra = pa.table(
        {"essay_id": ["x1", "x2", "x3"], "holistic": [3.0, 4.0, 2.0], "language": [1.0] * 3}
    )
    pacsv.write_csv(pa.concat_tables([table, extra.cast(table.schema)]), path)
    out = path.parent / "report.html"
    from hemma_features import report

    report(root, out, labels=path)
    return out.read_text(encoding="utf-8"), path


def feature_names(root: Path, fingerprint: str) -> list[str]:
    from hemma_features import open_features

    return [s.name for s in decode_catalogue(open_features(root, fingerprint).schema)]


def test_the_report_parses_names_every_feature_and_draws_one_plot_each(cache, labelled):
    """Every catalogue feature has its card, named, with its definition and one histogram."""
    root, info = cache
    text, _ = labelled
    page = Page(text)
    names = feature_names(root, info.fingerprint)
    assert len(names) > 40
    cards = {a["data-feature"] for a in page.tags("div") if a.get("data-feature")}
    assert cards == set(names)
    body = "".join(page.text)
    for name in names:
        assert name in body
    card_plots = re.findall(r'data-feature="([^"]+)".*?<svg class="hist"', text)
    assert sorted(card_plots) == sorted(names)  # one histogram per feature card
    assert len(page.tags("svg", **{"class": "hist"})) == len(names)
    assert page.tags("svg", **{"class": "heatmap"}) and page.tags("svg", **{"class": "scatter"})


def test_the_report_fetches_nothing(labelled):
    """No src or href leaves the file, no stylesheet or script is linked, no url() or @import."""
    text, _ = labelled
    page = Page(text)
    for _tag, attrs in page.starts:
        for key in ("src", "href", "srcset", "action", "data"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), (key, value)
    assert not page.tags("link") and not page.tags("iframe") and not page.tags("img")
    assert all(a.get("src") is None for a in page.tags("script"))
    assert not re.search(r"https?://|url\(|@import|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I)


def test_the_header_says_what_produced_the_rows(cache, labelled):
    """Fingerprint, schema version, model and component versions, essays, written time."""
    root, info = cache
    text, _ = labelled
    header = text[text.index('id="provenance"') : text.index('id="overview"')]
    assert info.fingerprint in header
    assert info.schema_version in header
    assert "sentence-transformers/all-MiniLM-L6-v2" in header
    assert "weights_sha256" in header and "en_core_web_sm" in header and "3.8.0" in header
    assert f"<td>essays</td><td>{ROWS}</td>" in header
    assert re.search(r"cache written</td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", header)
    # each feature's computation version comes from the recorded components
    assert re.search(r'id="f-n_words".*?<span class="tag">v2</span>', text)


def test_labels_with_missing_and_extra_ids_are_counted_and_named(cache, labelled):
    """Half the cached essays lack a label and three labelled ids are not cached: both
    counted, and named."""
    text, _ = labelled
    assert f"<b>{ROWS // 2}</b> of {ROWS} cached essays have a labels row" in text
    assert f"<b>{ROWS // 2}</b> cached essay(s) have none" in text
    assert "<b>3</b> labelled essay(s) are not in the cache" in text
    assert "x1, x2, x3" in text
    assert "e0000001" in text  # the first cached essay without a label


def test_align_labels_lines_labels_up_with_the_cached_rows():
    """Values land on their essay's row; unmatched ids are listed on both sides."""
    labels = read_labels(pa.table({"essay_id": ["b", "z", "a"], "s": [2.0, 9.0, None]}))
    joined = align_labels(pa.array(["a", "b", "c"]), labels)
    assert joined.matched == 2
    assert joined.missing_ids == ["c"] and joined.extra_ids == ["z"]
    np.testing.assert_array_equal(joined.values["s"], [np.nan, 2.0, np.nan])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("id,score\n1,2\n", "no 'essay_id' column to join on; they have ['id', 'score']"),
        ("essay_id,score,grade\ne1,3,B\ne2,4,A\n", "column 'grade' is not numeric"),
        ("essay_id,score\ne1,3\ne1,4\n", "the labels repeat 1 id(s): e1"),
    ],
)
def test_a_bad_labels_file_is_one_line_naming_the_column(tmp_path, content, expected):
    """No essay_id, a non-numeric score, a repeated id: one line that names it."""
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(LabelsError) as caught:
        read_labels(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_parquet_labels_file_with_chosen_columns_reads(tmp_path):
    """Scores can sit in an essays file: name them, and the text column is left alone."""
    path = tmp_path / "essays.parquet"
    pq.write_table(pa.table({"essay_id": [1, 2], "text": ["a", "b"], "overall": [3, 4]}), path)
    with pytest.raises(LabelsError, match="column 'text' is not numeric"):
        read_labels(path)
    table = read_labels(path, columns=["overall"])
    assert table.column_names == ["essay_id", "overall"]
    assert table.column("essay_id").to_pylist() == ["1", "2"]


def test_scores_are_read_from_an_essays_csv_whose_texts_span_lines(tmp_path):
    """An essays file as labels: its multi-line texts parse, and only the named columns are
    read."""
    path = tmp_path / "essays.csv"
    path.write_text('essay_id,text,overall\ne1,"One.\n\nTwo, three.",3.5\ne2,"Four.",2\n')
    table = read_labels(path, columns=["overall"])
    assert table.to_pydict() == {"essay_id": ["e1", "e2"], "overall": [3.5, 2.0]}
    with pytest.raises(LabelsError, match=r"column 'text' is not numeric: .*'One\.\\n"):
        read_labels(path)


def test_the_cli_writes_the_report_and_reports_bad_labels_in_one_line(cache, tmp_path, capsys):
    """`hemma-features report CACHE --labels L --feature-set S --fingerprint FP --out F`."""
    from hemma_features.cli import main

    root, info = cache
    out = tmp_path / "r.html"
    code = main(["report", str(root), "--feature-set", "combined", "--fingerprint",
                 info.fingerprint, "--out", str(out)])  # fmt: skip
    assert code == 0 and out.is_file()
    assert f"wrote {out}" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("essay_id,score\ne0000000,high\n")
    assert main(["report", str(root), "--labels", str(bad), "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: labels ") and "column 'score' is not numeric" in line


def test_an_ambiguous_or_absent_partition_names_the_choices(cache, tmp_path):
    """Two fingerprints for one set: the error lists both and says --fingerprint."""
    root, info = cache
    second = tmp_path / "two"
    shutil.copytree(root, second)
    other = synthetic_cache(second, 10, dim=DIM, seed=1)
    from hemma_features import report

    with pytest.raises(CacheError, match="choose one with --fingerprint") as caught:
        report(second, tmp_path / "x.html")
    assert info.fingerprint in str(caught.value) and other.fingerprint in str(caught.value)
    with pytest.raises(CacheError, match="holds no rows for fingerprint nope"):
        report(root, tmp_path / "x.html", fingerprint="nope")
    # a unique prefix names its fingerprint; a shared one is an error naming both
    out = report(second, tmp_path / "y.html", fingerprint=other.fingerprint[:10])
    assert other.fingerprint in out.read_text(encoding="utf-8")
    shared = next(n for n in range(1, 64) if info.fingerprint[:n] != other.fingerprint[:n]) - 1
    if shared:  # two sha256 values share a first hex digit one time in 16
        with pytest.raises(CacheError, match="is ambiguous: 2 fingerprints"):
            report(second, tmp_path / "z.html", fingerprint=info.fingerprint[:shared])


def test_spearman_matches_scipy_with_ties():
    """Ranks average ties; rho equals scipy's on data with many ties."""
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, 500).astype(float)
    b = a + rng.integers(0, 3, 500)
    np.testing.assert_allclose(ranks(a), scipy_stats.rankdata(a))
    rho = spearman(ranks(a), ranks(b))
    assert rho.rho == pytest.approx(scipy_stats.spearmanr(a, b).statistic, abs=1e-12)
    assert rho.low < rho.rho < rho.high and rho.n == 500


def test_suspicious_columns_are_flagged(labelled):
    """The planted constant column and the planted outliers carry their flags."""
    text, _ = labelled
    card = re.search(r'id="f-pos_propn".*?</div></div>', text, re.S)
    assert card is not None and "constant (0)" in card.group(0)
    rix = re.search(r'id="f-rix".*?</div></div>', text, re.S)
    assert rix is not None and "heavy outliers" in rix.group(0)
    assert 'id="f-n_words" data-feature="n_words">' in text  # nothing to flag there


def test_the_report_code_imports_only_pyarrow_numpy_msgspec_and_the_stdlib():
    """Runs on the client install: no plotting library, nothing heavy (AST of every module)."""
    allowed = {"numpy", "pyarrow", "msgspec", "hemma_features"}
    for path in sorted(REPORT_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, (path.name, name)


def test_importing_and_running_the_report_loads_nothing_heavy(cache, tmp_path):
    """In a fresh interpreter, a whole report leaves torch, spaCy, transformers and
    matplotlib unimported."""
    root, _ = cache
    code = (
        "import sys; import hemma_features as h; "
        f"h.report({str(root)!r}, {str(tmp_path / 'r.html')!r}); "
        "print([m for m in ('torch', 'spacy', 'transformers', 'matplotlib', "
        "'hemma_features.engine') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_a_headless_chromium_renders_the_report(labelled, tmp_path):
    """Debian's chromium draws the page; the screenshot is not blank."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run tries)")
    image = pytest.importorskip("PIL.Image")
    text, labels = labelled
    page = labels.parent / "report.html"
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 10  # a blank page is one colour
    assert (pixels < 128).mean() > 0.01  # and there is dark ink (text, bars) on it


def test_a_report_of_extracted_sample_essays_names_the_server_components(live_server, tmp_path):
    """extract keeps the server's fingerprint answer beside the rows; the report's header
    names the real model, spaCy pipeline and library versions from it, offline."""
    from hemma_features import FeatureClient, report
    from hemma_features.client.fingerprint_record import read_record
    from tests.conftest import SAMPLES

    cache = tmp_path / "cache"
    with FeatureClient(live_server.http_url) as client:
        table, done = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache)
        info = client.fingerprint()
    record = read_record(cache, done.fingerprint)
    assert record == info
    out = report(cache, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    header = text[text.index('id="provenance"') : text.index('id="overview"')]
    spacy = info.components["spacy_model"]
    assert isinstance(spacy, dict) and str(spacy["name"]) in header
    assert done.fingerprint in header and f"<td>essays</td><td>{table.num_rows}</td>" in header
    assert "not recorded" not in header


def test_a_parquet_export_reports_the_same_features_and_keeps_the_record(cache, tmp_path):
    """`cache export --format parquet` carries _fingerprint.json; the report reads Parquet."""
    from hemma_features import report
    from hemma_features.client.cache_admin import export

    root, info = cache
    out = tmp_path / "pq"
    assert export(root, out, "parquet") == ROWS
    text = report(out, tmp_path / "r.html").read_text(encoding="utf-8")
    names = feature_names(out, info.fingerprint)
    assert len(Page(text).tags("svg", **{"class": "hist"})) == len(names)
    assert "weights_sha256" in text and "not recorded" not in text


def test_undefined_counts_only_rows_that_could_not_be_measured(cache, labelled):
    """pos_propn at 0 in essays with words is a real 0: no row is undefined, every row is
    a zero (the catalogue's case is a text without words, n_words = 0)."""
    text, _ = labelled
    card = re.search(r'id="f-pos_propn".*?</div></div>', text, re.S)
    assert card is not None
    assert f'<td>zeros</td><td colspan="3">{ROWS}</td>' in card.group(0)
    assert '<td>undefined</td><td colspan="3">0 <span class="small">(n_words = 0: ' in card.group(0)
    overview = text[text.index('id="overview"') : text.index('id="features"')]
    assert "0 there is not a measurement" not in overview


def test_undefined_rows_follow_the_catalogue_policy_and_leave_the_figures():
    """Rows where the policy's column says undefined are counted apart and left out of the
    figures; a real 0 is a zero; a policy no column records exactly marks its zeros as
    undecided; a feature without a policy counts no undefined row."""
    from hemma_features.client.feature_report.stats import summarize, undefined_rows
    from hemma_features.engine.features.catalogue import catalogue

    specs = {spec.name: spec for spec in catalogue(languagetool=False)}
    n_words = np.array([0.0, 5.0, 10.0, 8.0])
    columns = {"n_words": n_words, "embedded_paragraphs": np.array([1.0, 2.0, 3.0, 0.0])}
    values = np.array([0.0, 0.0, 0.5, 0.25])

    def summary(name: str):
        spec = specs[name]
        return summarize(values, spec, undefined_rows(values, spec, columns.get))

    share = summary("pos_propn")
    assert (share.undefined, share.zeros, share.measured, share.undecided) == (1, 1, 3, False)
    assert share.minimum == 0.0 and share.maximum == 0.5 and share.median == 0.25
    assert share.undefined_rule.startswith("n_words = 0: for a text without words")
    unknown = summary("unknown_word_ratio")  # no letters-only word: no column says
    assert (unknown.undefined, unknown.zeros, unknown.undecided) == (1, 1, True)
    similarity = summary("paragraph_similarity_mean")  # embedded_paragraphs < 2
    assert (similarity.undefined, similarity.zeros, similarity.measured) == (2, 1, 2)
    prompt = summary("prompt_similarity")  # no prompt: every row at 0
    assert (prompt.undefined, prompt.zeros) == (2, 0)
    words = summarize(
        n_words, specs["n_words"], undefined_rows(n_words, specs["n_words"], columns.get)
    )
    assert (words.undefined, words.zeros, words.undefined_rule) == (None, 1, "")
