"""A Prism template video: its variables checked before paying, a local image uploaded.

Set PRISM_API_KEY (and PRISM_BASE_URL for the emulator: `prism-async emulate` prints
both), then run: python prism_template.py
"""

from pathlib import Path

import anyio

from prism_async import Client, GenerationFailed, Media
from prism_async.providers.prism import TemplateRequest

IMAGE = Path(__file__).with_name("sample.png")  # shipped next to this script


async def main() -> None:
    async with Client.from_env("prism") as client:
        request = TemplateRequest(
            template_id="featured-ugc-pitch",
            variables={"product": "Lumen desk lamp", "product_image": Media.from_path(IMAGE)},
        )
        try:
            result = await client.generate(request)
        except GenerationFailed as failed:
            raise SystemExit(f"failed: {failed}") from None
        print(result.status.value, result.outputs[0].url)


if __name__ == "__main__":
    anyio.run(main)
