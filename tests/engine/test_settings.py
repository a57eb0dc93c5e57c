"""Settings: defaults, environment, flag precedence and named errors."""

from __future__ import annotations

import pytest

from hemma_features.engine.errors import SettingsError
from hemma_features.engine.settings import Settings
from hemma_features.engine.settings_env import FIELDS, load_settings, settings_of


def test_defaults_match_the_documented_ports():
    """Without environment the control plane is on 9000 and Flight on 9001, on loopback."""
    settings = load_settings(environ={})
    assert (settings.server.host, settings.server.http_port, settings.server.flight_port) == (
        "127.0.0.1",
        9000,
        9001,
    )
    assert settings.languagetool.url is None


def test_environment_is_read_and_converted():
    """HEMMA_* variables are converted to the field types."""
    settings = load_settings(
        environ={
            "HEMMA_MAX_ITEMS": "12",
            "HEMMA_EMBEDDING_NORMALIZE": "true",
            "HEMMA_DEVICE": "cpu",
        }
    )
    assert settings.limits.max_items == 12
    assert settings.embedding.normalize is True
    assert settings.embedding.device == "cpu"


def test_flags_override_environment():
    """An explicit override wins over the variable; None overrides are ignored."""
    settings = load_settings(
        environ={"HEMMA_MAX_ITEMS": "12", "HEMMA_HTTP_PORT": "9100"},
        overrides={"max_items": "7", "http_port": None},
    )
    assert settings.limits.max_items == 7
    assert settings.server.http_port == 9100


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
    settings = settings_of(languagetool_url="http://user:secret@lt.internal:8010")
    view = settings.public_view()
    assert "secret" not in str(view)
    assert view.languagetool_url == "http://***@lt.internal:8010"


def test_every_field_has_a_help_text():
    """Each setting declares the description --help shows, in one line."""
    from hemma_features.serve import build_parser

    assert all(field.description for field in FIELDS.values())
    helps = {a.dest: a.help for a in build_parser()._actions}
    assert helps["embedding_max_length"] == (
        "Tokens per essay fed to the encoder (capped by the model's position table). "
        "[env HEMMA_EMBEDDING_MAX_LENGTH; default 512]"
    )


def test_sections_group_the_flat_names():
    """Each flat name lives in one section; the nested value is the flat one."""
    settings = settings_of(embedding_max_length=64, store=False, parse_workers=2)
    assert (settings.embedding.max_length, settings.store.enabled, settings.parsing.workers) == (
        64,
        False,
        2,
    )
    flat = settings.flat()
    assert set(flat) == set(FIELDS) and flat["embedding_max_length"] == 64
    assert Settings() == settings_of()


def test_rules_between_fields_hold_however_settings_are_built():
    """The rules that join two fields hold for every way of building settings."""
    from hemma_features.engine.settings import EmbeddingSettings

    with pytest.raises(SettingsError, match="HEMMA_EMBEDDING_CHUNK_OVERLAP=300.*half"):
        settings_of(embedding_long_text="chunk_mean", embedding_chunk_overlap=300)
    with pytest.raises(SettingsError, match="HEMMA_EMBEDDING_CHUNK_OVERLAP"):
        EmbeddingSettings(long_text="chunk_mean", chunk_overlap=300)
    with pytest.raises(SettingsError, match="HEMMA_PEERS"):
        settings_of(peers="http://replica:9001")


def test_errors_are_one_line_with_the_limit():
    """A value past a declared limit names the variable, the value and the limit."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"HEMMA_STREAM_IDLE_TIMEOUT": "0.5"})
    assert str(caught.value) == (
        "HEMMA_STREAM_IDLE_TIMEOUT=0.5 is not valid: expected seconds between 1 and 86400"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings({"HEMMA_ADMIN_TOKEN": "short"})
    assert "short" not in str(caught.value) and "at least 16 characters" in str(caught.value)


def test_settings_read_no_files():
    """A TLS file that does not exist fails where the server starts, not in the settings."""
    from hemma_features.serve import check_files

    settings = settings_of(tls_cert_file="/nonexistent/cert.pem", tls_key_file="/nonexistent/k")
    with pytest.raises(SettingsError, match="HEMMA_TLS_CERT_FILE.*an existing PEM file"):
        check_files(settings)


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


def test_env_file_is_read_with_comments_export_and_quotes(tmp_path):
    """An env file takes HEMMA_NAME=value lines; comments, blanks, export and quotes too."""
    from hemma_features.engine.settings_env import read_env_file

    path = tmp_path / "hemma.env"
    path.write_text(
        "# a comment\n\nexport HEMMA_EMBEDDING_MAX_LENGTH='128'\nHEMMA_MAX_ITEMS = \"10\"\n"
    )
    assert read_env_file(path) == {"HEMMA_EMBEDDING_MAX_LENGTH": "128", "HEMMA_MAX_ITEMS": "10"}
    settings = load_settings(read_env_file(path))
    assert (settings.embedding.max_length, settings.limits.max_items) == (128, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PATH=/usr/bin\n", "line 1"),
        ("HEMMA_MAX_ITEMS=3\nnot a setting\n", "line 2"),
        ("HEMMA_EMBEDING_MAX_LENGTH=128\n", "HEMMA_EMBEDING_MAX_LENGTH"),
    ],
)
def test_env_file_errors_name_the_line(tmp_path, text, message):
    """A line that is not a known HEMMA_ setting fails naming it (a typo is never ignored)."""
    from hemma_features.engine.settings_env import read_env_file

    path = tmp_path / "hemma.env"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        read_env_file(path)


def test_model_sha256_takes_64_hex_digits():
    """HEMMA_EMBEDDING_MODEL_SHA256 is checked for its form at start."""
    with pytest.raises(SettingsError, match="HEMMA_EMBEDDING_MODEL_SHA256.*64 hexadecimal"):
        load_settings({"HEMMA_EMBEDDING_MODEL_SHA256": "abc"})
    assert load_settings({"HEMMA_EMBEDDING_MODEL_SHA256": "A" * 64}).embedding.model_sha256


def test_the_embedders_resolved_options_are_embedding_settings():
    """The embedder takes the embedding section itself; each value it resolves at load is
    an embedding setting of the same name (no option declared only on the embedder)."""
    from hemma_features.engine.models.embed import EmbeddingOptions
    from hemma_features.engine.settings import EmbeddingSettings

    assert EmbeddingOptions.__struct_fields__[0] == "settings"
    resolved = set(EmbeddingOptions.__struct_fields__[1:])
    assert resolved <= set(EmbeddingSettings.__struct_fields__)
