"""``prism-async demo``: a small mixed run against in-process emulators, no key, no network.

It starts the emulators on a free loopback port, submits a handful of generations
(text-to-video, image-to-video from a bundled local image, one that fails and one refused
by content policy), prints each as it ends, downloads the outputs into a folder, and ends
with a summary per provider: jobs, succeeded, failed, HTTP requests made, cost.
"""

from __future__ import annotations

import collections
import sys
from decimal import Decimal
from pathlib import Path

from prism_async.client import Client
from prism_async.media import Media
from prism_async.providers.nanogpt import NanoGPTProvider
from prism_async.requests import VideoRequest
from prism_async.results import GenerationResult, JobHandle, JobStatus
from prism_async.testing import EmulatorServer
from prism_async.testing.nanogpt import NanoGPTEmulator

__all__ = ["run_demo"]

SAMPLE_IMAGE = Path(__file__).parent / "assets" / "sample.png"


def _requests() -> list[VideoRequest]:
    t2v = [
        VideoRequest(model="veo2-video", prompt=f"A paper boat on a rainy street, take {n}")
        for n in range(1, 5)
    ]
    i2v = VideoRequest(
        model="kling-v21-standard",
        prompt="The gradient slowly comes alive",
        image=Media.from_path(SAMPLE_IMAGE),
    )
    failing = VideoRequest(model="veo2-video", prompt="A storm that never resolves [fail]")
    refused = VideoRequest(model="veo2-video", prompt="Something the policy refuses [moderation]")
    return [*t2v, i2v, failing, refused]


async def run_demo(*, out: str) -> int:
    """Run the demo; 0 when it ran through (the scripted failures are expected)."""
    emulator = NanoGPTEmulator(queue_seconds=0.3, run_seconds=1.5)
    target = Path(out)
    results: list[GenerationResult] = []
    async with EmulatorServer([emulator]) as server:
        provider = NanoGPTProvider(
            api_key=server.api_key("nanogpt"), base_url=server.base_url("nanogpt")
        )
        async with Client(provider) as client:
            print(f"emulators on {server.root}; submitting {len(_requests())} generations")
            handles: list[JobHandle] = []
            for request in _requests():
                handles.extend(await client.submit(request))
            async for outcome in client.as_completed(handles, timeout=120):
                if outcome.result is None:
                    print(f"  error     {outcome.handle}: {outcome.error}")
                    continue
                result = outcome.result
                results.append(result)
                line = f"  {result.status.value:<9} {result.handle}"
                if result.status is JobStatus.SUCCEEDED:
                    paths = await client.download(result, target)
                    line += f"  -> {paths[0]}"
                elif result.failure is not None:
                    line += f"  ({result.failure.kind.value}: {result.failure.message})"
                print(line)
            requests = dict(client.engine.requests)
    _summary(results, requests, target)
    expected_failures = 2
    failed = sum(1 for r in results if r.status is not JobStatus.SUCCEEDED)
    return 0 if len(results) == len(_requests()) and failed == expected_failures else 1


def _summary(results: list[GenerationResult], requests: dict[str, int], target: Path) -> None:
    by_provider: dict[str, list[GenerationResult]] = collections.defaultdict(list)
    for result in results:
        by_provider[result.provider].append(result)
    rows = []
    for name, items in sorted(by_provider.items()):
        succeeded = sum(1 for r in items if r.status is JobStatus.SUCCEEDED)
        costs: dict[str, Decimal] = collections.defaultdict(Decimal)
        for r in items:
            if r.cost is not None:
                costs[r.cost.unit.value] += r.cost.amount
        cost = ", ".join(f"{amount} {unit}" for unit, amount in costs.items()) or "-"
        failed = len(items) - succeeded
        rows.append((name, len(items), succeeded, failed, requests.get(name, 0), cost))
    headers = ("provider", "jobs", "succeeded", "failed", "HTTP requests", "cost")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the cli extra is not installed: plain text
        print("\n" + "  ".join(headers))
        for row in rows:
            print("  ".join(str(v) for v in row))
    else:
        table = Table(title="prism-async demo summary")
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        Console(file=sys.stdout).print(table)
    print(f"outputs in {target.resolve()}")
