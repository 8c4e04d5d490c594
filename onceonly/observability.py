"""What operators watch: the request id every log line and audit entry of one HTTP request
share, the Prometheus metrics, and the JSON log format.

Kept outside ``web`` so the core (exchange, audit) can count and read the request id without
importing the web layer. Metrics are module-level ``prometheus_client`` objects: with
``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported (``onceonly serve`` does it),
every worker process writes its samples to files there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Histogram
from pythonjsonlogger.core import RESERVED_ATTRS

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")
"""A request id a trusted proxy may hand over: what fits the audit column (64) and a log line
without quoting; nginx's ``$request_id`` is 32 hex digits."""

_request_id: ContextVar[str | None] = ContextVar("onceonly_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the HTTP request being served, or ``None`` outside one (CLI, workers)."""
    return _request_id.get()


def set_request_id(value: str | None) -> Any:
    """Make ``value`` the current request id; returns the token :func:`reset_request_id` takes."""
    return _request_id.set(value)


def reset_request_id(token: Any) -> None:
    _request_id.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(header: str | None) -> str | None:
    """``header`` when it is a well-formed request id, else ``None`` (a new one is drawn)."""
    if header and REQUEST_ID_RE.fullmatch(header):
        return header
    return None


# --- metrics ------------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "onceonly_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "onceonly_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
EVIDENCE_DECISIONS = Counter(
    "onceonly_evidence_decisions",
    "Pieces of evidence asked for, by outcome (issued, denied, unavailable, failed, ...).",
    ["outcome"],
)
AUDIT_APPEND = Histogram(
    "onceonly_audit_append_seconds",
    "Time a request waits for its audit entries to be committed durably.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONNECTOR_ERRORS = Counter(
    "onceonly_connector_errors",
    "Owner sources that did not answer (unavailable, timeout, refused), by owner and reason.",
    ["owner", "reason"],
)


# --- logs ---------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record so each line of one request can be found."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def log_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server and every worker process: one JSON
    object per line (python-json-logger) or plain text, each with the request id; uvicorn's
    own access log is replaced by ``onceonly.access`` (which knows the request id)."""
    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": fmt,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level},
    }
