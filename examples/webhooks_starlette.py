"""A Starlette (or FastAPI) app whose lip-sync endpoint answers when the webhook comes.

Set SYNC_API_KEY, SYNC_WEBHOOK_SECRET and PRISM_ASYNC_WEBHOOK_URL (this app's public
address, e.g. https://example.com/hooks), then run:
uvicorn examples.webhooks_starlette:app
"""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from prism_async import AudioTrack, Client, LipsyncRequest, Media
from prism_async.webhooks import asgi_app

client = Client.from_env("lipsync")
if client.webhooks is None:
    raise SystemExit("set PRISM_ASYNC_WEBHOOK_URL to this app's public address")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with client:
        yield


async def lipsync(request: Request) -> JSONResponse:
    asked = await request.json()
    result = await client.generate(
        LipsyncRequest(
            model="lipsync-2",
            video=Media.from_url(asked["video"]),
            audio=[AudioTrack(audio=Media.from_url(asked["audio"]))],
        )
    )
    return JSONResponse(result.to_dict())


app = Starlette(
    routes=[
        Route("/lipsync", lipsync, methods=["POST"]),
        Mount("/hooks", app=asgi_app(client.webhooks)),  # where PRISM_ASYNC_WEBHOOK_URL points
    ],
    lifespan=lifespan,
)
