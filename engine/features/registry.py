"""The feature registry: each handcrafted feature is one function plus one registration.

A registration carries everything the project says about a feature: its name, definition,
unit, value range (where known), undefined case, group and tier, source, computation version
and the function that computes it. The catalogue (the wire ``FeatureSpec``s and their column
order), the versions that enter the fingerprint, ``/v1/features``, the report's metadata and
the golden tests all derive from the registry, so a feature lives in one place.

Two ways to register::

    @REGISTRY.feature("n_words", tier=1, group="surface", definition=..., unit="words",
                      source="spacy")
    def n_words(doc: Document) -> float:
        return float(doc.n_words)

    @REGISTRY.family("readability")
    def readability_family(doc: Document) -> dict[str, float]: ...

    REGISTRY.value("flesch_reading_ease", family="readability", tier=1, ...)

A feature is its own small function of the per-document view (``document.Document``: the
counts every feature shares, each computed once). Where one pass yields several values (the
readability formulas, LanguageTool's category counts, the punctuation family) a *family*
function returns them all, and each value's registration (``value``) stands beside it in the
same module. ``check`` (run once at startup, never per request) fails when a family returns
names other than those registered for it, or a registration names a family that does not
exist.

Stages: ``parse`` features read a parsed Doc's ``Document``; ``languagetool`` features read a
text's LanguageTool matches and its word count; ``embedding`` features come from the
encoder's forward pass (engine/features/semantic.py's family, which the pipeline calls with
the vectors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hemma_features.contract import FeatureSpec, Undefined

Stage = Literal["parse", "languagetool", "embedding"]
PARSED_SOURCES = ("spacy", "hemma", "pyphen", "wordfreq")
"""Sources whose values are read off the parsed text: their definitions end with
``PARSED_TEXT``."""
PARSED_TEXT = (
    " Parsed text: runs of more than 64 non-space characters are split by a space every 64 "
    "characters first (bounded parse cost; no real word is that long)."
)


def sentences(text: str) -> str:
    """``text`` as complete sentences: a capital first letter, a full stop at the end."""
    text = text.strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


UNIT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "ratio": (0.0, 1.0),
    "cosine": (-1.0, 1.0),
    **dict.fromkeys(
        ("words", "sentences", "paragraphs", "characters", "syllables", "tokens", "edges",
         "clauses", "matches", "per 100 words", "zipf", "phrases", "nominals", "log10 count"),
        (0.0, None),
    ),
}  # fmt: skip
"""The values a unit allows (the feature report's ``RANGES``; a test keeps the two equal):
a feature's ``value_range`` unless its registration gives a narrower ``range``."""


@dataclass(frozen=True)
class Feature:
    """One registered feature.

    Attributes:
        name: Column name (unique).
        tier: 1 (core), 2 or 3, as on the wire.
        group: The catalogue group (surface, readability, syntax...).
        definition: The rule, precise enough to recount by hand (the wire definition adds
            the undefined case and, for parsed sources, how the text is parsed).
        unit: The unit of the value.
        source: The computation the value comes from, as on the wire: the library that
            computes it, or ``hemma`` for the project's own read-out of the parse (what it
            was checked against goes in ``reference``).
        undefined: When the value is undefined (written 0), or None.
        range: (low, high) of the values where known (None for an open side); not on the
            wire (docs/value_ranges.md, benchmarks/value_ranges.py).
        version: Computation version: bump in the same change as anything that moves the
            values (it enters the fingerprint).
        stage: What the feature reads: ``parse``, ``languagetool`` or ``embedding``.
        compute: Its own function (one value), or None when a family computes it.
        family: The family function that computes it, or None.
        reference: What the value was checked against (not on the wire).
    """

    name: str
    tier: int
    group: str
    definition: str
    unit: str
    source: str
    undefined: Undefined | None = None
    range: tuple[float | None, float | None] | None = None
    version: int = 1
    stage: Stage = "parse"
    compute: Callable[[Any], float] | None = field(default=None, compare=False)
    family: str | None = None
    reference: str = ""

    @property
    def value_range(self) -> tuple[float | None, float | None]:
        """(low, high) its values lie in: the registration's ``range``, else its unit's
        (``UNIT_RANGES``), else unbounded (scores, grades, bits)."""
        if self.range is not None:
            return self.range
        return UNIT_RANGES.get(self.unit, (None, None))

    @property
    def spec(self) -> FeatureSpec:
        """The wire entry: the definition as sentences, then its undefined case, then (for
        the parsed sources) how the text is parsed."""
        text = sentences(self.definition)
        if self.undefined is not None:
            text += " " + self.undefined.sentence()
        if self.source in PARSED_SOURCES:
            text += PARSED_TEXT
        return FeatureSpec(
            name=self.name,
            tier=self.tier,
            group=self.group,
            definition=text,
            unit=self.unit,
            source=self.source,
            undefined=self.undefined,
        )


@dataclass(frozen=True)
class Family:
    """A function returning several named values from one pass."""

    name: str
    stage: Stage
    compute: Callable[..., Mapping[str, float]] = field(compare=False)


class RegistryError(ValueError):
    """A registration that contradicts another (raised at import or startup, not per request)."""


class Registry:
    """Registered features in registration order, and the families that compute several."""

    def __init__(self) -> None:
        self._features: dict[str, Feature] = {}
        self._families: dict[str, Family] = {}

    # -- registration ---------------------------------------------------------------------

    def add(self, feature: Feature) -> Feature:
        """Register ``feature``; a second registration of a name is an error."""
        if feature.name in self._features:
            raise RegistryError(f"feature {feature.name!r} is registered twice")
        if (feature.compute is None) == (feature.family is None):
            raise RegistryError(
                f"feature {feature.name!r} needs exactly one of a function or a family"
            )
        self._features[feature.name] = feature
        return feature

    def feature(
        self, name: str, **meta: Any
    ) -> Callable[[Callable[[Any], float]], Callable[[Any], float]]:
        """Decorator: the function computes the feature ``name`` (``meta``: Feature's fields)."""

        def register(function: Callable[[Any], float]) -> Callable[[Any], float]:
            self.add(Feature(name=name, compute=function, **meta))
            return function

        return register

    def value(self, name: str, *, family: str, **meta: Any) -> Feature:
        """Register one value of the family ``family`` (registered beside its function)."""
        return self.add(Feature(name=name, family=family, **meta))

    def family(
        self, name: str, stage: Stage = "parse"
    ) -> Callable[[Callable[..., Mapping[str, float]]], Callable[..., Mapping[str, float]]]:
        """Decorator: the function returns the values registered with ``family=name``."""

        def register(
            function: Callable[..., Mapping[str, float]],
        ) -> Callable[..., Mapping[str, float]]:
            if name in self._families:
                raise RegistryError(f"family {name!r} is registered twice")
            self._families[name] = Family(name, stage, function)
            return function

        return register

    # -- reading ----------------------------------------------------------------------------

    @property
    def features(self) -> tuple[Feature, ...]:
        """Every registered feature, in registration order."""
        return tuple(self._features.values())

    def __getitem__(self, name: str) -> Feature:
        return self._features[name]

    def __contains__(self, name: object) -> bool:
        return name in self._features

    def family_names(self, family: str) -> tuple[str, ...]:
        """The names registered for ``family``, in registration order."""
        return tuple(f.name for f in self._features.values() if f.family == family)

    def ordered(self, order: Sequence[str] = ()) -> tuple[Feature, ...]:
        """Registered features, those named in ``order`` first in that order, the others
        after them in registration order; a name in ``order`` that is not registered is an
        error."""
        unknown = [name for name in order if name not in self._features]
        if unknown:
            raise RegistryError(f"column order names unregistered features: {unknown}")
        listed = set(order)
        return (
            *(self._features[name] for name in order),
            *(f for f in self._features.values() if f.name not in listed),
        )

    def catalogue(
        self, order: Sequence[str] = (), *, languagetool: bool = True
    ) -> tuple[FeatureSpec, ...]:
        """The wire entries in column order: ``ordered(order)``, the ``languagetool`` stage
        last and only when ``languagetool``."""
        features = self.ordered(order)
        base = [f.spec for f in features if f.stage != "languagetool"]
        lt = [f.spec for f in features if f.stage == "languagetool"] if languagetool else []
        return (*base, *lt)

    def versions(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Name -> computation version (of ``names``, or every registered feature)."""
        chosen = self._features if names is None else names
        return {name: self._features[name].version for name in chosen}

    # -- checking and computing ----------------------------------------------------------

    def check(self, samples: Mapping[Stage, Sequence[Any]] | None = None) -> None:
        """Fail unless every family has registered values, every value names a registered
        family, and (on ``samples``: inputs per stage) each family returns exactly the names
        registered for it. Run once at startup, never per request."""
        for feature in self._features.values():
            if feature.family is not None and feature.family not in self._families:
                raise RegistryError(
                    f"feature {feature.name!r} names an unregistered family {feature.family!r}"
                )
        for family in self._families.values():
            names = self.family_names(family.name)
            if not names:
                raise RegistryError(f"family {family.name!r} has no registered values")
            for sample in (samples or {}).get(family.stage, ()):
                returned = tuple(family.compute(*sample))
                if sorted(returned) != sorted(names):
                    raise RegistryError(
                        f"family {family.name!r} returns {sorted(set(returned) - set(names))} "
                        f"unregistered and misses {sorted(set(names) - set(returned))}"
                    )

    def compute(self, stage: Stage, *inputs: Any) -> dict[str, float]:
        """Every ``stage`` value for one document (``inputs``: what the stage reads)."""
        values: dict[str, float] = {}
        for feature in self._features.values():
            if feature.stage == stage and feature.compute is not None:
                values[feature.name] = feature.compute(*inputs)
        for family in self._families.values():
            if family.stage == stage:
                values.update(family.compute(*inputs))
        return values


REGISTRY = Registry()
"""The project's features: every module under engine/features registers into it."""
