"""What a newcomer sees for a mistyped location: the flag, the form it takes, exit 2."""

from __future__ import annotations

import pytest

from hemma_features import FeatureClient
from hemma_features.client.errors import LocationError
from tests.conftest import SAMPLES


def test_a_server_url_without_a_scheme_names_the_flag_and_the_form():
    with pytest.raises(
        LocationError, match=r"--server .*http://127\.0\.0\.1:9000.*'127\.0\.0\.1:19100'"
    ):
        FeatureClient("127.0.0.1:19100")


def test_a_flight_location_without_a_scheme_names_the_flag_and_the_form(monkeypatch):
    with pytest.raises(
        LocationError, match=r"--flight .*grpc://127\.0\.0\.1:9001.*'127\.0\.0\.1:19201'"
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
    assert err.startswith("error: --server") and len(err.splitlines()) == 1
