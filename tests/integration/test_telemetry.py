"""Observability: retry log records on ``prism_async.transport``, and OpenTelemetry spans
(one per HTTP exchange, one per job wait) recorded by the SDK's in-memory exporter."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import prism_async._telemetry as telemetry
from prism_async import Client, EngineConfig, NotFoundError, PollPolicy, VideoRequest
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.testing import EmulatorServer, Fault, FaultKind
from prism_async.testing.nanogpt import NanoGPTEmulator
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.anyio

QUICK = EngineConfig(poll=PollPolicy(first_delay=0.02, min_interval=0.02, max_interval=0.05))
REQUEST = VideoRequest(model="veo2-video", prompt="a lighthouse")


@pytest.fixture
async def nano() -> AsyncIterator[tuple[NanoGPTEmulator, EmulatorServer]]:
    emulator = NanoGPTEmulator(queue_seconds=0.0, run_seconds=0.05, balance=Decimal(100))
    async with EmulatorServer([emulator]) as server:
        yield emulator, server


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The library's tracer, from a provider of this test's own (the global one untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_tracer", provider.get_tracer("prism_async"))
    yield exporter
    provider.shutdown()


def client_of(server: EmulatorServer, emulator: NanoGPTEmulator) -> Client:
    provider = NanoGPTProvider(api_key=emulator.api_key, base_url=server.base_url("nanogpt"))
    return Client(provider, config=QUICK, transport_config=FAST_RETRIES)


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


async def test_each_exchange_and_each_wait_is_a_span(
    nano: tuple[NanoGPTEmulator, EmulatorServer], spans: InMemorySpanExporter
) -> None:
    emulator, server = nano
    async with client_of(server, emulator) as client:
        result = await client.generate(REQUEST)

    finished = spans.get_finished_spans()
    (create,) = by_name(finished, "POST submit")
    assert create.attributes is not None
    assert create.attributes["http.request.method"] == "POST"
    assert create.attributes["http.route"] == "submit"
    assert create.attributes["prism_async.provider"] == "nanogpt"
    assert create.attributes["http.response.status_code"] == 202
    polls = by_name(finished, "GET status")
    assert len(polls) == emulator.counts.by_route["status"] >= 1
    (wait,) = by_name(finished, "prism_async.wait")
    assert wait.attributes is not None
    assert wait.attributes["prism_async.job_id"] == result.id
    # The polls run in the engine's own tasks: they are spans of their own, inside the wait.
    assert wait.start_time is not None and wait.end_time is not None
    assert all(wait.start_time <= (p.start_time or 0) <= wait.end_time for p in polls)
    for span in finished:  # no credential, no URL with its query anywhere
        for value in (span.attributes or {}).values():
            assert emulator.api_key not in str(value) and "?" not in str(value)


async def test_an_error_answer_marks_its_span_as_an_error(
    nano: tuple[NanoGPTEmulator, EmulatorServer], spans: InMemorySpanExporter
) -> None:
    emulator, server = nano
    async with client_of(server, emulator) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get("nanogpt:vid_unknown")
    (status,) = by_name(spans.get_finished_spans(), "GET status")
    assert status.attributes is not None
    assert status.attributes["http.response.status_code"] == 404
    assert status.attributes["prism_async.request_id"] == caught.value.request_id
    assert status.status.status_code is StatusCode.ERROR


async def test_each_retry_is_a_log_record_with_provider_kind_and_try(
    nano: tuple[NanoGPTEmulator, EmulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    emulator, server = nano
    emulator.faults.inject("status", Fault(kind=FaultKind.STATUS, status=503), times=2)
    with caplog.at_level(logging.INFO, logger="prism_async.transport"):
        async with client_of(server, emulator) as client:
            job = await client.generate(REQUEST)

    retries = [r for r in caplog.records if r.name == "prism_async.transport"]
    assert [getattr(r, "prism_async_attempt", None) for r in retries] == [1, 2]
    for record in retries:
        assert record.levelno == logging.INFO
        assert getattr(record, "prism_async_provider", None) == "nanogpt"
        assert getattr(record, "prism_async_kind", None) == "status"
        assert getattr(record, "prism_async_job_id", None) == job.id
        assert job.id in record.getMessage()
        assert "HTTP 503" in record.getMessage()
        assert emulator.api_key not in record.getMessage()


def test_without_opentelemetry_importing_the_library_loads_none_of_it() -> None:
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if it were not installed\n"
        "import prism_async, prism_async._telemetry as t\n"
        "assert t.tracer() is None\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_importing_the_library_does_not_import_opentelemetry_even_when_installed() -> None:
    script = (
        "import sys, prism_async\n"
        "from prism_async import Client\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_no_span_is_made_until_the_application_configures_a_tracer_provider() -> None:
    # The API's own tracer makes no-op spans; building them cost ~20 µs an exchange. A
    # fresh interpreter: the global provider can be set only once.
    code = (
        "import prism_async._telemetry as t\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "assert t.tracer() is None, 'a tracer with no provider configured'\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "assert t.tracer() is not None, 'no tracer once a provider is configured'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
