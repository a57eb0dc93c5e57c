"""Settings from flat names: ``HEMMA_*`` variables, env files, flags and overrides.

Every field of every section of ``engine.settings`` has one flat name (its msgspec
``encode_name``); the list, in ``serve --help`` order, is ``/v1/config``'s
(``contract.SettingsView``). Each value is converted to its field's annotated type, so
msgspec checks the constraints declared there; an error names the variable, the value and
what is allowed, read from the same declaration.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect as mi

from hemma_features.contract import SettingsView
from hemma_features.engine.errors import SettingsError
from hemma_features.engine.settings import ENV_PREFIX, Settings


class SettingField(NamedTuple):
    """One setting as the environment, the flags and ``/v1/config`` name it."""

    name: str
    """Flat name: ``embedding_max_length``."""
    section: str
    """``Settings`` field it lives in: ``embedding``."""
    attribute: str
    """Its attribute there: ``max_length``."""
    annotation: Any
    """Declared type, constraints included."""
    default: Any
    description: str
    """Help text, from the field's ``Meta(description=...)``."""
    info: mi.Type
    """msgspec's view of the type (constraints, choices, ``extra``)."""

    @property
    def variable(self) -> str:
        """``HEMMA_EMBEDDING_MAX_LENGTH``."""
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        """``--embedding-max-length``."""
        return "--" + self.name.replace("_", "-")


def _fields() -> dict[str, SettingField]:
    found: dict[str, SettingField] = {}
    for section in msgspec.structs.fields(Settings):
        struct = section.type
        hints = typing.get_type_hints(struct, include_extras=True)
        info = typing.cast(mi.StructType, mi.type_info(struct))
        for field in info.fields:
            meta = _metadata(field.type)
            found[field.encode_name] = SettingField(
                name=field.encode_name,
                section=section.name,
                attribute=field.name,
                annotation=hints[field.name],
                default=field.default,
                description=(meta.extra_json_schema or {}).get("description", "") if meta else "",
                info=field.type,
            )
    order = [f.name for f in msgspec.structs.fields(SettingsView)]
    if sorted(order) != sorted(found):  # the wire view and the sections must agree
        raise RuntimeError(f"settings {set(order) ^ set(found)} differ from SettingsView's")
    return {name: found[name] for name in order}


def _metadata(info: mi.Type) -> mi.Metadata | None:
    """The ``Meta`` of a field's type (inside ``X | None`` too)."""
    if isinstance(info, mi.Metadata):
        return info
    if isinstance(info, mi.UnionType):
        for member in info.types:
            if isinstance(member, mi.Metadata):
                return member
    return None


FIELDS: dict[str, SettingField] = _fields()
"""Every setting by flat name, in ``serve --help`` order."""


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build settings from ``HEMMA_*`` variables, then apply explicit overrides.

    Args:
        environ: Environment to read; ``os.environ`` when None.
        overrides: Values by flat name that win over the environment (``None`` values are
            ignored).
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in FIELDS.values():
        text = env.get(field.variable)
        if text is not None and text != "":
            raw[field.name] = text
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in FIELDS:
            raise SettingsError(name, value, f"one of {sorted(FIELDS)}")
        raw[name] = value
    return build_settings(raw)


def build_settings(values: Mapping[str, Any]) -> Settings:
    """Settings from values by flat name over the defaults, each converted to its field's
    type and constraints (``SettingsError`` names the first that fails)."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        field = FIELDS.get(name)
        if field is None:
            raise SettingsError(name, value, f"one of {sorted(FIELDS)}")
        sections.setdefault(field.section, {})[field.attribute] = _convert(field, value)
    kinds = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    return Settings(**{name: kinds[name](**given) for name, given in sections.items()})


def settings_of(**values: Any) -> Settings:
    """Settings from flat names (``max_items=3``) over the defaults, every value checked as
    the environment's are (no environment is read)."""
    return build_settings(values)


def replace_settings(settings: Settings, **values: Any) -> Settings:
    """A copy of ``settings`` with the given flat-named values, checked as the rest were."""
    return build_settings({**settings.flat(), **values})


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``HEMMA_*`` settings from a file of ``NAME=value`` lines (``#`` comments, blank
    lines, an optional ``export`` and quotes around the value are allowed).

    Raises:
        SettingsError: the file cannot be read, or a line is not ``HEMMA_NAME=value``
            (named by its line number).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError("HEMMA_ENV_FILE", str(path), f"a readable UTF-8 file ({exc})") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name.startswith(ENV_PREFIX):
            raise SettingsError(
                "HEMMA_ENV_FILE", f"{path}, line {number}", "lines of HEMMA_NAME=value"
            )
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name[len(ENV_PREFIX) :].lower() not in FIELDS:
            raise SettingsError(
                f"{name} ({path}, line {number})", value, "one of the settings in serve --help"
            )
        values[name] = value
    return values


def help_text(field: SettingField) -> str:
    """``serve --help``'s line for a setting: its description, variable and default."""
    return (
        f"{' '.join(field.description.split())} [env {field.variable}; default {field.default!r}]"
    )


def _convert(field: SettingField, value: Any) -> Any:
    """``value`` as the field's type: first its kind (an integer, one of the choices), then
    the declared constraints, each failure named in words."""
    try:
        typed = msgspec.convert(value, _bare(field.annotation), strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(field.variable, value, _kind(field.info, exc)) from exc
    try:
        return msgspec.convert(typed, field.annotation)
    except msgspec.ValidationError as exc:
        shown = "***" if _extra(field.info).get("secret") else typed
        raise SettingsError(field.variable, shown, _limits(field.info, exc)) from exc


def _bare(annotation: Any) -> Any:
    """The type without its ``Annotated`` constraints (``X | None`` kept)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _bare(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if args and typing.get_origin(annotation) in (typing.Union, type(int | None)):
        return typing.Union[tuple(_bare(a) for a in args)]  # noqa: UP007
    return annotation


def _members(info: mi.Type) -> list[mi.Type]:
    """The non-None member types, each without its ``Metadata`` wrapper."""
    members = info.types if isinstance(info, mi.UnionType) else (info,)
    bare = [m.type if isinstance(m, mi.Metadata) else m for m in members]
    return [m for m in bare if not isinstance(m, mi.NoneType)]


def _extra(info: mi.Type) -> dict[str, Any]:
    meta = _metadata(info)
    return dict(meta.extra or {}) if meta is not None else {}


_KINDS = {mi.IntType: "an integer", mi.FloatType: "a number", mi.BoolType: "true or false"}


def _kind(info: mi.Type, exc: msgspec.ValidationError) -> str:
    """What a setting takes, in words ("an integer", "one of 'a', 'b'")."""
    [member] = _members(info)
    if isinstance(member, mi.LiteralType):
        return "one of " + ", ".join(repr(v) for v in member.values)
    if type(member) in _KINDS:
        return _KINDS[type(member)]
    if isinstance(member, mi.StrType):
        return "a string"
    text = str(exc).split(" - at ")[0]
    return text[:1].lower() + text[1:]  # msgspec says "Expected ..."


def _limits(info: mi.Type, exc: msgspec.ValidationError) -> str:
    """The declared constraint a value broke, in words."""
    allowed = _extra(info).get("allowed")
    if allowed:
        return str(allowed)
    [member] = _members(info)
    if isinstance(member, mi.IntType):
        return f"an integer between {member.ge} and {member.le}"
    if isinstance(member, mi.FloatType):
        return f"seconds between {member.ge:g} and {member.le:g}"
    text = str(exc).split(" - at ")[0]
    return text[:1].lower() + text[1:]
