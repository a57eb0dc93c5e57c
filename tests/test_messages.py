"""What a newcomer sees for a mistyped location: its name where it was given (the flag on the
command line, the argument in Python), the form it takes, exit 2."""

from __future__ import annotations

import pytest

from hemma_features import FeatureClient
from hemma_features.client.errors import LocationError
from tests.conftest import SAMPLES


def test_a_server_url_without_a_scheme_names_the_argument_and_the_form():
    """In Python the message names the argument, not a flag."""
    with pytest.raises(
        LocationError, match=r"^server takes .*http://127\.0\.0\.1:9000.*'127\.0\.0\.1:19100'"
    ):
        FeatureClient("127.0.0.1:19100")


def test_a_flight_location_without_a_scheme_names_the_argument_and_the_form(monkeypatch):
    """flight= or $HEMMA_FLIGHT_URL, whichever held the bad value."""
    with pytest.raises(
        LocationError, match=r"^flight takes .*grpc://127\.0\.0\.1:9001.*'127\.0\.0\.1:19201'"
    ):
        FeatureClient("http://127.0.0.1:19100", flight="127.0.0.1:19201")
    monkeypatch.setenv("HEMMA_FLIGHT_URL", "localhost:1")
    with pytest.raises(LocationError, match="HEMMA_FLIGHT_URL"):
        FeatureClient("http://127.0.0.1:19100")


def test_the_cli_prints_one_line_and_exits_2_for_a_bad_location(capsys):
    from hemma_features.cli import main

    code = main(["extract", str(SAMPLES), "--server", "127.0.0.1:19100", "--cache", "/nonexistent"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --server takes") and len(err.splitlines()) == 1
    assert "server=" not in err


def test_no_python_argument_name_reaches_a_cli_error(capsys, monkeypatch):
    """--flight, $HEMMA_FLIGHT_URL and --chunk-rows are named as the user gave them."""
    from hemma_features.cli import main

    base = ["extract", str(SAMPLES), "--cache", "/nonexistent"]
    assert main([*base, "--flight", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --flight takes") and "flight=" not in err
    monkeypatch.setenv("HEMMA_FLIGHT_URL", "localhost:1")
    assert main(base) == 2
    assert capsys.readouterr().err.startswith("error: $HEMMA_FLIGHT_URL takes")
    with pytest.raises(SystemExit) as exited:
        main([*base, "--chunk-rows", "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --chunk-rows: takes a whole number of at least 1, not '0'" in err
    assert "chunk_rows" not in err
