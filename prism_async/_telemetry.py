"""Optional OpenTelemetry spans: one per HTTP exchange, one per job wait.

Installed with the ``otel`` extra (``opentelemetry-api``). Without it, :func:`tracer` is
None and nothing here costs more than that check: ``opentelemetry`` is looked for once, at
the first exchange, never when ``prism_async`` is imported. With it, spans go to whatever
tracer provider the application configured; with none configured, no span is made.

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
#: opentelemetry's ProxyTracer class and "no provider configured" test, once loaded.
_proxy_type: Any = None
_unconfigured: Any = None


def tracer() -> Any | None:
    """The library's tracer; None without ``opentelemetry-api``, and None while the
    application has configured no tracer provider. The API's tracer then makes no-op
    spans, and a span for nothing cost about 20 µs an exchange (its attributes, the
    context it attaches). Once a provider is set, the next exchange has its span."""
    found = _tracer if _tracer is not _UNSET else _load()
    if found is not None and type(found) is _proxy_type and _unconfigured():
        return None
    return found


def _load() -> Any | None:
    global _tracer, _proxy_type, _unconfigured
    try:
        from opentelemetry import trace
    except ImportError:
        _tracer = None
        return None
    idle = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)

    def unconfigured() -> bool:
        return isinstance(trace.get_tracer_provider(), idle)

    _proxy_type, _unconfigured = trace.ProxyTracer, unconfigured
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
