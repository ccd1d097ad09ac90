"""A third-party provider through the public door: ``tests/plugin_provider/toy.py`` is
written against ``prism_async.providers`` alone, registered through the
``prism_async.providers`` entry-point group by a real ``*.dist-info`` on ``sys.path`` (what
installing a package leaves behind), found by the registry, and driven by the Client
against its API on loopback."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from prism_async import (
    AuthenticationError,
    Client,
    ConcurrencyLimitError,
    CostUnit,
    EngineConfig,
    JobStatus,
    PollPolicy,
    RateLimitedError,
    RequestValidationError,
    VideoRequest,
)
from prism_async import _registry as registry
from prism_async.providers import HttpRequest, HttpResponse, VideoProvider
from prism_async.testing import EmulatorServer
from tests.plugin_provider import toy
from tests.plugin_provider.server import ToyApi
from tests.plugin_provider.toy import ToyProvider

pytestmark = pytest.mark.anyio

BUILT_IN = {"lipsync", "nanogpt", "prism"}
# Poll at once and often: the toy API's jobs take one status read to finish.
FAST = EngineConfig(poll=PollPolicy(first_delay=0.01, min_interval=0.01, jitter=0.0))


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``toy`` registered as an installed distribution would register it."""
    dist_info = tmp_path / "toy_video-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-video\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{registry.GROUP}]\ntoy = tests.plugin_provider.toy:ToyProvider\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return dist_info


def test_the_toy_provider_imports_nothing_of_prism_async_but_the_door() -> None:
    tree = ast.parse(Path(toy.__file__).read_text(encoding="utf-8"))
    modules: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    assert {m for m in modules if m and m.startswith("prism_async")} == {"prism_async.providers"}


def test_an_entry_point_on_sys_path_registers_it(registered: Path) -> None:
    assert set(registry.available()) == BUILT_IN | {"toy"}
    assert registry.load("toy") is ToyProvider
    provider = registry.from_env("toy", {"TOY_API_KEY": "k", "TOY_BASE_URL": "http://h/v1/"})
    assert isinstance(provider, ToyProvider)
    assert isinstance(provider, VideoProvider)


def test_without_its_distribution_it_is_not_there() -> None:
    assert "toy" not in registry.available()
    with pytest.raises(KeyError, match="no provider named 'toy'"):
        registry.load("toy")


def test_from_env_picks_it_by_its_key_variable(registered: Path) -> None:
    client = Client.from_env(environ={"TOY_API_KEY": "k"})
    assert list(client.providers) == ["toy"]
    with pytest.raises(RequestValidationError, match="TOY_API_KEY"):
        Client.from_env("toy", environ={})


async def test_submit_poll_and_result_through_the_client(registered: Path) -> None:
    api = ToyApi(running_polls=1)
    async with EmulatorServer([api]) as server:
        environ = {"TOY_API_KEY": api.api_key, "TOY_BASE_URL": server.base_url("toy")}
        async with Client.from_env("toy", environ=environ, config=FAST) as client:
            result = await client.generate(
                VideoRequest(model="toy-1", prompt="a red kite over the sea", duration=4),
                timeout=30,
            )
    assert api.created == [{"model": "toy-1", "prompt": "a red kite over the sea", "seconds": 4}]
    assert api.served[result.id] == ["running", "done"]  # one running status, then done
    assert result.provider == "toy"
    assert result.status is JobStatus.SUCCEEDED
    assert result.raw_status == "done"
    (output,) = result.outputs
    assert output.url.startswith(server.root) and output.url.endswith(f"/{result.id}.mp4")
    assert output.content_type == "video/mp4"
    assert result.cost is not None and result.cost.unit is CostUnit.USD
    assert str(result.cost.amount) == "0.40"
    assert result.created_at is not None and result.created_at.year == 2026


async def test_an_error_answer_is_raised_as_the_providers_own_error(registered: Path) -> None:
    api = ToyApi()
    async with EmulatorServer([api]) as server:
        environ = {"TOY_API_KEY": "not-the-key", "TOY_BASE_URL": server.base_url("toy")}
        async with Client.from_env("toy", environ=environ, config=FAST) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.submit(VideoRequest(model="toy-1", prompt="x"))
            assert caught.value.code == "unauthorized"
            assert caught.value.provider == "toy"
            assert "invalid API key" in str(caught.value)
            with pytest.raises(RequestValidationError) as refused:  # before any byte is sent
                await client.submit(VideoRequest(model="toy-1", prompt="x", duration=60))
            assert refused.value.field == "duration"
    assert api.created == []


@pytest.mark.parametrize(
    ("code", "concurrency"), [("too_many_jobs", True), ("slow_down", False), (None, False)]
)
def test_its_429s_say_which_limit(code: str | None, concurrency: bool) -> None:
    video = VideoRequest(model="m", prompt="p")
    flow = ToyProvider(api_key="k").submit_flow(video, idempotency_key="i")
    request = next(flow)
    assert isinstance(request, HttpRequest) and request.charges
    body = {"error": {"message": "limited", "code": code}}
    with pytest.raises(RateLimitedError) as caught:
        flow.send(HttpResponse(status=429, body=json.dumps(body).encode()))
    assert isinstance(caught.value, ConcurrencyLimitError) is concurrency
    assert caught.value.provider == "toy"
