"""The README: the two commands first, .ci/run calls the test command, snippets run."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_readme_starts_with_the_two_commands():
    """The first two shell blocks are the demo command and the test command."""
    demo, tests = code_blocks("sh")[:2]
    assert demo.strip().endswith("hemma-features demo")
    assert tests.strip().endswith("python -m pytest")
    assert README.index(demo) < README.index("---")


def test_ci_runs_exactly_the_readme_test_command():
    """.ci/run contains the README's test command verbatim."""
    test_command = code_blocks("sh")[1].strip()
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_dataset_snippet_runs_against_a_default_server(runtime, tmp_path, monkeypatch):
    """The README's do_put / list_flights / get_flight_info / do_get snippet works as written
    on a server started with default settings: the store is on, in the per-user data
    directory."""
    from hemma_features.contract import StoreInfo
    from hemma_features.engine.config_views import machine_view
    from hemma_features.engine.runtime import Runtime
    from hemma_features.engine.settings import Settings
    from tests.servers import LiveServer

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    served = Runtime.from_models(Settings(), runtime.analyzer, runtime.embedder)
    store = tmp_path / "hemma-features" / "store"
    assert machine_view(served).store == StoreInfo(
        enabled=True, path=str(store), max_bytes=Settings().store.max_bytes
    )
    server = LiveServer(served)
    try:
        [snippet] = [b for b in code_blocks("python") if "do_put" in b]
        code = snippet.replace("grpc://127.0.0.1:19001", server.flight_url)
        scope: dict = {}
        exec(compile(code, "README-datasets", "exec"), scope)
    finally:
        server.close()
    features = scope["features"]
    assert features.column("essay_id").to_pylist() == ["e1", "e2"]
    assert scope["info"].total_records == 2
    assert any((store / "datasets").iterdir())  # the upload landed where /v1/config says


def test_notebook_snippet_runs_against_a_live_server(live_server):
    """The README's do_exchange snippet works as written (only the port differs)."""
    [snippet] = [b for b in code_blocks("python") if "do_exchange" in b]
    code = snippet.replace("grpc://127.0.0.1:19001", live_server.flight_url)
    scope: dict = {}
    exec(compile(code, "README-notebook", "exec"), scope)
    features = scope["features"]
    assert isinstance(features, pa.Table) and features.num_rows == 1
    assert b"hemma.fingerprint" in features.schema.metadata


def test_training_snippet_runs_on_a_cache(live_server, runtime, tmp_path, monkeypatch):
    """The README's pyarrow.dataset snippet reads a cache the client wrote."""
    from hemma_features import FeatureClient
    from tests.conftest import SAMPLES

    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=tmp_path / "hemma-cache")
    [snippet] = [b for b in code_blocks("python") if "X_emb = np.stack" in b]
    code = snippet.replace(
        "<fingerprint from `hemma-features fingerprint`>", runtime.fingerprint.fingerprint
    )
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README-training", "exec"), scope)
    assert scope["X_emb"].shape == (8, 384)
    assert scope["X_hand"].shape == (8, len(runtime.catalogue))


def test_client_snippet_runs_against_a_live_server(live_server, sample_essays, tmp_path):
    """The README's FeatureClient snippet works as written (only the addresses differ)."""
    marker = "from hemma_features import FeatureClient"
    [snippet] = [b for b in code_blocks("python") if marker in b]
    code = (
        snippet.replace("http://127.0.0.1:19000", live_server.http_url)
        .replace("grpc://127.0.0.1:19001", live_server.flight_url)
        .replace("~/hemma-cache", str(tmp_path / "hemma-cache"))
    )
    scope: dict = {"df": sample_essays.to_pandas()}
    exec(compile(code, "README-client", "exec"), scope)
    assert scope["X_emb"].shape == (8, 384)
    assert scope["X_hand"].shape[0] == 8 and len(scope["names"]) == scope["X_hand"].shape[1]


def write_caches(http_url: str, home: Path) -> None:
    """The samples' combined rows in several files per partition, under
    ``home/hemma-cache`` (Arrow IPC) and ``home/parquet/hemma-cache`` (``--format parquet``)."""
    from hemma_features import FeatureClient
    from tests.conftest import SAMPLES

    with FeatureClient(http_url, chunk_rows=2, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="combined", cache=home / "hemma-cache")
        client.extract(
            SAMPLES,
            feature_set="combined",
            cache=home / "parquet" / "hemma-cache",
            cache_format="parquet",
        )


@pytest.fixture(scope="module")
def cache_of_many_files(live_server, tmp_path_factory):
    """`hemma-cache` holding the samples' combined rows in several files per partition,
    and `parquet/hemma-cache` the same as Parquet."""
    home = tmp_path_factory.mktemp("readme")
    write_caches(live_server.http_url, home)
    return home


PARTITION = 'part = "hemma-cache/fingerprint=<fp>/feature_set=combined"'
RESULT = {"pl.scan_ipc": "df", "duckdb": "words", "to_pandas": "df"}


def read_snippets() -> list[tuple[str, str, tuple[str, ...]]]:
    """The README's snippets that read one partition: (code, the format of the cache it
    reads, the names it binds to the rows it read)."""
    snippets = []
    for block in code_blocks("python"):
        if PARTITION not in block:
            continue
        if "parquet" in block.splitlines()[0]:
            names = tuple(n for n in ("table", "df", "words") if f"\n{n} = " in block)
            snippets.append((block, "parquet", names))
        else:
            snippets.append(
                (block, "ipc", (next((RESULT[m] for m in RESULT if m in block), "table"),))
            )
    return snippets


def test_the_read_snippets_cover_every_reader_and_both_formats():
    """pyarrow, pandas, polars and DuckDB read an IPC partition; pyarrow, polars and DuckDB
    a Parquet one; none reads a single file or picks a glob's first hit."""
    snippets = read_snippets()
    tools = {next((m for m in RESULT if m in b), "pyarrow") for b, f, _ in snippets if f == "ipc"}
    assert tools == {"pyarrow", *RESULT}
    [(parquet, _, names)] = [s for s in snippets if s[1] == "parquet"]
    assert names == ("table", "df", "words") and "pl.scan_parquet" in parquet
    for block in code_blocks("python") + code_blocks("sh"):
        assert "read_feather" not in block and ")[0]" not in block and "part-<" not in block


def test_every_read_snippet_reads_every_file_of_the_partition(
    cache_of_many_files, runtime, monkeypatch
):
    """Each read snippet returns all 8 rows of a partition written as several files, in the
    format it is written for."""
    fp = runtime.fingerprint_for("combined")
    for folder, suffix in (
        (cache_of_many_files, "arrow"),
        (cache_of_many_files / "parquet", "parquet"),
    ):
        files = list((folder / "hemma-cache").glob(f"fingerprint={fp}/*/part-*.{suffix}"))
        assert len(files) > 1, folder
    for snippet, file_format, names in read_snippets():
        monkeypatch.chdir(cache_of_many_files / ("parquet" if file_format == "parquet" else ""))
        scope: dict = {}
        exec(compile(snippet.replace("<fp>", fp), "README-read", "exec"), scope)
        for name in names:
            assert len(scope[name]) == 8, (name, snippet)


def test_open_features_snippet_reads_the_run_and_joins_labels(cache_of_many_files, monkeypatch):
    """The README's open_features snippet: every row, and the rows with a label."""
    [snippet] = [
        b for b in code_blocks("python") if "from hemma_features import open_features" in b
    ]
    monkeypatch.chdir(cache_of_many_files)
    (cache_of_many_files / "labels.csv").write_text(
        "essay_id,score\n" + "".join(f"S00{i},{i}\n" for i in range(1, 8))
    )
    scope: dict = {}
    with pytest.warns(UserWarning, match=r"1 feature rows without a label \(S008\)"):
        exec(compile(snippet, "README-open-features", "exec"), scope)
    assert scope["table"].num_rows == 8
    assert scope["train"].num_rows == 7 and "score" in scope["train"].column_names
