"""Text to video with NanoGPT: submit, wait (polling), print the result.

Set NANOGPT_API_KEY (and NANOGPT_BASE_URL for the emulator: `prism-async emulate` prints
both), then run: python nanogpt_text_to_video.py
"""

import anyio

from prism_async import Client, GenerationFailed, VideoRequest


async def main() -> None:
    async with Client.from_env("nanogpt") as client:
        request = VideoRequest(
            model="veo2-video", prompt="A lighthouse sweeping its beam through fog", duration=5
        )
        try:
            result = await client.generate(request)
        except GenerationFailed as failed:
            raise SystemExit(f"failed: {failed}") from None
        cost = f"{result.cost.amount} {result.cost.unit.value}" if result.cost else "unknown"
        print(result.status.value, result.outputs[0].url, "cost", cost)


if __name__ == "__main__":
    anyio.run(main)
