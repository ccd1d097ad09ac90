"""The webhook receiver's core without a web server: tokens, routes and what is handed on."""

from __future__ import annotations

import json

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async._provider import WebhookCall
from prism_async._results import JobHandle
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.prism import PrismProvider
from prism_async.webhooks import Delivery, WebhookReceiver, _tokens

pytestmark = pytest.mark.anyio

BASE = "https://example.com/hooks"
PRISM = PrismProvider(api_key="prism_sk_x", base_url="http://127.0.0.1:9/api")
LIPSYNC = LipsyncProvider(api_key="k", base_url="http://127.0.0.1:9")


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_a_guessed_token_never_verifies(guess: str) -> None:
    key = _tokens.key_from("whsec_shared")
    assert not _tokens.verified(key, guess)


def test_minted_tokens_verify_under_their_key_only() -> None:
    shared = _tokens.key_from("whsec_shared")
    token = _tokens.mint(shared)
    assert len(token) >= 40  # 128 random bits and a 128-bit tag
    assert _tokens.verified(shared, token)
    assert _tokens.verified(_tokens.key_from("whsec_shared"), token)  # a peer's receiver
    assert not _tokens.verified(_tokens.key_from("whsec_other"), token)
    assert not _tokens.verified(_tokens.key_from(None), token)  # a random key
    assert _tokens.mint(shared) != token


def body(job_id: str) -> bytes:
    return json.dumps({"id": job_id, "status": "completed"}).encode()


async def handed(receiver: WebhookReceiver) -> None:
    await anyio.lowlevel.checkpoint()  # the work after the answer runs on the next turn of the loop
    await anyio.lowlevel.checkpoint()


async def test_a_delivery_before_its_submit_is_answered_waits_for_the_binding() -> None:
    told: list[tuple[str, WebhookCall]] = []
    receiver = WebhookReceiver([PRISM])

    def listener(provider: str, call: WebhookCall) -> bool:
        told.append((provider, call))
        return True

    receiver.listener = listener
    url = receiver.callback_url(BASE, "prism")
    path = url[len(BASE) :]
    assert await receiver.handle("POST", path, {}, body("gen_1")) == (200, b"ok")
    await handed(receiver)
    assert told == []  # the create's answer is not in yet
    receiver.bind(url, [JobHandle(provider="prism", id="gen_1")])
    await handed(receiver)
    assert told == [("prism", WebhookCall(job_id="gen_1"))]


async def test_a_discarded_url_takes_no_more_deliveries() -> None:
    receiver = WebhookReceiver([PRISM])
    url = receiver.callback_url(BASE, "prism")
    receiver.discard(url)
    status, _ = await receiver.handle("POST", url[len(BASE) :], {}, body("gen_1"))
    assert status == 200  # a token of this key: acknowledged, handed to no wait
    assert receiver._early == {}


async def test_a_peer_token_is_acknowledged_and_handed_to_on_delivery() -> None:
    seen: list[Delivery] = []
    submitter = WebhookReceiver([PRISM], secret="whsec_shared")
    server = WebhookReceiver([PRISM], secret="whsec_shared", on_delivery=seen.append)
    url = submitter.callback_url(BASE, "prism")
    assert (await server.handle("POST", url[len(BASE) :], {}, body("gen_9")))[0] == 200
    await handed(server)
    assert seen == [Delivery(provider="prism", job_id="gen_9", result=None, waited_on=False)]


async def test_signed_deliveries_without_a_secret_are_refused_and_not_offered() -> None:
    receiver = WebhookReceiver([LIPSYNC, PRISM])
    assert not receiver.accepts("lipsync")
    assert receiver.accepts("prism")
    status, reason = await receiver.handle("POST", "/lipsync", {}, b"{}")
    assert status == 401 and b"secret" in reason
