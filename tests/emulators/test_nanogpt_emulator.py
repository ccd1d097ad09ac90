"""The NanoGPT emulator speaks the documented wire format, in virtual time."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_async.testing._clock import VirtualClock
from prism_async.testing._faults import Fault, FaultKind
from prism_async.testing._jobs import FAKE_MP4
from prism_async.testing._nanogpt_wire import MAX_INLINE_BYTES, check_data_url
from prism_async.testing._server import EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator

pytestmark = pytest.mark.anyio

OTHER_KEY = "nano-other-key"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@attrs.frozen
class Reply:
    status: int
    body: Any
    headers: Any


@attrs.define
class Api:
    """A bare aiohttp client of the emulator."""

    http: aiohttp.ClientSession
    base: str
    key: str

    def _headers(self, key: str | None) -> dict[str, str]:
        key = self.key if key is None else key
        return {"x-api-key": key} if key else {}

    async def post(self, path: str, body: Any = None, *, key: str | None = None) -> Reply:
        async with self.http.post(self.base + path, json=body, headers=self._headers(key)) as r:
            return Reply(r.status, await r.json(), r.headers)

    async def get(self, path: str, *, key: str | None = None, **params: str) -> Reply:
        url = self.base + path
        async with self.http.get(url, params=params, headers=self._headers(key)) as r:
            return Reply(r.status, await r.json(), r.headers)

    async def create(self, prompt: str = "a lake", **fields: Any) -> Reply:
        return await self.post(
            "/generate-video", {"model": "veo2-video", "prompt": prompt, **fields}
        )

    async def status(self, job_id: str, *, key: str | None = None) -> Any:
        reply = await self.get("/video/status", requestId=job_id, key=key)
        assert reply.status == 200, reply.body
        return reply.body


@contextlib.asynccontextmanager
async def running(emu: NanoGPTEmulator) -> AsyncIterator[Api]:
    async with EmulatorServer([emu]) as server, aiohttp.ClientSession() as http:
        yield Api(http, server.base_url("nanogpt"), emu.api_key)


def make(**kwargs: Any) -> tuple[NanoGPTEmulator, VirtualClock]:
    clock = VirtualClock()
    kwargs.setdefault("balance", Decimal(10))  # these tests count down from $10
    return NanoGPTEmulator(clock=clock, **kwargs), clock


def data_url(mime: str, size: int) -> str:
    return f"data:{mime};base64," + base64.b64encode(bytes(size)).decode()


async def test_auth_is_required_and_both_headers_work() -> None:
    emu, _ = make()
    async with running(emu) as api:
        for key in ("", "wrong-key"):
            body = {"model": "veo2-video", "prompt": "x"}
            reply = await api.post("/generate-video", body, key=key)
            assert reply.status == 401
            assert reply.body == {
                "error": {"message": "Invalid API key", "type": "authentication_error"}
            }
            assert reply.headers["X-Request-ID"].startswith("req_")
        bearer = {"Authorization": f"Bearer {emu.api_key}"}
        url = api.base + "/check-balance"
        async with api.http.post(url, headers=bearer) as r:
            assert r.status == 200
        models = await api.get("/v1/video-models", key="", detailed="true")
        assert models.status == 200
    assert emu.counts.by_status[401] == 2


async def test_create_answers_202_with_the_documented_shape() -> None:
    emu, _ = make()
    async with running(emu) as api:
        reply = await api.create()
    assert reply.status == 202
    body = reply.body
    assert body["runId"] == body["id"]
    assert re.fullmatch(r"vid_[a-z0-9]+", body["id"])
    assert body["status"] == "pending"
    assert body["model"] == "veo2-video"
    assert body["cost"] == 0.35
    assert body["paymentSource"] == "USD"
    assert body["remainingBalance"] == pytest.approx(9.65)
    assert isinstance(body["prechargeLabel"], str)
    assert emu.creates == 1
    assert emu.balance == Decimal("9.65")
    assert set(emu.jobs) == {body["id"]}


async def test_nested_lifecycle_and_download() -> None:
    emu, clock = make()
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        first = await api.status(job_id)
        assert first["requestId"] == job_id
        assert first["model"] == "veo2-video"
        assert first["data"]["status"] == "IN_QUEUE"
        assert "output" not in first["data"]
        assert "cost" not in first["data"]
        clock.advance(2.0)
        assert (await api.status(job_id))["data"]["status"] == "IN_PROGRESS"
        async with api.http.get(f"{api.base.removesuffix('/api')}/files/{job_id}.mp4") as r:
            assert r.status == 404
        clock.advance(8.0)
        done = (await api.get("/video/status", runId=job_id)).body["data"]
        assert done["status"] == "COMPLETED"
        assert done["cost"] == 0.35
        assert "error" not in done
        url = done["output"]["video"]["url"]
        assert url.startswith(api.base.removesuffix("/api") + "/files/")
        async with api.http.get(url) as r:
            assert r.status == 200
            assert r.content_type == "video/mp4"
            assert await r.read() == FAKE_MP4


async def test_flat_lifecycle() -> None:
    emu, clock = make(status_shape="flat")
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        queued = await api.status(job_id)
        assert queued == {
            "requestId": job_id,
            "status": "queued",
            "progress": 0.0,
            "estimatedTimeRemaining": 10.0,
            "videoUrl": None,
            "error": None,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "completedAt": None,
        }
        clock.advance(6.0)
        running_ = await api.status(job_id)
        assert running_["status"] == "processing"
        assert running_["progress"] == 50.0
        assert running_["estimatedTimeRemaining"] == 4.0
        clock.advance(4.0)
        done = await api.status(job_id)
        assert done["status"] == "completed"
        assert done["progress"] == 100.0
        assert done["videoUrl"].endswith(f"/nanogpt/files/{job_id}.mp4")
        assert ISO_Z.match(done["completedAt"])
        emu.status_shape = "nested"
        assert (await api.status(job_id))["data"]["status"] == "COMPLETED"


@pytest.mark.parametrize("shape", ["nested", "flat"])
async def test_moderation_outcome(shape: str) -> None:
    emu, clock = make(status_shape=shape)
    async with running(emu) as api:
        job_id = (await api.create("a lake [moderation]")).body["id"]
        clock.advance(10.0)
        body = await api.status(job_id)
    if shape == "nested":
        data = body["data"]
        assert data["status"] == "FAILED"
        assert data["isNSFWError"] is True
        assert data["error"] == "Content policy violation"
        assert data["userFriendlyError"]
        assert "output" not in data
    else:
        assert body["status"] == "failed"
        assert "content policy" in body["error"].lower()
        assert body["isNSFWError"] is True
        assert body["videoUrl"] is None


async def test_failure_is_refunded() -> None:
    emu, clock = make()
    async with running(emu) as api:
        job_id = (await api.create("a lake [fail]")).body["id"]
        assert (await api.post("/check-balance")).body["usd_balance"] == "9.65000000"
        clock.advance(10.0)
        data = (await api.status(job_id))["data"]
        assert data["status"] == "FAILED"
        assert data["isNSFWError"] is False
        assert data["error"] == "Generation failed: upstream provider error"
        balance = (await api.post("/check-balance")).body
    assert balance["usd_balance"] == "10.00000000"
    assert balance["nano_balance"] == "0.00000000"
    assert balance["nanoDepositAddress"].startswith("nano_")
    assert emu.jobs[job_id].refunded


async def test_insufficient_balance_is_402() -> None:
    emu, _ = make(balance=Decimal("0.5"))
    async with running(emu) as api:
        assert (await api.create()).status == 202
        reply = await api.create()
    assert reply.status == 402
    assert reply.body == {"error": "Insufficient balance", "requiredBalance": 0.35, "status": 402}
    assert emu.creates == 1


async def test_submit_rate_limit_slides_over_a_minute() -> None:
    emu, clock = make(balance=Decimal(1000))
    async with running(emu) as api:
        for _ in range(25):
            assert (await api.create()).status == 202
        clock.advance(20.0)
        for _ in range(25):
            assert (await api.create()).status == 202
        limited = await api.create()
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "40"
        assert limited.body == {
            "error": "Rate limit exceeded. Please wait before generating another video.",
            "status": 429,
        }
        other = await api.post(
            "/generate-video", {"model": "veo2-video", "prompt": "x"}, key=OTHER_KEY
        )
        assert other.status == 202
        clock.advance(40.0)
        assert (await api.create()).status == 202
    assert emu.creates == 52


async def test_extend_validation_and_success() -> None:
    emu, clock = make()
    async with running(emu) as api:
        mj = await api.post("/generate-video", {"model": "midjourney-video", "prompt": "x"})
        mj_id = mj.body["id"]
        veo_id = (await api.create()).body["id"]
        early = await api.post("/generate-video/extend", {"runId": mj_id, "index": 0})
        assert early.status == 400
        clock.advance(10.0)
        cases: list[tuple[dict[str, Any], int]] = [
            ({"runId": mj_id, "index": 0, "videoUrl": "https://x/v.mp4"}, 400),
            ({"runId": mj_id, "index": 0, "video": "x"}, 400),
            ({"runId": mj_id, "index": 4}, 400),
            ({"runId": mj_id, "index": True}, 400),
            ({"index": 1}, 400),
            ({"runId": veo_id, "index": 0}, 400),
            ({"runId": "vid_unknown", "index": 0}, 404),
        ]
        for body, status in cases:
            reply = await api.post("/generate-video/extend", body)
            assert reply.status == status, body
        foreign = await api.post(
            "/generate-video/extend", {"runId": mj_id, "index": 0}, key=OTHER_KEY
        )
        assert foreign.status == 403
        reply = await api.post("/generate-video/extend", {"taskId": mj_id, "index": 2})
        assert reply.status == 202
        body = reply.body
        assert body["success"] is True
        assert body["runId"] == body["id"] == body["taskId"] != mj_id
        assert body["status"] == "pending"
        assert body["model"] == "midjourney-video"
        assert "video 3" in body["message"]
        assert body["eta"] == 10
        clock.advance(10.0)
        assert (await api.status(body["id"]))["data"]["status"] == "COMPLETED"
    assert emu.creates == 3
    assert emu.jobs[body["id"]].extends == mj_id


async def test_extend_rate_limit() -> None:
    emu, clock = make(balance=Decimal(100), extend_limit_per_minute=2)
    async with running(emu) as api:
        mj_id = await api.post("/generate-video", {"model": "midjourney-video", "prompt": "x"})
        clock.advance(10.0)
        for _ in range(2):
            reply = await api.post(
                "/generate-video/extend", {"runId": mj_id.body["id"], "index": 0}
            )
            assert reply.status == 202
        limited = await api.post("/generate-video/extend", {"runId": mj_id.body["id"], "index": 0})
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "60"


async def test_another_owner_gets_403_and_unknown_404() -> None:
    emu, _ = make()
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        foreign = await api.get("/video/status", key=OTHER_KEY, requestId=job_id)
        legacy = await api.get("/generate-video/status", key=OTHER_KEY, runId=job_id)
        unknown = await api.get("/video/status", requestId="vid_nope")
        missing = await api.get("/video/status")
    assert foreign.status == legacy.status == 403
    assert foreign.body["error"] == 403
    assert unknown.status == 404
    assert unknown.body["error"] == 404
    assert isinstance(unknown.body["message"], str)
    assert missing.status == 400
    assert missing.body["error"] == 400


async def test_legacy_status_shape() -> None:
    emu, clock = make()
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        queued = await api.get("/generate-video/status", runId=job_id, model="veo2-video")
        assert queued.body["data"]["status"] == "IN_QUEUE"
        assert queued.body["data"]["request_id"] == job_id
        assert queued.body["data"]["error"] is None
        wrong = await api.get("/generate-video/status", runId=job_id, model="sora-2")
        assert wrong.status == 400
        clock.advance(10.0)
        done = (await api.get("/generate-video/status", runId=job_id)).body["data"]
    assert done["status"] == "COMPLETED"
    assert done["output"]["video"]["url"].endswith(".mp4")
    assert done["cost"] == 0.35


_PNG = data_url("image/png", 16)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "x"}, "model"),
        ({"model": "veo2-video"}, "prompt"),
        ({"model": "veo2-video", "prompt": "  "}, "prompt"),
        ({"model": "veo2-video", "prompt": "x", "aspect_ratio": "2:1"}, "aspect_ratio"),
        ({"model": "veo2-video", "prompt": "x", "imageDataUrl": "aGVsbG8="}, "imageDataUrl"),
        ({"model": "veo2-video", "imageDataUrl": "data:image/png;base64,@@"}, "imageDataUrl"),
        ({"model": "veo2-video", "videoDataUrl": _PNG}, "videoDataUrl"),
        ({"model": "video-upscaler", "prompt": "x"}, "video"),
    ],
)
async def test_validation_errors_name_the_field(body: dict[str, Any], needle: str) -> None:
    emu, _ = make()
    async with running(emu) as api:
        reply = await api.post("/generate-video", body)
    assert reply.status == 400
    assert reply.body["status"] == 400
    assert needle in reply.body["error"]
    assert emu.creates == 0
    assert emu.balance == Decimal(10)


async def test_model_errors_and_content_policy() -> None:
    emu, _ = make()
    async with running(emu) as api:
        unknown = await api.post("/generate-video", {"model": "nope-video", "prompt": "x"})
        assert unknown.status == 400
        error = unknown.body["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "model_not_found",
            "model",
        )
        kling = await api.post("/generate-video", {"model": "kling-v21-standard", "prompt": "x"})
        assert kling.status == 400
        assert kling.body["status"] == 400
        assert kling.body["error"].startswith("Kling 2.1 Standard requires an input image.")
        blocked = await api.create("something [blocked]")
        assert blocked.status == 400
        assert blocked.body["error"]["type"] == "CONTENT_POLICY_VIOLATION"
        assert blocked.body["refundMessage"]
        assert emu.creates == 0
        assert emu.balance == Decimal(10)
        ok = await api.post(
            "/generate-video", {"model": "kling-v21-standard", "imageDataUrl": _PNG}
        )
        assert ok.status == 202
        upscale = await api.post(
            "/generate-video", {"model": "video-upscaler", "videoUrl": "https://x/v.mp4"}
        )
        assert upscale.status == 202


async def test_inline_upload_limit_over_the_wire() -> None:
    emu, _ = make()
    async with running(emu) as api:
        fits = await api.create(imageDataUrl=data_url("image/jpeg", MAX_INLINE_BYTES))
        too_big = await api.create(imageDataUrl=data_url("image/jpeg", MAX_INLINE_BYTES + 1))
    assert fits.status == 202
    assert too_big.status == 400
    assert "4 MB" in too_big.body["error"]


@settings(max_examples=40, deadline=None)
@given(
    size=st.one_of(st.integers(0, 4096), st.integers(MAX_INLINE_BYTES - 4, MAX_INLINE_BYTES + 4)),
    family=st.sampled_from(["image", "video", "audio"]),
)
def test_data_url_size_check(size: int, family: str) -> None:
    problem = check_data_url(f"{family}DataUrl", data_url(f"{family}/x-test", size), family)
    if size <= MAX_INLINE_BYTES:
        assert problem is None
    else:
        assert problem is not None
        assert "4 MB" in problem


async def test_slow_and_never_markers() -> None:
    emu, clock = make()
    async with running(emu) as api:
        slow = (await api.create("a lake [slow]")).body["id"]
        never = (await api.create("a lake [never]")).body["id"]
        clock.advance(50.0)
        assert (await api.status(slow))["data"]["status"] == "IN_PROGRESS"
        clock.advance(50.0)
        assert (await api.status(slow))["data"]["status"] == "COMPLETED"
        clock.advance(10_000.0)
        assert (await api.status(never))["data"]["status"] == "IN_PROGRESS"


async def test_unknown_status_is_reported_raw_for_unfinished_jobs() -> None:
    emu, clock = make()
    emu.unknown_status = "delivering"
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        assert (await api.status(job_id))["data"]["status"] == "delivering"
        emu.status_shape = "flat"
        assert (await api.status(job_id))["status"] == "delivering"
        clock.advance(10.0)
        assert (await api.status(job_id))["status"] == "completed"


async def test_injected_503_then_recovery() -> None:
    emu, _ = make()
    async with running(emu) as api:
        job_id = (await api.create()).body["id"]
        emu.faults.inject("status", Fault(kind=FaultKind.STATUS, status=503))
        failed = await api.get("/video/status", requestId=job_id)
        assert failed.status == 503
        assert failed.body["error"]["type"] == "server_error"
        assert failed.headers["X-Request-ID"].startswith("req_")
        assert (await api.get("/video/status", requestId=job_id)).status == 200
    assert emu.counts.by_route["status"] == 2
    assert emu.counts.by_status[503] == 1


async def test_model_catalogs() -> None:
    emu, _ = make()
    async with running(emu) as api:
        videos = (await api.get("/v1/video-models", key="", detailed="true")).body
        text = await api.get("/v1/models", detailed="true")
    assert videos["object"] == "list"
    assert videos["meta"]["count"] == len(videos["data"])
    by_id = {m["id"]: m for m in videos["data"]}
    assert {"veo2-video", "veo3-video", "sora-2", "kling-v21-standard"} <= set(by_id)
    assert {"midjourney-video", "video-upscaler"} <= set(by_id)
    for model in videos["data"]:
        assert model["architecture"]["output_modalities"] == ["video"]
        assert model["capabilities"]["video_generation"] is True
        assert model["pricing"]["currency"] == "USD"
    kling = by_id["kling-v21-standard"]["capabilities"]
    assert (kling["text_to_video"], kling["image_to_video"]) == (False, True)
    assert text.status == 200
    assert text.body["data"]
    assert all("video" not in m["architecture"]["output_modalities"] for m in text.body["data"])


async def test_xno_balance_reporting() -> None:
    emu, _ = make(payment_source="XNO", balance=Decimal("2"))
    async with running(emu) as api:
        created = await api.create()
        balance = (await api.post("/check-balance")).body
    assert created.body["paymentSource"] == "XNO"
    assert balance["nano_balance"] == "1.65000000"
    assert balance["usd_balance"] == "0.00000000"
