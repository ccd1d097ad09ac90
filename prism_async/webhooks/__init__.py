"""Webhooks: end a wait on the provider's callback, verified, raced against a safety net.

Give the client a public base URL once and mount its receiver there; each job submitted
to a provider with callbacks (lipsync; Prism's template generations) then names its own
callback URL, and its wait ends on the first of: the callback (a signed one at once, an
unsigned one after one confirming status fetch), or a slow safety-net poll
(``PollPolicy.safety_net``, 5 minutes by default)::

    client = Client(provider, webhook_base_url="https://example.com/hooks")
    app.add_subapp("/hooks", aiohttp_app(client.webhooks))      # aiohttp
    app.mount("/hooks", asgi_app(client.webhooks))              # FastAPI / Starlette

- :class:`WebhookReceiver`: the framework-free core (``handle(method, path, headers, body)``).
- :func:`aiohttp_app`: the core as an ``aiohttp.web`` application (a sub-app to mount).
- :func:`asgi_app`: the core as a plain ASGI application.
- :class:`Delivery`: what ``on_delivery`` gets for every verified delivery.

The two adapters are imported on first use (``aiohttp.web`` is not needed to wait).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_async.webhooks._receiver import Delivery, WebhookReceiver

if TYPE_CHECKING:
    from prism_async.webhooks._aiohttp import aiohttp_app
    from prism_async.webhooks._asgi import asgi_app

__all__ = ["Delivery", "WebhookReceiver", "aiohttp_app", "asgi_app"]


def __getattr__(name: str) -> Any:
    if name == "aiohttp_app":
        from prism_async.webhooks._aiohttp import aiohttp_app

        return aiohttp_app
    if name == "asgi_app":
        from prism_async.webhooks._asgi import asgi_app

        return asgi_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
