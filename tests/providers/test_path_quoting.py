"""Every path parameter of every provider is one URL path segment, whatever the id holds.

The emulators make their own ids, so an id with ``/``, ``?``, ``#``, ``%`` or a space cannot
be served by them; the sans-IO flows are driven instead and the URL each request is built
with is read back: the id is quoted with ``urllib.parse.quote(value, safe="")``, so it is
exactly one segment and decodes to the id itself. NanoGPT has no path parameter: its ids go
in the query string, which the transport encodes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from prism_async.providers import APIStatusError, HttpRequest, HttpResponse, JobHandle
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider, TemplateRequest
from prism_async.testing import drive

AWKWARD = "a/b?c#d%e f"
IDS = st.text(min_size=1, max_size=40)


def not_found(request: HttpRequest) -> HttpResponse:
    body = {"message": "not found", "code": "not_found", "error": "not found"}
    return HttpResponse(status=404, body=json.dumps(body).encode(), headers={})


def sent_requests(flow: Any) -> list[HttpRequest]:
    """The requests a flow sent before its 404 answer raised."""
    effects: list[Any] = []
    with pytest.raises(APIStatusError):
        drive(flow, not_found, effects=effects)
    return [e for e in effects if isinstance(e, HttpRequest)]


def segments_after(url: str, base: str) -> list[str]:
    """The raw path segments of ``url`` below ``base``; nothing in a query or fragment."""
    parts = urlsplit(url)
    assert not parts.query
    assert not parts.fragment
    prefix = urlsplit(base).path
    assert parts.path.startswith(prefix + "/")
    return parts.path[len(prefix) + 1 :].split("/")


# -- lipsync: GET /v2/generate/{id}, POST /v2/generate/{id}/cancel ------------------------

SYNC = "https://sync.test"


@given(job_id=IDS)
@example(job_id=AWKWARD)
def test_lipsync_status_quotes_the_job_id(job_id: str) -> None:
    provider = LipsyncProvider(api_key="sk-sync-test", base_url=SYNC)
    handle = JobHandle(provider="lipsync", id=job_id)
    for wait in (False, True):
        (request,) = sent_requests(provider.status_flow(handle, wait=wait))
        assert segments_after(request.url, SYNC) == ["v2", "generate", quote(job_id, safe="")]
        assert unquote(segments_after(request.url, SYNC)[2]) == job_id


@given(job_id=IDS)
@example(job_id=AWKWARD)
def test_lipsync_cancel_quotes_the_job_id(job_id: str) -> None:
    provider = LipsyncProvider(api_key="sk-sync-test", base_url=SYNC)
    handle = JobHandle(provider="lipsync", id=job_id)
    (request,) = sent_requests(provider.cancel_flow(handle))
    segments = segments_after(request.url, SYNC)
    assert segments == ["v2", "generate", quote(job_id, safe=""), "cancel"]
    assert unquote(segments[2]) == job_id


# -- prism: generations/{id}, templates/{id}, templates/{id}/generate ---------------------

PRISM = "https://prism.test/api"


def prism() -> PrismProvider:
    return PrismProvider(api_key="prism_sk_test", base_url=PRISM)


@given(gen_id=IDS)
@example(gen_id=AWKWARD)
def test_prism_status_quotes_the_generation_id(gen_id: str) -> None:
    handle = JobHandle(provider="prism", id=gen_id)
    (request,) = sent_requests(prism().status_flow(handle))
    assert segments_after(request.url, PRISM) == ["generations", quote(gen_id, safe="")]


@given(template_id=IDS.filter(str.strip))
@example(template_id=AWKWARD)
def test_prism_template_routes_quote_the_template_id(template_id: str) -> None:
    quoted = quote(template_id, safe="")
    (request,) = sent_requests(prism().template_flow(template_id))
    assert segments_after(request.url, PRISM) == ["templates", quoted]
    # The submit fetches the template first (free), then would POST its generate route.
    (fetch,) = sent_requests(
        prism().submit_flow(TemplateRequest(template_id=template_id), idempotency_key="k")
    )
    assert segments_after(fetch.url, PRISM) == ["templates", quoted]
    unchecked = TemplateRequest(template_id=template_id, fetch_template=False)
    (create,) = sent_requests(prism().submit_flow(unchecked, idempotency_key="k"))
    assert segments_after(create.url, PRISM) == ["templates", quoted, "generate"]


# -- nanogpt: no path parameter; ids go as query parameters -------------------------------

NANO = "https://nano.test/api"


@given(run_id=IDS)
@example(run_id=AWKWARD)
def test_nanogpt_ids_go_in_the_query_never_the_path(run_id: str) -> None:
    provider = NanoGPTProvider(api_key="ngpt-test", base_url=NANO)
    handle = JobHandle(provider="nanogpt", id=run_id, extra={"model": "veo2-video"})
    requests = sent_requests(provider.status_flow(handle))
    assert requests
    for request in requests:
        assert urlsplit(request.url).path in ("/api/video/status", "/api/generate-video/status")
        assert run_id in dict(request.params).values()
