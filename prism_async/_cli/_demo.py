"""``prism-async demo``: a mixed batch against in-process emulators, no key, no network.

It starts the emulators of every provider on a free loopback port and runs about thirty
generations through the batch runner: text-to-video and image-to-video (from the bundled
sample image) on NanoGPT and Prism, Prism templates, and lipsync jobs with segments (a
recorded track and a text-to-speech script), plus two that are scripted to fail. It shows
the progress, downloads every output into a folder, and ends with a summary per provider:
jobs, succeeded, failed, HTTP requests made, cost. The summary and every outcome are also
left in the folder (``summary.txt``, ``results.jsonl``).
"""

from __future__ import annotations

import io
import json
import struct
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anyio.to_thread

from prism_async._cli._progress import BatchProgress
from prism_async._cli._webhooks import cli_client
from prism_async._engine import EngineConfig, PollPolicy
from prism_async._media import Media
from prism_async._requests import AudioTrack, LipsyncRequest, LipsyncSegment, Speech, VideoRequest
from prism_async.batch import BatchItem, BatchOutcome, run_batch
from prism_async.providers.lipsync import LipsyncProvider
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.providers.prism import PrismProvider, TemplateRequest
from prism_async.testing import FAKE_MP4, EmulatorServer
from prism_async.testing.lipsync import LipsyncEmulator
from prism_async.testing.nanogpt import NanoGPTEmulator
from prism_async.testing.prism import PrismEmulator

__all__ = ["demo_items", "run_demo"]

SAMPLE_IMAGE = Path(__file__).parent / "assets" / "sample.png"
#: The emulated lipsync plan's slots: the batch keeps to them, so no 429 is ever seen.
LIPSYNC_SLOTS = 2
#: Items scripted to fail (a failed generation and a content-policy refusal).
EXPECTED_FAILURES = frozenset({"nano-storm", "nano-refused"})
# Emulated jobs take a second or two, so polling is quick (the APIs advise 10 s or more).
_POLL = PollPolicy(first_delay=0.5, min_interval=0.25, max_interval=0.5, jitter=0.1)

_SCENES = (
    "A paper boat sailing down a rainy street",
    "A lighthouse sweeping its beam through fog",
    "A hummingbird hovering over a red flower",
    "Neon signs reflected in puddles at night",
    "A steaming cup of coffee on a windowsill",
    "Autumn leaves swirling in the wind",
    "A slow dolly shot through a library",
    "Waves rolling onto a black sand beach",
)


def demo_items(inputs: Path) -> Iterator[BatchItem]:
    """The demo's generations; ``inputs`` holds the face video and voice track it makes."""
    sample = Media.from_path(SAMPLE_IMAGE)
    speech = "Thanks for watching, part {}!"
    zoom = "Slow zoom into the colours"
    for n, scene in enumerate(_SCENES, start=1):
        yield BatchItem(
            key=f"nano-t2v-{n}",
            provider="nanogpt",
            request=VideoRequest(model="veo2-video", prompt=scene, duration=5),
        )
    for n in range(1, 4):
        yield BatchItem(
            key=f"nano-i2v-{n}",
            provider="nanogpt",
            request=VideoRequest(
                model="kling-v21-standard",
                prompt=f"The gradient comes alive, take {n}",
                image=sample,
            ),
        )
    storm = VideoRequest(model="veo2-video", prompt="A storm that never resolves [fail]")
    refused = VideoRequest(model="veo2-video", prompt="Something the policy refuses [moderation]")
    yield BatchItem(key="nano-storm", provider="nanogpt", request=storm)
    yield BatchItem(key="nano-refused", provider="nanogpt", request=refused)
    for n, scene in enumerate(_SCENES[:4], start=1):
        yield BatchItem(
            key=f"prism-t2v-{n}",
            provider="prism",
            request=VideoRequest(model="veo-3.1", prompt=scene, duration=8, aspect_ratio="9:16"),
        )
    for n in range(1, 3):
        yield BatchItem(
            key=f"prism-i2v-{n}",
            provider="prism",
            request=VideoRequest(model="veo-3.1", prompt=zoom, image=sample),
        )
    for n, product in enumerate(("Lumen desk lamp", "Drift headphones", "Tide water bottle"), 1):
        yield BatchItem(
            key=f"prism-template-{n}",
            provider="prism",
            request=TemplateRequest(
                template_id="featured-ugc-pitch",
                variables={"product": product, "product_image": sample},
            ),
        )
    yield BatchItem(
        key="prism-count-2",
        provider="prism",
        request=VideoRequest(model="veo-3.1", prompt="Two takes of a sunrise", count=2),
    )
    yield BatchItem(
        key="prism-template-spin",
        provider="prism",
        request=TemplateRequest(template_id="featured-product-spin", variables={"product": "Orb"}),
    )
    face = Media.from_path(inputs / "face.mp4")
    voice = Media.from_path(inputs / "voice.wav")
    yield BatchItem(
        key="lipsync-single",
        provider="lipsync",
        request=LipsyncRequest(model="lipsync-2", video=face, audio=[AudioTrack(audio=voice)]),
    )
    # A track placed by segments goes as a URL: the documents have no way to place a local
    # file by refId (the upload form's file part carries none), so the client refuses one.
    voice_url = Media.from_url("https://media.example/demo-voice.wav")
    for n in range(1, 6):
        tracks = (
            AudioTrack(audio=voice_url, ref_id="recorded"),
            AudioTrack(
                speech=Speech(script=speech.format(n), voice_id="emu-voice"),
                ref_id="spoken",
            ),
        )
        segments = (
            LipsyncSegment(start=0.0, end=2.0, ref_id="recorded", audio_start=0.0, audio_end=2.0),
            LipsyncSegment(start=2.0, end=4.0, ref_id="spoken"),
        )
        yield BatchItem(
            key=f"lipsync-segments-{n}",
            provider="lipsync",
            request=LipsyncRequest(
                model="lipsync-2",
                video=face,
                audio=tracks,
                segments=segments,
                output_file_name=f"demo_take_{n}",
            ),
        )


def _wav(seconds: float = 4.0, rate: int = 8000) -> bytes:
    """A silent mono 8-bit WAV file."""
    frames = int(seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8) + b"data"
    return header + struct.pack("<I", frames) + bytes([128]) * frames


def _write_inputs(folder: Path) -> None:
    (folder / "face.mp4").write_bytes(FAKE_MP4)
    (folder / "voice.wav").write_bytes(_wav())


async def run_demo(*, out: str) -> int:
    """Run the demo; 0 when every generation ended as scripted."""
    target = Path(out)
    emulators = (
        NanoGPTEmulator(queue_seconds=0.3, run_seconds=1.5, balance=Decimal(100)),
        PrismEmulator(queue_seconds=0.2, run_seconds=1.5),
        LipsyncEmulator(concurrency_limit=LIPSYNC_SLOTS, queue_seconds=0.3, run_seconds=1.2),
    )
    nano, prism, lipsync = emulators
    progress = BatchProgress(total=None, live=sys.stdout.isatty())
    unexpected: list[BatchOutcome] = []
    lines = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="prism-demo-") as scratch:
        await anyio.to_thread.run_sync(_write_inputs, Path(scratch))
        items = list(demo_items(Path(scratch)))
        progress.total = len(items)
        async with EmulatorServer(list(emulators)) as server:
            providers = (
                NanoGPTProvider(api_key=nano.api_key, base_url=server.base_url("nanogpt")),
                PrismProvider(api_key=prism.api_key, base_url=server.base_url("prism")),
                LipsyncProvider(
                    api_key=lipsync.api_key,
                    base_url=server.base_url("lipsync"),
                    max_jobs_in_flight=LIPSYNC_SLOTS,
                ),
            )
            print(f"emulators on {server.root}; running {len(items)} generations")
            # Polled, whatever PRISM_ASYNC_WEBHOOK_URL says: the emulators' callbacks must
            # not go to a real address.
            async with cli_client(*providers, config=EngineConfig(poll=_POLL)) as client:
                with progress.display():
                    batch = run_batch(
                        client, items, download_dir=target, on_event=progress.on_event
                    )
                    async for outcome in batch:
                        lines.write(json.dumps(outcome.to_dict()) + "\n")
                        if outcome.ok == (outcome.key in EXPECTED_FAILURES):
                            unexpected.append(outcome)
                requests = dict(client.engine.requests)
    progress.summary(requests, title="prism-async demo")
    summary = io.StringIO()
    progress.summary(requests, title="prism-async demo", out=summary, rich=False)
    folder = await anyio.to_thread.run_sync(
        _leave_behind, target, summary.getvalue(), lines.getvalue()
    )
    print(f"outputs, summary.txt and results.jsonl in {folder}")
    for outcome in unexpected:
        print(f"error: {outcome.key} did not end as scripted: {outcome.error}", file=sys.stderr)
    return 1 if unexpected else 0


def _leave_behind(target: Path, summary: str, results: str) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    (target / "summary.txt").write_text(summary, encoding="utf-8")
    (target / "results.jsonl").write_text(results, encoding="utf-8")
    return target.absolute()
