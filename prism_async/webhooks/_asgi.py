"""The receiver as a plain ASGI application (no dependency), to mount in FastAPI,
Starlette or any ASGI server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prism_async.webhooks._receiver import WebhookReceiver

__all__ = ["asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def asgi_app(receiver: WebhookReceiver) -> AsgiApp:
    """An ASGI 3 application answering every delivery with ``receiver``.

    Mount it where the client's ``webhook_base_url`` points, e.g. with Starlette or
    FastAPI: ``app.mount("/hooks", asgi_app(client.webhooks))``. The path it routes on is
    the request's path below the mount point (``root_path``). A body over
    ``receiver.max_body`` is refused (413) as soon as it is known to be one.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = await _read(receive, receiver.max_body)
        if body is None:
            status, answer = 413, b"a delivery over the size limit"
        else:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            status, answer = await receiver.handle(scope["method"], _tail(scope), headers, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _tail(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path
