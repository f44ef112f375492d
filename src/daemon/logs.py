"""One logging setup for both daemons, their child processes and the development tooling:
structlog to stderr, one line per event, readable on a terminal (`console`) or one JSON object
per line for machines (`json`), filtered at a level, with fields bound for the whole process
(which controller, which child process) merged into every line."""

from __future__ import annotations

import logging
import sys

import structlog

FORMATS = ("console", "json")
LEVELS = ("debug", "info", "warning", "error", "critical")


def configure(log_format: str = "console", level: str = "info", **bound: str) -> None:
    """Configure structlog for this process; `bound` fields go on every line it logs."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Loggers are made once, at first use (thousands of simulated agents log in one process).
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**bound)
    # Libraries log through stdlib logging; keep their warnings, drop their chatter.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
