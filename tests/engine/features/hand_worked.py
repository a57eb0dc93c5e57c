"""``@hand_worked(name, ...)``: the test checks these features on small texts (or inputs)
whose values are worked out by hand, in its docstring or comments.

The marker does nothing at run time; tests/engine/features/test_registry.py reads it from
the test modules' source (their AST) and fails for a registered feature that no hand-worked
test names (beside the ``KNOWN_MISSING`` it lists), so a new feature comes with one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=Callable[..., object])


def hand_worked(*names: str) -> Callable[[T], T]:
    """Mark a test as the hand-worked check of the features ``names``."""

    def mark(test: T) -> T:
        test.hand_worked = names  # type: ignore[attr-defined]
        return test

    return mark
