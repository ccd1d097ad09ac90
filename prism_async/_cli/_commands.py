"""What each subcommand does, on one Client built from the environment."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import prism_async._registry as registry
from prism_async._cli._notes import RunNotes
from prism_async._cli._output import just_created, print_handle, print_result, quoted
from prism_async._cli._webhooks import (
    WebhookSetup,
    cli_client,
    receiving,
    warn_if_polled,
    webhook_setup,
)
from prism_async._client import Client
from prism_async._downloads import check_writable_dir
from prism_async._errors import GenerationFailed, PollTimeout, RequestValidationError
from prism_async._media import Media
from prism_async._provider import SupportsModels
from prism_async._requests import VideoRequest
from prism_async._results import JobHandle, JobStatus, SubmitReceipt

__all__ = ["run_command"]


async def run_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Dispatch a parsed command line; the exit status."""
    if args.command == "emulate":
        from prism_async._cli._emulate import serve

        await serve(host=args.host, port=args.port, balances=args.balance)
        return 0
    if args.command == "examples":
        from prism_async._cli._examples import copy_examples

        return await copy_examples(Path(args.dir))
    if args.command == "batch":
        from prism_async._cli._batch import run_batch_command

        return await run_batch_command(args, environ)
    if args.command == "demo":
        from prism_async._cli._demo import run_demo

        return await run_demo(out=args.out)
    if args.command == "webhooks":
        from prism_async._cli._webhooks import serve_command

        return await serve_command(args, environ)
    from prism_async._cli._cancel import cancel_command
    from prism_async._cli._prism import characters_command, templates_command

    command = {
        "generate": _generate,
        "status": _status,
        "wait": _wait,
        "models": _models,
        "templates": templates_command,
        "characters": characters_command,
        "cancel": cancel_command,
    }
    return await command[args.command](args, environ)


def _client(name: str, environ: Mapping[str, str], webhooks: WebhookSetup | None = None) -> Client:
    try:
        provider = registry.from_env(name, environ)
    except KeyError as exc:
        raise RequestValidationError("--provider", str(exc.args[0])) from None
    return cli_client(provider, webhooks=webhooks)


def _handle(text: str, provider: str | None) -> JobHandle:
    if provider is None:
        try:
            return JobHandle.parse(text)
        except ValueError:
            raise RequestValidationError(
                "ID", f"{text!r} is not a full handle: give --provider too"
            ) from None
    if text.startswith(f"{provider}:"):
        return JobHandle.parse(text)
    return JobHandle(provider=provider, id=text)


def _video_request(args: argparse.Namespace) -> VideoRequest:
    if not args.model:
        raise RequestValidationError("--model", "required")
    return VideoRequest(
        model=args.model,
        prompt=args.prompt,
        image=Media.parse(args.image) if args.image else None,
        duration=args.duration,
        aspect_ratio=args.aspect_ratio,
        resolution=args.resolution,
        count=args.count,
        extra=dict(args.sets),
    )


async def _generate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    webhooks = webhook_setup(args, environ)  # refused before anything is sent
    request: object
    if args.provider == "lipsync":
        from prism_async._cli._lipsync import lipsync_request

        request = lipsync_request(args)
    elif args.template:
        from prism_async._cli._prism import template_request

        request = template_request(args)
    else:
        request = _video_request(args)
    if args.download:  # refused before paying, not after
        await check_writable_dir(Path(args.download), field="--download")
    client = _client(args.provider, environ, webhooks)
    warn_if_polled(client, args.provider, request)
    async with client, receiving(client, webhooks):
        notes: RunNotes = args.notes
        handles = await client.submit(request, provider=args.provider, before_create=notes.sending)
        notes.answered(handles)
        if args.no_wait:
            for handle in handles:
                print_handle(handle, as_json=args.json, receipt=SubmitReceipt.of(handles))
            return 0
        from prism_async._cli._progress import live_job_line

        with live_job_line(client, handles):  # stderr, on a terminal only
            return await _await_all(client, handles, args)


async def _status(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    handle = _handle(args.job, args.provider)
    async with _client(handle.provider, environ) as client:
        print_result(await client.get(handle), as_json=args.json, handle=handle)
    return 0


async def _wait(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    handles = [_handle(text, args.provider) for text in args.jobs]
    names = {h.provider for h in handles}
    if len(names) != 1:
        raise RequestValidationError("ID", "wait takes jobs of one provider at a time")
    async with _client(names.pop(), environ) as client:
        return await _await_all(client, handles, args)


async def _await_all(client: Client, handles: Sequence[JobHandle], args: argparse.Namespace) -> int:
    """Print each job as it ends; 0 only if every one succeeded, EXIT_FAILED if any
    failed, else EXIT_TIMEOUT if a wait timed out (its last known state is printed)."""
    from prism_async._cli import EXIT_FAILED, EXIT_TIMEOUT

    failures = timeouts = 0
    async for outcome in client.as_completed(handles, timeout=args.timeout):
        if outcome.error is not None:
            if isinstance(outcome.error, PollTimeout):
                timeouts += 1
                last = outcome.error.last_result or just_created(outcome.handle)
                print_result(last, as_json=args.json, handle=outcome.handle)
                handle = quoted(outcome.handle)
                print(
                    f"error: {handle} did not end within {args.timeout:g} s; it goes on: "
                    f"prism-async wait {handle}",
                    file=sys.stderr,
                )
            else:
                failures += 1
                print(f"error: {quoted(outcome.handle)}: {outcome.error}", file=sys.stderr)
            continue
        result = outcome.result
        assert result is not None
        print_result(result, as_json=args.json, handle=outcome.handle)
        if result.status is not JobStatus.SUCCEEDED:
            failures += 1
            print(f"error: {GenerationFailed(result)}", file=sys.stderr)
        elif args.download:
            for path in await client.download(result, args.download, timeout=args.timeout):
                print(f"downloaded {path}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    return EXIT_TIMEOUT if timeouts else 0


async def _models(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = _client(args.provider, environ)
    provider = client.provider()
    if not isinstance(provider, SupportsModels):
        raise RequestValidationError("--provider", f"{args.provider} has no model catalog")
    async with client:
        models = await client.run(provider.models_flow())
    for model in models:
        # A catalog that prices its models (NanoGPT's ``pricing``) shows the price too.
        pricing = getattr(model, "pricing", None)
        price = getattr(model, "price_text", None)
        if args.json:
            record = {
                "id": model.id,
                "name": model.name,
                "inputs": model.input_modalities,
                "pricing": dict(pricing) if pricing else None,
            }
            print(json.dumps(record))
        else:
            print(f"{model.id:<32} {', '.join(model.input_modalities):<20} {price or '-'}")
    return 0
