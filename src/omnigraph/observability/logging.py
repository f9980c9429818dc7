"""Log lines: JSON, one object a line, in production; readable columns in development.

structlog's own lines and those of the standard library (uvicorn, SQLAlchemy, httpx) go through
one handler, so every line has the same fields: ``timestamp`` (ISO 8601, UTC), ``level``,
``event``, ``logger``, the ``request_id`` of the request being served (bound by
:mod:`omnigraph.core.request_id`) and, while a trace is being recorded, its ``trace_id`` and
``span_id``.

Example::

    configure_logging("json")
    structlog.get_logger("omnigraph").info("order_served", source="wms")
    # {"source": "wms", "event": "order_served", "request_id": "4f0c...", "level": "info",
    #  "logger": "omnigraph", "timestamp": "2026-11-20T10:00:00.000000Z"}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import Processor

__all__ = ["LogFormat", "configure_logging", "show_library_lines"]

LogFormat = Literal["json", "console"]
# A line per request sent: the upstream metrics and spans say it better.
QUIET_LOGGERS = ("httpx", "httpcore")
# What every command would say at info (alembic's "Context impl SQLiteImpl.", each migration
# applied): warnings only, unless asked for (--verbose, or OMNIGRAPH_LOG_LEVEL=debug).
VERBOSE_LOGGERS = ("alembic",)


def add_trace_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """The current span's trace and span ids, so a log line leads to its trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def drop_color_message(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """uvicorn adds its message again with terminal colour codes: one copy is enough."""
    event.pop("color_message", None)
    return event


def configure_logging(
    log_format: LogFormat,
    *,
    level: str | int = "INFO",
    stream: TextIO | None = None,
    verbose: bool = False,
    show_locals: bool = False,
) -> None:
    """Send every log line of the process to ``stream`` (stderr) in ``log_format``;
    ``verbose`` also lets the libraries' info lines through (database migrations).

    A traceback carries each frame's local variables only with ``show_locals`` (the command
    line turns it on in development): they hold what a request carried (tokens, customer
    data), which production logs must not."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        drop_color_message,
        add_trace_ids,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: a test's structlog.testing.capture_logs must still see every line
        cache_logger_on_first_use=False,
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=show_locals)
        )
    )
    finishing: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        finishing.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=show_locals)
            )
        )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared, processors=[*finishing, renderer]
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in QUIET_LOGGERS:  # unless debugging
        logging.getLogger(name).setLevel(
            logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
        )
    if verbose or root.level <= logging.DEBUG:
        show_library_lines()
    else:
        for name in VERBOSE_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's loggers keep their own handlers unless told otherwise: send them to ours
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True


def show_library_lines() -> None:
    """Let the libraries' info lines through at the level in force (``--verbose``)."""
    for name in VERBOSE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
