"""A guard on the provider authors' door, ``prism_async.providers``: adding or removing a
name must be a deliberate change here. Also: the kit's names are the very objects the
library uses, the built-in providers go through the same door, and the kit's ``Api`` raises
a provider's own error on a non-2xx answer."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import prism_async.providers as kit
from prism_async import _errors as errors
from prism_async import _http as http
from prism_async import _media as media
from prism_async import _provider as provider
from prism_async import _registry as registry
from prism_async import _requests as requests
from prism_async import _results as results
from prism_async import _secrets as secrets
from prism_async.providers import (
    Api,
    ConcurrencyLimitError,
    HttpRequest,
    HttpResponse,
    RateLimitedError,
    RequestValidationError,
    Secret,
    api_error,
    error_from_body,
    refuser,
)

PUBLIC = [
    "APIStatusError",
    "Api",
    "Body",
    "ConcurrencyLimitError",
    "Cost",
    "CostUnit",
    "Effect",
    "ErrorFactory",
    "ExtraFields",
    "Failure",
    "FailureKind",
    "FileBody",
    "FilePart",
    "Flow",
    "GenerationResult",
    "HttpRequest",
    "HttpResponse",
    "JobHandle",
    "JobStatus",
    "LipsyncRequest",
    "Media",
    "MediaKind",
    "ModelInfo",
    "Multipart",
    "NO_OUTPUT",
    "Output",
    "PollHint",
    "PrismAsyncError",
    "ProviderResponseError",
    "Rate",
    "RateLimitedError",
    "ReadFile",
    "RequestValidationError",
    "RetryMode",
    "Seconds",
    "Secret",
    "StatFile",
    "StatusTable",
    "SubmitReceipt",
    "SupportsCancel",
    "SupportsCostEstimate",
    "SupportsJobLimit",
    "SupportsList",
    "SupportsModels",
    "SupportsWebhooks",
    "UnsupportedRequestError",
    "VideoProvider",
    "VideoRequest",
    "WebhookCall",
    "WebhookVerificationError",
    "api_error",
    "check_duration",
    "check_prompt",
    "data_uri_size",
    "env_settings",
    "error_from_body",
    "inline_data_uri",
    "make_converter",
    "no_output_failure",
    "parse_datetime",
    "read_file",
    "refuser",
    "required_key",
    "seconds_of",
    "send",
    "stat_file",
    "status_error_class",
    "structure",
    "to_data_uri",
    "usable_url",
    "wire",
]

PROVIDERS_DIR = Path(kit.__file__).parent


def test_public_names_are_exactly_the_guarded_list() -> None:
    assert sorted(kit.__all__) == PUBLIC


def test_all_has_no_duplicates() -> None:
    assert len(kit.__all__) == len(set(kit.__all__))


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("prism_async.providers")
    for name in kit.__all__:
        assert getattr(module, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from prism_async.providers import *", namespace)  # what a provider module may write
    assert set(kit.__all__) <= set(namespace)


def test_no_private_names_are_public() -> None:
    for name in kit.__all__:
        assert not name.startswith("_"), name


def test_the_kit_re_exports_the_objects_the_library_uses() -> None:
    """Not copies: an isinstance check or an except clause in the engine sees the same
    classes a provider raises and returns."""
    homes = [errors, http, media, provider, requests, results, secrets]
    for name in kit.__all__:
        for home in homes:
            if name in getattr(home, "__all__", ()):
                assert getattr(kit, name) is getattr(home, name), f"{home.__name__}.{name}"
    assert kit.VideoProvider is provider.VideoProvider
    assert kit.ConcurrencyLimitError is errors.ConcurrencyLimitError


def test_the_guide_names_the_entry_point_group_and_the_emulator_helpers() -> None:
    guide = kit.__doc__ or ""
    assert f'"{registry.GROUP}"' in guide
    for name in ("EmulatorServer", "RecordingServer", "VirtualClock", "from_env", "env_key"):
        assert name in guide, name


def _prism_async_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("prism_async")}


@pytest.mark.parametrize("name", ["prism", "lipsync", "nanogpt"])
def test_the_built_in_providers_go_through_the_same_door(name: str) -> None:
    """Each imports the kit, its own modules, and the public request types; nothing else."""
    allowed = {"prism_async.providers", "prism_async._requests"}
    for path in sorted((PROVIDERS_DIR / name).glob("*.py")):
        for module in _prism_async_imports(path):
            own = module.startswith(f"prism_async.providers.{name}")
            assert own or module in allowed, f"{path.name} imports {module}"


# -- the kit's behaviour ---------------------------------------------------------------


def _answer(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode(), headers=headers or {})


def _toy_error(response: HttpResponse, *, job_id: str | None = None) -> errors.APIStatusError:
    return api_error("toy", response, message="toy says no", code="toy_code", job_id=job_id)


API = Api.header("https://toy.test/v1/", "x-toy-key", Secret("sk-toy"), errors=_toy_error)


def test_call_yields_the_authenticated_request_and_returns_a_2xx_answer() -> None:
    flow = API.call("GET", "/jobs/7", "status", params=(("full", "1"),), job_id="7")
    request = next(flow)
    assert isinstance(request, HttpRequest)
    assert request.url == "https://toy.test/v1/jobs/7"
    assert request.kind == "status"
    assert request.params == (("full", "1"),)
    assert request.header("x-toy-key") == Secret("sk-toy")
    with pytest.raises(StopIteration) as done:
        flow.send(_answer(200, {"id": "7"}))
    assert done.value.value.json() == {"id": "7"}
    assert "sk-toy" not in repr(API)


def test_call_raises_the_providers_own_error_on_a_non_2xx_answer() -> None:
    flow = API.call("GET", "/jobs/7", "status", job_id="7")
    next(flow)
    with pytest.raises(errors.NotFoundError) as caught:
        flow.send(_answer(404, {"whatever": True}))
    assert caught.value.code == "toy_code"
    assert caught.value.job_id == "7"
    assert caught.value.provider == "toy"


def test_send_ok_takes_any_request_and_raise_for_status_any_response() -> None:
    presigned = HttpRequest(method="PUT", url="https://bucket.test/x?sig=1", kind="upload")
    flow = API.send_ok(presigned)
    assert next(flow) is presigned
    with pytest.raises(errors.ServerError):
        flow.send(_answer(500))
    ok = _answer(204)
    assert API.raise_for_status(ok) is ok
    with pytest.raises(errors.ConflictError):
        API.raise_for_status(_answer(409), job_id="7")


def test_without_an_error_factory_the_body_is_read_plainly() -> None:
    api = Api.bearer("https://plain.test", Secret("k"))
    assert api.errors is error_from_body
    with pytest.raises(errors.BadRequestError) as caught:
        api.raise_for_status(_answer(400, {"message": "bad prompt", "code": "invalid"}))
    assert caught.value.message == "bad prompt"
    assert caught.value.code == "invalid"
    assert caught.value.provider is None  # the engine names it
    with pytest.raises(errors.ServerError, match="upstream down"):
        api.raise_for_status(HttpResponse(status=502, body=b"upstream down"))


@pytest.mark.parametrize(
    ("code", "flag", "expected"),
    [
        ("concurrency_limit_reached", False, ConcurrencyLimitError),
        ("too_many_jobs", True, ConcurrencyLimitError),
        ("rate_limited", False, RateLimitedError),
        (None, False, RateLimitedError),
    ],
)
def test_a_429_is_a_concurrency_limit_only_when_it_says_so(
    code: str | None, flag: bool, expected: type[RateLimitedError]
) -> None:
    error = api_error(
        "toy",
        _answer(429, headers={"retry-after": "4"}),
        message="limited",
        code=code,
        concurrency_limit=flag,
    )
    assert type(error) is expected
    assert isinstance(error, RateLimitedError) and error.retry_after == 4.0


def test_refuser_names_the_field_and_the_provider() -> None:
    refuse = refuser("toy")
    error = refuse("duration", "12 is outside 1-10 s")
    assert isinstance(error, RequestValidationError)
    assert (error.field, error.reason, error.provider) == (
        "duration",
        "12 is outside 1-10 s",
        "toy",
    )
