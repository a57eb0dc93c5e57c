"""Which optional extras are installed, asked without importing them."""

from __future__ import annotations

import importlib.util

SERVER_MODULES = (
    "litestar",
    "uvicorn",
    "prometheus_client",
    "torch",
    "transformers",
    "spacy",
)
"""What the server side imports beyond the base install (the ``server`` extra)."""


def missing_server_modules() -> list[str]:
    """The server extra's top-level modules that cannot be imported here."""
    missing = []
    for name in SERVER_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def server_extra_hint(command: str) -> str | None:
    """A one-line answer for a command that needs the server extra, None when installed."""
    missing = missing_server_modules()
    if not missing:
        return None
    return (
        f"`hemma-features {command}` needs the server extra (missing: {', '.join(missing)}): "
        "pip install 'hemma-features[server]'"
    )
