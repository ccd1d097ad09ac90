"""The Prism provider, sans-IO: flows driven by hand with scripted responses, no event loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    FailureKind,
    InsufficientCreditsError,
    JobHandle,
    JobStatus,
    Media,
    NotFoundError,
    PermissionDeniedError,
    ProviderResponseError,
    RequestValidationError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableError,
    UnsupportedRequestError,
    VideoProvider,
    VideoRequest,
)
from prism_async import _registry as registry
from prism_async._http import (
    FileBody,
    FilePart,
    HttpRequest,
    HttpResponse,
    Multipart,
    RetryMode,
    StatFile,
)
from prism_async._media import to_data_uri
from prism_async._secrets import Secret
from prism_async.providers import (
    SupportsCancel,
    SupportsCostEstimate,
    SupportsJobLimit,
    SupportsList,
    SupportsModels,
)
from prism_async.providers.prism import (
    IMAGE_LIMIT,
    Character,
    CharacterRequest,
    PrismProvider,
    PrismVideoRequest,
    Template,
    TemplateRequest,
    TemplateVariable,
    check_template_request,
)
from prism_async.providers.prism._wire import STATUSES

BASE = "https://prism.test/api"
KEY = "prism_sk_secret_value"
NOW = datetime(2026, 2, 26, 12, 0, tzinfo=timezone.utc)
PNG = Media.from_bytes(b"\x89PNG" + bytes(16), "image/png", name="frame.png")
ASPECTS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
CREATED = {
    "data": {
        "generations": [{"id": "gen_1", "asset_id": "a1", "request_id": "r1", "status": "queued"}],
        "endpoint_id": "fal-ai/veo3",
        "variant": "text-to-video",
        "metadata": {"model_name": "veo-3.1", "credits_charged": 120, "num_generations": 1},
    }
}
PRESIGNED = {
    "s3_key": "users/u/user-uploads/b/file.png",
    "upload_url": "https://bucket.test/put?sig=abc",
    "content_type": "image/png",
    "max_bytes": 20971520,
}


def provider() -> PrismProvider:
    return PrismProvider(api_key=KEY, base_url=BASE)


def reply(body: Any, status: int = 200, **headers: str) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, headers=headers, body=raw, received_at=NOW)


class Script:
    """Answers a flow's effects: HTTP responses in order, file sizes by path."""

    def __init__(self, *responses: HttpResponse, sizes: dict[str, int] | None = None) -> None:
        self.responses: Iterator[HttpResponse] = iter(responses)
        self.sizes = sizes or {}
        self.effects: list[object] = []

    @property
    def requests(self) -> list[HttpRequest]:
        return [e for e in self.effects if isinstance(e, HttpRequest)]

    def run(self, flow: Any) -> Any:
        try:
            effect = next(flow)
            while True:
                self.effects.append(effect)
                if isinstance(effect, StatFile):
                    value: object = self.sizes[str(effect.path)]
                else:
                    value = next(self.responses)
                effect = flow.send(value)
        except StopIteration as stop:
            return stop.value


def submit(request: object, script: Script) -> tuple[JobHandle, ...]:
    handles: tuple[JobHandle, ...] = script.run(
        provider().submit_flow(request, idempotency_key="k")
    )
    return handles


def refused_before_any_effect(flow: Any) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        next(flow)
    return caught.value


# -- configuration -------------------------------------------------------------------------


def test_provider_meets_the_provider_protocol_and_is_registered() -> None:
    assert isinstance(provider(), VideoProvider)
    assert VideoProvider in PrismProvider.__mro__  # declared, not merely matching
    assert registry.load("prism") is PrismProvider


def test_provider_declares_no_optional_capability() -> None:
    # Its own flows (uploads, templates, characters, assets) are Prism's, not the protocol's.
    for absent in (
        SupportsCancel,
        SupportsList,
        SupportsCostEstimate,
        SupportsModels,
        SupportsJobLimit,
    ):
        assert not isinstance(provider(), absent), absent.__name__


def test_from_env_reads_key_and_base_url_and_repr_hides_the_key() -> None:
    made = PrismProvider.from_env({"PRISM_API_KEY": KEY, "PRISM_BASE_URL": "http://x/api/"})
    assert made.base_url == "http://x/api"
    assert KEY not in repr(made)
    assert PrismProvider.from_env({"PRISM_API_KEY": KEY}).base_url == (
        "https://www.prismvideos.com/api"
    )
    with pytest.raises(RequestValidationError, match="PRISM_API_KEY"):
        PrismProvider.from_env({})


def test_every_api_request_carries_a_bearer_secret_that_is_never_shown() -> None:
    script = Script(reply(CREATED))
    submit(VideoRequest(model="veo-3.1", prompt="a cat"), script)
    auth = script.requests[0].header("Authorization")
    assert isinstance(auth, Secret)
    assert auth.reveal() == f"Bearer {KEY}"
    assert KEY not in repr(script.requests[0])


# -- create: body and mapping --------------------------------------------------------------


def test_neutral_text_to_video_maps_onto_the_create_body() -> None:
    script = Script(reply(CREATED))
    request = VideoRequest(
        model="veo-3.1",
        prompt="a cat",
        duration=8,
        aspect_ratio="9:16",
        resolution="1080p",
        audio=True,
        count=1,
        extra={"templateId": "t1"},
    )
    (handle,) = submit(request, script)
    sent = script.requests[0]
    assert (sent.method, sent.url, sent.kind) == ("POST", f"{BASE}/generations", "submit")
    assert sent.retry is RetryMode.REFUSED_ONLY
    assert sent.json == {
        "prompt": "a cat",
        "modelName": "veo-3.1",
        "aspectRatio": "9:16",
        "duration": "8s",
        "resolution": "1080p",
        "count": 1,
        "hasAudio": True,
        "templateId": "t1",
    }
    assert handle == JobHandle(provider="prism", id="gen_1", extra={"credits": "120"})


@given(st.integers(min_value=1, max_value=10))  # within the documented 1-10 s
def test_duration_in_seconds_is_sent_with_an_s_suffix(seconds: int) -> None:
    script = Script(reply(CREATED))
    submit(VideoRequest(model="m", prompt="p", duration=seconds), script)
    assert script.requests[0].json["duration"] == f"{seconds}s"


@given(st.one_of(st.integers(max_value=0), st.text().filter(lambda t: not t[:-1].isdigit())))
def test_a_duration_that_is_not_a_positive_number_of_seconds_is_refused(value: Any) -> None:
    flow = provider().submit_flow(
        PrismVideoRequest(model="m", prompt="p", duration=value), idempotency_key="k"
    )
    assert refused_before_any_effect(flow).field == "duration"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (VideoRequest(model="m", prompt="p", negative_prompt="blur"), "negative_prompt"),
        (VideoRequest(model="m", prompt="p", seed=7), "seed"),
        (VideoRequest(model="m", image=Media.from_url("https://x.test/a.png")), "prompt"),
        (
            VideoRequest(model="m", prompt="p", image=Media.from_url("https://x/a.png")),
            "image",
        ),
        (
            VideoRequest(model="m", prompt="p", video=Media.from_url("https://x/a.mp4")),
            "video",
        ),
    ],
)
def test_what_prism_cannot_express_is_refused_naming_the_field(
    request_: VideoRequest, field: str
) -> None:
    error = refused_before_any_effect(provider().submit_flow(request_, idempotency_key="k"))
    assert error.field == field


def test_a_url_for_a_key_field_is_refused_as_unsupported() -> None:
    request = PrismVideoRequest(
        model="m", prompt="p", ingredient_images=(PNG, Media.from_url("https://x.test/b.png"))
    )
    flow = provider().submit_flow(request, idempotency_key="k")
    with pytest.raises(UnsupportedRequestError, match="storage keys only") as caught:
        next(flow)
    assert caught.value.field == "ingredient_images[1]"


@given(st.integers().filter(lambda n: not 1 <= n <= 4))
def test_count_outside_1_to_4_is_refused(count: int) -> None:
    flow = provider().submit_flow(
        PrismVideoRequest(model="m", prompt="p", count=count), idempotency_key="k"
    )
    assert refused_before_any_effect(flow).field == "count"


@given(st.text().filter(lambda t: t not in ASPECTS))
def test_aspect_ratio_outside_the_documented_set_is_refused(aspect: str) -> None:
    flow = provider().submit_flow(
        PrismVideoRequest(model="m", prompt="p", aspect_ratio=aspect), idempotency_key="k"
    )
    assert refused_before_any_effect(flow).field == "aspect_ratio"


@given(st.sampled_from(ASPECTS))
def test_every_documented_aspect_ratio_is_sent(aspect: str) -> None:
    script = Script(reply(CREATED))
    submit(PrismVideoRequest(model="m", prompt="p", aspect_ratio=aspect), script)
    assert script.requests[0].json["aspectRatio"] == aspect


def test_media_of_the_wrong_kind_for_its_key_field_is_refused() -> None:
    request = PrismVideoRequest(model="m", prompt="p", audio=PNG)
    error = refused_before_any_effect(provider().submit_flow(request, idempotency_key="k"))
    assert error.field == "audio"
    assert "audio/*" in error.reason


# -- uploads -------------------------------------------------------------------------------


def test_a_local_start_frame_is_presigned_put_streamed_and_sent_as_its_key(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    script = Script(reply(PRESIGNED), reply(b"", 200), reply(CREATED), sizes={str(path): 1234})
    request = VideoRequest(model="veo-3.1", prompt="p", image=Media.from_path(path))
    submit(request, script)
    stat, presign, put, create = script.effects
    assert stat == StatFile(path=path, field="image")  # the VideoRequest's own name
    assert isinstance(presign, HttpRequest) and presign.url == f"{BASE}/s3/presign-upload"
    assert presign.json == {"kind": "upload", "contentType": "image/png", "fileName": "frame.png"}
    assert isinstance(put, HttpRequest)
    assert (put.method, put.url, put.kind) == ("PUT", PRESIGNED["upload_url"], "upload")
    assert put.body == FileBody(path=path, content_type="image/png")
    assert put.header("Content-Type") == "image/png"
    assert put.header("Authorization") is None
    assert isinstance(create, HttpRequest)
    assert create.json["startFrameKey"] == PRESIGNED["s3_key"]


def test_bytes_and_data_uris_are_uploaded_from_memory() -> None:
    script = Script(reply(PRESIGNED), reply(b""), reply(PRESIGNED), reply(b""), reply(CREATED))
    uri = Media.from_data_uri("data:image/png;base64,iVBORw0KGgo=")
    submit(PrismVideoRequest(model="m", prompt="p", start_frame=PNG, end_frame=uri), script)
    puts = [r for r in script.requests if r.method == "PUT"]
    assert puts[0].body == PNG.data
    assert puts[1].body == b"\x89PNG\r\n\x1a\n"


def test_a_storage_key_is_sent_as_it_is_without_any_upload() -> None:
    script = Script(reply(CREATED))
    key = Media.from_key("community/posts/post_002/beach.mp4")
    submit(PrismVideoRequest(model="m", prompt="p", source_video=key), script)
    assert len(script.requests) == 1
    assert script.requests[0].json["sourceVideoKey"] == key.value


def test_the_same_file_in_two_fields_is_uploaded_once() -> None:
    script = Script(reply(PRESIGNED), reply(b""), reply(CREATED))
    submit(
        PrismVideoRequest(model="m", prompt="p", start_frame=PNG, ingredient_images=(PNG, PNG)),
        script,
    )
    body = script.requests[-1].json
    assert len(script.requests) == 3
    assert body["ingredientImageKeys"] == [PRESIGNED["s3_key"]] * 2


def test_an_image_over_20_mb_is_refused_before_any_request(tmp_path: Path) -> None:
    small, big = tmp_path / "a.png", tmp_path / "b.png"
    script = Script(sizes={str(small): 10, str(big): IMAGE_LIMIT + 1})
    request = PrismVideoRequest(
        model="m", prompt="p", start_frame=Media.from_path(small), end_frame=Media.from_path(big)
    )
    with pytest.raises(RequestValidationError, match="20 MB") as caught:
        submit(request, script)
    assert caught.value.field == "end_frame"
    assert script.requests == []


def test_a_file_over_the_presigned_max_bytes_is_refused_before_the_put(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    presigned = {**PRESIGNED, "content_type": "video/mp4", "max_bytes": 1000}
    script = Script(reply(presigned), sizes={str(video): 1001})
    request = PrismVideoRequest(model="m", prompt="p", source_video=Media.from_path(video))
    with pytest.raises(RequestValidationError, match="1000 bytes") as caught:
        submit(request, script)
    assert caught.value.field == "source_video"
    assert [r.kind for r in script.requests] == ["presign"]


def test_a_refused_put_raises_with_the_storage_error_code() -> None:
    xml = b"<Error><Code>SignatureDoesNotMatch</Code><Message>bad type</Message></Error>"
    script = Script(reply(PRESIGNED), reply(xml, 403))
    with pytest.raises(PermissionDeniedError) as caught:
        submit(PrismVideoRequest(model="m", prompt="p", start_frame=PNG), script)
    assert caught.value.code == "SignatureDoesNotMatch"


# -- create: response shapes ---------------------------------------------------------------


def _generations(n: int, key: str) -> list[dict[str, str]]:
    return [{key: f"gen_{i}", "status": "generating"} for i in range(n)]


@pytest.mark.parametrize(
    ("body", "ids", "extra"),
    [
        (
            {"data": {"generations": _generations(3, "id"), "metadata": {"credits_charged": 150}}},
            ["gen_0", "gen_1", "gen_2"],
            {"credits": "50"},
        ),
        (
            {
                "generations": _generations(2, "generation_id"),
                "credits_charged": 100,
                "latency_estimate_sec": {"typical": 127, "busy": 241},
            },
            ["gen_0", "gen_1"],
            {"credits": "50", "typical": "127"},
        ),
        ({"id": "gen_9", "status": "generating"}, ["gen_9"], {}),
        (
            {"data": {"id": "gen_9", "status": "queued"}, "credits_charged": 7},
            ["gen_9"],
            {"credits": "7"},
        ),
        ({"generations": _generations(1, "id"), "latency_estimate_sec": None}, ["gen_0"], {}),
    ],
)
def test_every_create_response_shape_gives_one_handle_per_video(
    body: dict[str, Any], ids: list[str], extra: dict[str, str]
) -> None:
    handles = submit(PrismVideoRequest(model="m", prompt="p", count=len(ids)), Script(reply(body)))
    assert [h.id for h in handles] == ids
    assert all(h.extra == extra for h in handles)


@pytest.mark.parametrize("body", [{}, {"generations": [{"status": "queued"}]}, {"data": []}, []])
def test_a_create_response_without_ids_is_a_response_error(body: Any) -> None:
    with pytest.raises(ProviderResponseError):
        submit(PrismVideoRequest(model="m", prompt="p"), Script(reply(body)))


# -- status --------------------------------------------------------------------------------

_TABLE = {
    "queued": JobStatus.QUEUED,
    "generating": JobStatus.RUNNING,
    "completed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}


@given(st.sampled_from(sorted(_TABLE)), st.randoms())
def test_documented_statuses_map_case_insensitively(raw: str, rnd: Any) -> None:
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c for c in raw)
    assert STATUSES.normalize(mixed) is _TABLE[raw]


@given(st.text().filter(lambda t: t.strip().lower() not in _TABLE))
def test_an_unknown_status_is_kept_running(raw: str) -> None:
    assert STATUSES.normalize(raw) is JobStatus.RUNNING


def status(body: dict[str, Any], handle: JobHandle | None = None, **kw: Any) -> Any:
    handle = handle or JobHandle(provider="prism", id="gen_1")
    response = attrs.evolve(reply(body), **kw)
    return Script(response).run(provider().status_flow(handle))


COMPLETED = {
    "id": "gen_1",
    "status": "completed",
    "template_id": None,
    "video_url": "https://files.test/gen_1.mp4?sig=x",
    "share_url": "https://www.prismvideos.com/workspace/s/share_1",
    "created_at": "2026-02-26T12:00:00.000Z",
    "completed_at": "2026-02-26T12:02:30.000Z",
    "error": None,
}


def test_a_completed_generation_has_its_video_expiring_an_hour_after_receipt() -> None:
    handle = JobHandle(provider="prism", id="gen_1", extra={"credits": "40"})
    result = status(COMPLETED, handle)
    assert result.status is JobStatus.SUCCEEDED
    assert result.outputs[0].url == COMPLETED["video_url"]
    assert result.outputs[0].expires_at == NOW + timedelta(hours=1)
    assert result.raw["share_url"] == COMPLETED["share_url"]
    assert result.created_at == datetime(2026, 2, 26, 12, tzinfo=timezone.utc)
    assert result.completed_at == datetime(2026, 2, 26, 12, 2, 30, tzinfo=timezone.utc)
    assert result.cost is not None and result.cost.amount == Decimal(40)
    assert result.cost.unit.value == "credits"


def test_expiry_falls_back_to_the_date_header_then_to_the_signed_url() -> None:
    dated = status(COMPLETED, received_at=None, headers={"date": "Thu, 26 Feb 2026 12:05:00 GMT"})
    assert dated.outputs[0].expires_at == datetime(2026, 2, 26, 13, 5, tzinfo=timezone.utc)
    s3 = {
        **COMPLETED,
        "video_url": "https://b.s3/x.mp4?X-Amz-Date=20260226T115000Z&X-Amz-Expires=600",
    }
    assert status(s3).outputs[0].expires_at == datetime(2026, 2, 26, 12, tzinfo=timezone.utc)


def test_a_running_generation_has_no_outputs() -> None:
    result = status({**COMPLETED, "status": "generating", "video_url": None, "completed_at": None})
    assert result.status is JobStatus.RUNNING
    assert result.outputs == ()
    assert result.completed_at is None


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("Generation timed out", FailureKind.ERROR),
        ("Content policy violation", FailureKind.MODERATION),
        ("Prompt flagged by moderation", FailureKind.MODERATION),
        (None, FailureKind.ERROR),
    ],
)
def test_a_failed_generation_tells_moderation_apart(error: str | None, kind: FailureKind) -> None:
    result = status({**COMPLETED, "status": "failed", "video_url": None, "error": error})
    assert result.status is JobStatus.FAILED
    assert result.failure.kind is kind
    assert result.failure.message == error
    assert result.failure.retryable is (kind is FailureKind.ERROR)


@pytest.mark.parametrize(
    "body",
    [{"id": "gen_1"}, {"status": "generating", "created_at": "yesterday"}, {"status": None}],
)
def test_a_malformed_status_is_a_response_error(body: dict[str, Any]) -> None:
    with pytest.raises(ProviderResponseError):
        status(body)


@given(st.floats(min_value=0.01, max_value=1e6, allow_nan=False))
def test_poll_hint_is_a_sixth_of_the_typical_latency_clamped_to_10_30(typical: float) -> None:
    handle = JobHandle(provider="prism", id="g", extra={"typical": str(typical)})
    result = status(COMPLETED)
    hint = provider().poll_hint(handle, result)
    assert hint.delay == min(30.0, max(10.0, typical / 6))


def test_poll_hint_without_an_estimate_is_the_10_second_floor() -> None:
    hint = provider().poll_hint(JobHandle(provider="prism", id="g"), status(COMPLETED))
    assert hint.delay == 10.0


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http", "code", "cls"),
    [
        (400, "validation_error", BadRequestError),
        (400, "pricing_error", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (402, "insufficient_credits", InsufficientCreditsError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (422, "invalid_template", UnprocessableError),
        (500, "generation_error", ServerError),
        (500, "server_error", ServerError),
        (503, "free_tier_paused", ServiceUnavailableError),
    ],
)
def test_every_documented_error_code_maps_to_its_exception(
    http: int, code: str, cls: type[APIStatusError]
) -> None:
    body = reply({"error": code, "message": "why"}, http, **{"x-request-id": "req_1"})
    with pytest.raises(cls) as caught:
        submit(PrismVideoRequest(model="m", prompt="p"), Script(body))
    assert (caught.value.status_code, caught.value.code) == (http, code)
    assert caught.value.message == "why"
    assert caught.value.provider == "prism"
    assert caught.value.request_id == "req_1"


def test_a_status_error_names_the_job() -> None:
    with pytest.raises(NotFoundError) as caught:
        status({"error": "not_found", "message": "Generation not found"}, status=404)
    assert caught.value.job_id == "gen_1"


# -- templates -----------------------------------------------------------------------------

UGC = Template(
    id="featured-ugc-pitch",
    input_variables=(
        TemplateVariable(key="product", type="text", required=True, max_length=10),
        TemplateVariable(key="tone", type="text", required=False, default_value="upbeat"),
        TemplateVariable(key="product_image", type="image", required=True),
        TemplateVariable(key="logo", type="image", required=True, default_value="k/logo.png"),
    ),
)
TEMPLATE_STARTED = {
    "generations": [{"generation_id": "gen_t", "status": "generating"}],
    "template_id": UGC.id,
    "credits_charged": 50,
    "latency_estimate_sec": {"typical": 127, "busy": 241},
}


@pytest.mark.parametrize(
    ("variables", "characters", "field"),
    [
        ({"product_image": "k/p.png"}, {}, "variables.product"),
        ({"product": "Mug"}, {}, "variables.product_image"),
        ({"product": "", "product_image": "k/p.png"}, {}, "variables.product"),
        ({"product": "Mug", "product_image": "k", "colour": "red"}, {}, "variables.colour"),
        ({"product": "Mug"}, {"tone": "char-1"}, "character_variables.tone"),
        ({"product": "A very long name", "product_image": "k"}, {}, "variables.product"),
        ({"product": PNG, "product_image": "k"}, {}, "variables.product"),
        (
            {"product": "Mug", "product_image": Media.from_url("https://x.test/v.mp4")},
            {},
            "variables.product_image",
        ),
    ],
)
def test_a_template_request_the_api_would_refuse_is_refused_naming_the_variable(
    variables: dict[str, Any], characters: dict[str, str], field: str
) -> None:
    request = TemplateRequest(
        template_id=UGC.id, variables=variables, character_variables=characters
    )
    with pytest.raises(RequestValidationError) as caught:
        check_template_request(request, UGC)
    assert caught.value.field == field


def test_a_character_or_a_default_satisfies_a_required_image_variable() -> None:
    request = TemplateRequest(
        template_id=UGC.id, variables={"product": "Mug"}, character_variables={"product_image": "c"}
    )
    check_template_request(request, UGC)


def test_template_variables_are_not_checked_when_the_template_does_not_list_them() -> None:
    check_template_request(TemplateRequest(template_id="t"), Template(id="t", kind="video"))


def test_a_known_template_is_checked_without_fetching_and_sent_as_json() -> None:
    script = Script(reply(TEMPLATE_STARTED))
    request = TemplateRequest(
        template_id=UGC.id,
        variables={
            "product": "Mug",
            "product_image": Media.from_url("https://x.test/p.png"),
            "logo": Media.from_key("k/logo2.png"),
            "tone": "calm",
        },
        character_variables={},
        webhook_url="https://hooks.test/prism",
        template=UGC,
    )
    (handle,) = submit(request, script)
    (sent,) = script.requests
    assert sent.url == f"{BASE}/templates/featured-ugc-pitch/generate"
    assert sent.retry is RetryMode.REFUSED_ONLY
    assert sent.json == {
        "variables": {
            "product": "Mug",
            "product_image": "https://x.test/p.png",
            "logo": "k/logo2.png",
            "tone": "calm",
        },
        "webhook_url": "https://hooks.test/prism",
    }
    assert handle.id == "gen_t"
    assert handle.extra == {"credits": "50", "typical": "127"}


def test_an_unknown_template_is_fetched_then_a_missing_variable_refused_before_paying() -> None:
    template_body = {
        "data": {
            "id": UGC.id,
            "title": "UGC",
            "input_variables": [
                {"key": "product", "label": "Product", "type": "text", "required": True}
            ],
        }
    }
    script = Script(reply(template_body))
    with pytest.raises(RequestValidationError) as caught:
        submit(TemplateRequest(template_id=UGC.id), script)
    assert caught.value.field == "variables.product"
    assert [(r.method, r.url) for r in script.requests] == [
        ("GET", f"{BASE}/templates/featured-ugc-pitch")
    ]


def test_fetch_template_false_sends_without_checking() -> None:
    script = Script(reply(TEMPLATE_STARTED))
    submit(TemplateRequest(template_id="t", fetch_template=False), script)
    assert script.requests[0].json == {"variables": {}}


def test_a_local_file_variable_sends_the_whole_request_as_multipart(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    script = Script(reply(TEMPLATE_STARTED), sizes={str(image): 99})
    request = TemplateRequest(
        template_id="featured-character-story",
        variables={"scene": "A chef cooks", "product_image": Media.from_path(image), "x": PNG},
        character_variables={"person_image": "char-1"},
        webhook_url="https://hooks.test/h",
        fetch_template=False,
    )
    submit(request, script)
    body = script.requests[0].body
    assert isinstance(body, Multipart) and script.requests[0].json is None
    fields = dict(body.fields)
    assert json.loads(str(fields["variables"])) == {
        "scene": "A chef cooks",
        "x": to_data_uri(PNG.data or b"", "image/png"),
    }
    assert json.loads(str(fields["character_variables"])) == {"person_image": "char-1"}
    assert fields["webhook_url"] == "https://hooks.test/h"
    assert fields["variables[product_image]"] == FilePart(
        path=image, content_type="image/png", filename="p.png"
    )


def test_a_template_image_over_20_mb_is_refused_before_any_request(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    script = Script(sizes={str(image): IMAGE_LIMIT + 1})
    request = TemplateRequest(
        template_id="t", variables={"img": Media.from_path(image)}, fetch_template=False
    )
    with pytest.raises(RequestValidationError, match="20 MB"):
        submit(request, script)
    assert script.requests == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (TemplateRequest(template_id=""), "template_id"),
        (TemplateRequest(template_id="t", webhook_url="ftp://x"), "webhook_url"),
        (TemplateRequest(template_id="t", variables={"v": 3}), "variables.v"),
        (TemplateRequest(template_id="t", character_variables={"v": ""}), "character_variables.v"),
        (
            TemplateRequest(template_id="t", variables={"v": Media.from_path("/x/noext")}),
            "variables.v",
        ),
    ],
)
def test_a_malformed_template_request_is_refused_before_any_effect(
    request_: TemplateRequest, field: str
) -> None:
    error = refused_before_any_effect(provider().submit_flow(request_, idempotency_key="k"))
    assert error.field == field


def test_templates_page_reads_both_documented_template_shapes() -> None:
    body = {
        "data": [
            {
                "id": "old",
                "title": "Old",
                "description": None,
                "category": "ugc",
                "duration_sec": 8,
                "prompt_template": "{{x}}",
                "input_variables": [
                    {"key": "x", "label": "X", "type": "text", "required": False, "slot": "a"}
                ],
            },
            {
                "id": "new",
                "title": "New",
                "description": "d",
                "kind": "video",
                "model_name": "veo-3.1",
            },
        ],
        "pagination": {"offset": 10, "limit": 2, "has_more": True},
    }
    script = Script(reply(body))
    page = script.run(provider().templates_flow(q="ugc", limit=2, offset=10))
    assert script.requests[0].params == (("q", "ugc"), ("limit", "2"), ("offset", "10"))
    old, new = page.items
    assert old.input_variables == (
        TemplateVariable(key="x", label="X", type="text", required=False, slot="a"),
    )
    assert old.raw["category"] == "ugc"
    assert new.input_variables is None and new.model_name == "veo-3.1"
    assert (page.has_more, page.next_offset) == (True, 12)


def test_a_malformed_page_item_names_its_index() -> None:
    body = {"data": [{"id": "ok", "name": "A"}, {"name": "no id"}], "pagination": {}}
    with pytest.raises(ProviderResponseError) as caught:
        Script(reply(body)).run(provider().characters_flow())
    assert caught.value.field == "data[1]"


# -- characters, assets, list queries -----------------------------------------------------


def test_characters_page_reads_epoch_millisecond_times() -> None:
    body = {
        "data": [{"id": "c1", "name": "Ava", "description": None, "created_at": 1767225600000}],
        "pagination": {"offset": 0, "limit": 24, "has_more": False},
    }
    page = Script(reply(body)).run(provider().characters_flow(q="av"))
    assert page.items == (
        Character(id="c1", name="Ava", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc)),
    )


def images(n: int) -> tuple[Media, ...]:
    return tuple(Media.from_url(f"https://img.test/{i}.png") for i in range(n))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (CharacterRequest(name="Ava", images=images(11)), "images"),
        (CharacterRequest(name="Ava", images=()), "images"),
        (CharacterRequest(name="x" * 61, images=images(1)), "name"),
        (CharacterRequest(name="  ", images=images(1)), "name"),
        (CharacterRequest(name="Ava", images=images(1), description="d" * 301), "description"),
        (
            CharacterRequest(
                name="Ava", images=(Media.from_data_uri("data:image/png;base64,AA=="),)
            ),
            "images[0]",
        ),
        (CharacterRequest(name="Ava", images=(Media.from_key("users/u/a.png"),)), "images[0]"),
        (CharacterRequest(name="Ava", images=(PNG,)), "images[0]"),
        (CharacterRequest(name="Ava", images=(*images(1), Media.from_path("/a.png"))), "images"),
        (CharacterRequest(name="Ava", images=(Media.from_path("/a.txt"),)), "images[0]"),
    ],
)
def test_an_invalid_character_is_refused_before_any_effect(
    request_: CharacterRequest, field: str
) -> None:
    assert refused_before_any_effect(provider().create_character_flow(request_)).field == field


@given(st.text(min_size=1, max_size=60).filter(str.strip), st.integers(min_value=1, max_value=10))
def test_a_valid_character_from_urls_is_sent_as_json(name: str, n: int) -> None:
    created = {"data": {"id": "c9", "name": name, "description": None, "created_at": 0}}
    script = Script(reply(created, 201))
    character = script.run(
        provider().create_character_flow(CharacterRequest(name=name, images=images(n)))
    )
    sent = script.requests[0]
    assert sent.json == {"name": name, "images": [m.value for m in images(n)]}
    assert sent.retry is RetryMode.REFUSED_ONLY
    assert character.id == "c9"


def test_a_character_from_local_files_is_sent_as_multipart(tmp_path: Path) -> None:
    paths = [tmp_path / "a.png", tmp_path / "b.jpg"]
    created = {"data": {"id": "c9", "name": "Ava", "description": "d", "created_at": 0}}
    script = Script(reply(created, 201), sizes={str(p): 10 for p in paths})
    request = CharacterRequest(
        name="Ava", description="d", images=tuple(Media.from_path(p) for p in paths)
    )
    script.run(provider().create_character_flow(request))
    body = script.requests[0].body
    assert isinstance(body, Multipart)
    assert body.fields == (
        ("name", "Ava"),
        ("description", "d"),
        ("images[]", FilePart(path=paths[0], content_type="image/png", filename="a.png")),
        ("images[]", FilePart(path=paths[1], content_type="image/jpeg", filename="b.jpg")),
    )


@pytest.mark.parametrize(
    ("flow", "field"),
    [
        (lambda p: p.characters_flow(q="a"), "q"),
        (lambda p: p.characters_flow(limit=61), "limit"),
        (lambda p: p.characters_flow(offset=-1), "offset"),
        (lambda p: p.templates_flow(limit=101), "limit"),
        (lambda p: p.templates_flow(q=" x "), "q"),
        (lambda p: p.assets_flow("a"), "q"),
        (lambda p: p.assets_flow("cat", limit=0), "limit"),
        (lambda p: p.assets_flow("cat", asset_type="audio"), "asset_type"),
        (lambda p: p.assets_flow("cat", source="mine"), "source"),
        (lambda p: p.template_flow(""), "template_id"),
    ],
)
def test_list_queries_outside_the_documented_bounds_are_refused(
    flow: Callable[[PrismProvider], Any], field: str
) -> None:
    assert refused_before_any_effect(flow(provider())).field == field


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=10**6))
def test_assets_search_sends_its_documented_query(limit: int, offset: int) -> None:
    body = {
        "data": [
            {
                "id": "post_1",
                "asset_id": "a1",
                "asset_s3_key": "community/p.png",
                "asset_url": None,
                "asset_type": "image",
                "prompt": "cat",
                "model_name": None,
                "published_at": 1767225600000,
                "created_at": None,
                "metadata": None,
                "source": "community",
            }
        ],
        "pagination": {"offset": offset, "limit": limit, "has_more": False},
    }
    script = Script(reply(body))
    page = script.run(provider().assets_flow("cat", asset_type="image", limit=limit, offset=offset))
    assert script.requests[0].params == (
        ("q", "cat"),
        ("limit", str(limit)),
        ("offset", str(offset)),
        ("type", "image"),
        ("source", "all"),
    )
    assert page.items[0].media == Media.from_key("community/p.png")


def test_upload_flow_returns_the_key_for_use_anywhere() -> None:
    script = Script(reply(PRESIGNED), reply(b""))
    assert script.run(provider().upload_flow(PNG)) == PRESIGNED["s3_key"]
    with pytest.raises(RequestValidationError):
        next(provider().upload_flow(Media.from_bytes(b"x", "text/plain")))
