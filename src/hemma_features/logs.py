"""structlog, configured once: JSON off a TTY, readable console on one, secrets redacted.

Standard-library loggers (uvicorn, httpx, ...) go through the same processors, so every
line the process writes has the same keys and no credentials.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from hemma_features.redaction import redact_value
from hemma_features.terminal import printable


def redact_event(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: mask URL credentials and registered secrets in every value."""
    return {key: redact_value(value) for key, value in event.items()}


def escape_for_terminal(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor for the console: text values (an essay id, a path) with every
    character a terminal would act on written as its escape (``hemma_features.terminal``);
    JSON lines escape them already."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = printable(value)
    return event


class _HemmaHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the root handler this module installed, so configuring twice replaces it."""

    def __init__(self) -> None:
        super().__init__(_Stderr())


class _Stderr:
    """Whatever ``sys.stderr`` is at write time; a closed or broken stderr drops the line.

    A log line must never fail the request that logs it.
    """

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto", level: int = logging.INFO
) -> None:
    """Configure structlog and the standard-library root logger (idempotent).

    Args:
        fmt: ``json``, ``console`` or ``auto`` (JSON unless stderr is a terminal).
        level: Minimum level to emit.
    """
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    before_render: list[structlog.typing.Processor] = [] if use_json else [escape_for_terminal]
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_event,
            *before_render,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = _HemmaHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_event,
                *before_render,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _HemmaHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def library_logger(name: str) -> Any:
    """A structlog logger for library code (the client) that obeys the standard-library
    level of ``name``: silent below WARNING in a notebook that configured nothing, and
    rendered like every other line once ``configure_logging`` (or the application's own
    logging set-up) asks for more."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[redact_event, structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
