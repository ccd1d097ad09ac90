"""Lip-sync a video to an audio track, and wait for it by polling (see webhooks_*.py to
hear of the result by webhook instead).

Set SYNC_API_KEY (and SYNC_BASE_URL for the emulator: `prism-async emulate` prints both),
then run: python lipsync.py
"""

import anyio

from prism_async import AudioTrack, Client, GenerationFailed, LipsyncRequest, Media


async def main() -> None:
    async with Client.from_env("lipsync") as client:
        request = LipsyncRequest(
            model="lipsync-2",
            video=Media.from_url("https://example.com/face.mp4"),
            audio=[AudioTrack(audio=Media.from_url("https://example.com/voice.wav"))],
        )
        try:
            result = await client.generate(request)
        except GenerationFailed as failed:
            raise SystemExit(f"failed: {failed}") from None
        print(result.status.value, result.outputs[0].url)


if __name__ == "__main__":
    anyio.run(main)
