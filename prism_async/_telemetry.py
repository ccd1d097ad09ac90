"""Optional OpenTelemetry spans: one per HTTP exchange, one per job wait.

Installed with the ``otel`` extra (``opentelemetry-api``). Without it, :func:`tracer` is
None and nothing here costs more than that check: ``opentelemetry`` is looked for once, at
the first exchange, never when ``prism_async`` is imported. With it, spans go to whatever
tracer provider the application configured (none: the API's no-op one).

Span attributes never hold a credential or a full URL (a presigned URL's query is a
credential): the method, the request's kind (``submit``, ``status``...) as the route,
the server's host, the provider, the status and the API's request id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["job_span", "tracer"]

_UNSET: Any = object()
_tracer: Any = _UNSET


def tracer() -> Any | None:
    """The library's tracer, or None without ``opentelemetry-api``."""
    global _tracer
    if _tracer is _UNSET:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = None
        else:
            _tracer = trace.get_tracer("prism_async")
    return _tracer


@contextlib.contextmanager
def job_span(operation: str, provider: str, job_id: str) -> Iterator[None]:
    """A span around one job operation (``wait``), when tracing is available."""
    found = tracer()
    if found is None:
        yield
        return
    attributes = {"prism_async.provider": provider, "prism_async.job_id": job_id}
    with found.start_as_current_span(f"prism_async.{operation}", attributes=attributes):
        yield
