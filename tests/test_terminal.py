"""Data drives no terminal (issue 32): ids, labels, column and directory names holding ESC,
BEL, CR or bidi controls are printed as escapes, by the CLI and in Python's messages."""

from __future__ import annotations

import io
import re
import warnings

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import structlog

from hemma_features.client.cache import FeatureCache
from hemma_features.client.errors import LabelsError
from hemma_features.client.labels import UnmatchedIdsWarning, join_labels
from hemma_features.contract import META_FEATURE_SET, META_FINGERPRINT, InputRuleError
from hemma_features.terminal import printable, shown

CLEAR = "clear\x1b[2J"
TITLE = "title\x1b]0;pwned\x07"
RETURN = "ok\rfake summary"
BIDI = "bidi\u202eevil\u2066"
CSI = "c1\x9b31m"
HOSTILE = [CLEAR, TITLE, RETURN, BIDI, CSI]
ESCAPED = [
    "clear\\x1b[2J",
    "title\\x1b]0;pwned\\x07",
    "ok\\rfake summary",
    "bidi\\u202eevil\\u2066",
    "c1\\x9b31m",
]
# What a terminal acts on: C0 and C1 controls, DEL, bidi marks, embeddings and isolates.
ACTS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FP = "a" * 64


def test_shown_writes_each_character_a_terminal_acts_on_as_its_escape():
    """ESC, BEL, CR, C1, bidi controls and the newline become escapes; text stays as it is."""
    assert [shown(value) for value in HOSTILE] == ESCAPED
    assert shown("line\nnext\ttab") == "line\\nnext\\ttab"
    assert shown("Café 東京 ok, (1) [2]") == "Café 東京 ok, (1) [2]"
    assert printable(f"first {CLEAR}\nsecond {BIDI}") == f"first {ESCAPED[0]}\nsecond {ESCAPED[3]}"


def cache_with_ids(root, ids: list[str]) -> None:
    """A combined partition whose rows carry ``ids``."""
    meta = {META_FINGERPRINT: FP.encode(), META_FEATURE_SET: b"combined"}
    table = pa.table(
        {
            "key": [f"{i:064x}" for i in range(len(ids))],
            "essay_id": ids,
            "n_words": pa.array([float(i) for i in range(len(ids))], pa.float32()),
        }
    ).replace_schema_metadata(meta)
    FeatureCache(root).write(FP, "combined", table)


def test_cache_export_prints_unmatched_ids_escaped(tmp_path, capsys):
    """`cache export --labels` names unmatched ids from both sides as escapes: nothing it
    prints clears the screen, sets the title or overwrites its own summary."""
    from hemma_features.cli import main

    cache = tmp_path / "cache"
    cache_with_ids(cache, ["plain", CLEAR, TITLE])
    labels = tmp_path / "labels.csv"
    pacsv.write_csv(pa.table({"essay_id": ["plain", RETURN, BIDI, CSI], "s": [1, 2, 3, 4]}), labels)
    code = main(["cache", "export", str(cache), "--feature-set", "combined", "--labels",
                 str(labels), "--out", str(tmp_path / "out.parquet")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert not ACTS.search(captured.out + captured.err), repr(captured.out + captured.err)
    [line] = [x for x in captured.out.splitlines() if x.startswith("labels: ")]
    assert line == (
        f"labels: 1 rows matched on essay_id; 2 feature rows without a label ({ESCAPED[0]}, "
        f"{ESCAPED[1]}); 3 labels without feature rows ({ESCAPED[2]}, {ESCAPED[3]}, "
        f"{ESCAPED[4]})"
    )


def test_an_error_naming_a_hostile_id_is_one_escaped_line(tmp_path, capsys):
    """A labels file repeating an id that holds ESC and BEL: exit 2 and one line naming
    the id as escapes."""
    from hemma_features.cli import main

    cache = tmp_path / "cache"
    cache_with_ids(cache, ["plain"])
    labels = tmp_path / "labels.csv"
    pacsv.write_csv(pa.table({"essay_id": [TITLE, TITLE], "s": [1, 2]}), labels)
    code = main(["cache", "export", str(cache), "--feature-set", "combined", "--labels",
                 str(labels), "--out", str(tmp_path / "out.parquet")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and not ACTS.search(err)
    [line] = err.strip().splitlines()
    assert line == f"error: the labels repeat 1 id(s): {ESCAPED[1]}; a join needs one row per id"


def test_python_messages_show_hostile_ids_as_escapes():
    """The UnmatchedIdsWarning, a LabelsError and an InputRuleError name ids as escapes."""
    features = pa.table({"key": ["k1", "k2"], "essay_id": [CLEAR, "b"], "n": [1.0, 2.0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        join_labels(features, pa.table({"essay_id": ["b", BIDI], "s": [1.0, 2.0]}))
    [warning] = [w for w in caught if issubclass(w.category, UnmatchedIdsWarning)]
    assert not ACTS.search(str(warning.message))
    assert ESCAPED[0] in str(warning.message) and ESCAPED[3] in str(warning.message)
    with pytest.raises(LabelsError) as refused:
        join_labels(features, pa.table({"essay_id": ["b", "b"], RETURN: ["1", "x"]}))
    assert not ACTS.search(str(refused.value))
    with pytest.raises(LabelsError) as refused:
        join_labels(features, pa.table({"essay_id": [CSI, "b"], "s": [float("inf"), 1.0]}))
    assert not ACTS.search(str(refused.value)) and "'c1\\x9b31m'" in str(refused.value)
    error = InputRuleError.of([(3, TITLE, "text is empty or only whitespace")])
    assert not ACTS.search(str(error)) and ESCAPED[1] in str(error)


def test_cache_commands_escape_hostile_directory_names(tmp_path, capsys):
    """A directory named with ESC and CR inside a cache: `cache ls` and `cache verify` show
    its name as escapes."""
    from hemma_features.cli import main

    cache = tmp_path / "cache"
    cache_with_ids(cache, ["plain"])
    (cache / f"fingerprint={CLEAR}" / f"feature_set={RETURN}").mkdir(parents=True)
    assert main(["cache", "ls", str(cache)]) == 0
    main(["cache", "verify", str(cache)])
    captured = capsys.readouterr()
    assert not ACTS.search(captured.out + captured.err), repr(captured.out + captured.err)
    assert ESCAPED[0] in captured.out and ESCAPED[2] in captured.out


def test_console_log_lines_escape_text_values(monkeypatch):
    """On a terminal, a log line's text values (a path, an id) are written as escapes."""
    from hemma_features.logs import configure_logging

    screen = io.StringIO()
    screen.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stderr", screen)
    configure_logging("console")
    try:
        structlog.get_logger("t").warning("client.rows_lost", essay_id=TITLE, path=CLEAR)
    finally:
        configure_logging("auto")
    assert not ACTS.search(re.sub("\x1b\\[[0-9;]*m", "", screen.getvalue()))  # colours aside
    assert ESCAPED[1] in screen.getvalue() and ESCAPED[0] in screen.getvalue()


def test_json_output_escapes_as_json_and_keeps_the_value(tmp_path, capsys):
    """`cache ls --json` over a directory named with ESC, C1 and bidi controls: nothing a
    terminal acts on is printed, and the JSON decodes to the very name."""
    import json

    from hemma_features.cli import main
    from hemma_features.terminal import printable_json

    name = f"{CLEAR}{CSI}{BIDI}\U0001f600"
    assert json.loads(printable_json(json.dumps({"k": name}, ensure_ascii=False))) == {"k": name}
    cache = tmp_path / "cache"
    cache_with_ids(cache, ["plain"])
    (cache / f"fingerprint={name}" / "feature_set=combined").mkdir(parents=True)
    assert main(["cache", "ls", str(cache), "--json"]) == 0
    out = capsys.readouterr().out
    assert not ACTS.search(out)
    assert name in {row["fingerprint"] for row in json.loads(out)}
