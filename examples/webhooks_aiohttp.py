"""Lip-sync one video and hear of the result by webhook, in an aiohttp application.

Set SYNC_API_KEY, SYNC_WEBHOOK_SECRET and PRISM_ASYNC_WEBHOOK_URL (this app's public
address, e.g. https://example.com/hooks), then run: python examples/webhooks_aiohttp.py
"""

import os
from urllib.parse import urlsplit

import anyio
from aiohttp import web

from prism_async import AudioTrack, Client, LipsyncRequest, Media
from prism_async.webhooks import aiohttp_app


async def main() -> None:
    async with Client.from_env("lipsync") as client:
        if client.webhooks is None or client.webhook_base_url is None:
            raise SystemExit("set PRISM_ASYNC_WEBHOOK_URL to this app's public address")
        app = web.Application()
        # Mounted where PRISM_ASYNC_WEBHOOK_URL points (its path: /hooks).
        app.add_subapp(urlsplit(client.webhook_base_url).path, aiohttp_app(client.webhooks))
        runner = web.AppRunner(app)
        await runner.setup()
        port = int(os.environ.get("PORT", "8080"))
        await web.TCPSite(runner, os.environ.get("HOST", "0.0.0.0"), port).start()
        try:
            # The wait ends on the signed callback (a poll every 5 minutes catches a lost one).
            result = await client.generate(
                LipsyncRequest(
                    model="lipsync-2",
                    video=Media.from_url("https://example.com/face.mp4"),
                    audio=[AudioTrack(audio=Media.from_url("https://example.com/voice.wav"))],
                )
            )
            print(result.status.value, result.outputs[0].url)
        finally:
            await runner.cleanup()


anyio.run(main)
