"""The receiver as an ``aiohttp.web`` application, to mount in an aiohttp app."""

from __future__ import annotations

from aiohttp import web

from prism_async.webhooks._receiver import WebhookReceiver

__all__ = ["aiohttp_app"]


def aiohttp_app(receiver: WebhookReceiver) -> web.Application:
    """An application answering every delivery with ``receiver``.

    Mount it where the client's ``webhook_base_url`` points::

        app = web.Application()
        app.add_subapp("/hooks", aiohttp_app(client.webhooks))

    A body over ``receiver.max_body`` is refused (413) before it is read whole.
    """
    app = web.Application(client_max_size=receiver.max_body)

    async def deliver(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > receiver.max_body:
            return web.Response(status=413, text="a delivery over the size limit")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="a delivery over the size limit")
        status, answer = await receiver.handle(
            request.method, request.match_info["tail"], request.headers, body
        )
        return web.Response(status=status, body=answer, content_type="text/plain")

    app.router.add_route("*", "/{tail:.*}", deliver)
    return app
