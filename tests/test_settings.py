"""Settings: defaults, environment, flag precedence and named errors."""

from __future__ import annotations

import pytest

from hemma_features.service.errors import SettingsError
from hemma_features.service.settings import Settings, field_docs, load_settings


def test_defaults_match_the_documented_ports():
    """Without environment the control plane is on 9000 and Flight on 9001, on loopback."""
    settings = load_settings(environ={})
    assert (settings.host, settings.http_port, settings.flight_port) == ("127.0.0.1", 9000, 9001)
    assert settings.languagetool_url is None


def test_environment_is_read_and_converted():
    """HEMMA_* variables are converted to the field types."""
    settings = load_settings(
        environ={
            "HEMMA_MAX_ITEMS": "12",
            "HEMMA_EMBEDDING_NORMALIZE": "true",
            "HEMMA_DEVICE": "cpu",
        }
    )
    assert settings.max_items == 12
    assert settings.embedding_normalize is True
    assert settings.device == "cpu"


def test_flags_override_environment():
    """An explicit override wins over the variable; None overrides are ignored."""
    settings = load_settings(
        environ={"HEMMA_MAX_ITEMS": "12", "HEMMA_HTTP_PORT": "9100"},
        overrides={"max_items": "7", "http_port": None},
    )
    assert settings.max_items == 7
    assert settings.http_port == 9100


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("HEMMA_MAX_ITEMS", "abc", "int"),
        ("HEMMA_MAX_ITEMS", "0", "between 1 and"),
        ("HEMMA_HTTP_PORT", "70000", "between 0 and 65535"),
        ("HEMMA_DEVICE", "tpu", "'auto', 'cpu', 'cuda'"),
        ("HEMMA_LANGUAGETOOL_URL", "localhost:8010", "http:// or https://"),
    ],
)
def test_bad_values_name_the_variable_value_and_rule(variable, value, allowed):
    """A bad value fails naming the variable, the value and what is allowed."""
    with pytest.raises(SettingsError) as info:
        load_settings(environ={variable: value})
    message = str(info.value)
    assert variable in message
    assert repr(value) in message or value in message
    assert allowed in message


def test_config_view_redacts_credentials():
    """Userinfo in the LanguageTool URL never reaches /v1/config."""
    settings = Settings(languagetool_url="http://user:secret@lt.internal:8010")
    view = settings.public_view()
    assert "secret" not in str(view)
    assert view["languagetool_url"] == "http://***@lt.internal:8010"


def test_every_field_has_a_help_text():
    """Each settings field has a docstring that --help shows."""
    import msgspec

    docs = field_docs()
    assert {f.name for f in msgspec.structs.fields(Settings)} == set(docs)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HEMMA_MAX_ITEMS", "abc", "HEMMA_MAX_ITEMS='abc' is not valid: expected an integer"),
        (
            "HEMMA_PARSE_DEADLINE",
            "soon",
            "HEMMA_PARSE_DEADLINE='soon' is not valid: expected a number",
        ),
    ],
)
def test_a_badly_typed_variable_says_what_it_takes_in_words(variable, value, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={variable: value})
    assert str(caught.value) == expected
