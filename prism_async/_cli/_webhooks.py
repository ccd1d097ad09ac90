"""Webhooks on the command line.

- ``generate``/``batch`` ``--webhook-url URL --listen HOST:PORT``: the command serves its
  client's receiver (:func:`prism_async.webhooks.aiohttp_app`) on HOST:PORT, at URL's
  path, for as long as it runs; URL is that receiver's public address (the providers call
  it), given to the client as its ``webhook_base_url``.
- ``prism-async webhooks serve``: a receiver on its own, printing every verified delivery
  as one JSON line, until SIGINT or SIGTERM.

The lipsync signing secret comes from ``--webhook-secret`` or ``SYNC_WEBHOOK_SECRET``; it
is held as a :class:`~prism_async._secrets.Secret` and never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs

import prism_async._registry as registry
from prism_async._client import Client
from prism_async._errors import RequestValidationError
from prism_async._provider import VideoProvider
from prism_async._secrets import Secret
from prism_async.webhooks import Delivery, WebhookReceiver

__all__ = [
    "WebhookSetup",
    "cli_client",
    "listen_address",
    "mount_path",
    "receiving",
    "serve_command",
    "webhook_setup",
    "webhook_url",
]

SECRET_VARIABLE = "SYNC_WEBHOOK_SECRET"
#: What a provider without a key in the environment is built with by ``webhooks serve``:
#: it only reads deliveries there, and never sends a request.
_PLACEHOLDER_KEY = "unused-by-the-webhook-receiver"


# -- the flags ----------------------------------------------------------------------------


def webhook_url(text: str) -> str:
    """``--webhook-url``: an http(s) URL with a host, and no query or fragment (each job's
    callback URL is made by adding to its path)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL the providers can reach, got {text!r}"
        )
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"must have no query or fragment, got {text!r}")
    return text


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port must be a number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be 1-65535, got {text!r}")
    return port


def port_number(text: str) -> int:
    """``--port``: 1 to 65535."""
    return _port(text)


def listen_address(text: str) -> tuple[str, int]:
    """``--listen HOST:PORT``: ``0.0.0.0:8080``, ``127.0.0.1:8080``, ``[::1]:8080``."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or (":" in host and not text.startswith("[")):
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (an IPv6 host in brackets: [::1]:8080), got {text!r}"
        )
    return host, _port(port)


def mount_path(text: str) -> str:
    """``--path``: where the receiver is mounted, ``/`` or ``/a/b`` (no trailing slash)."""
    if not text.startswith("/") or any(c in text for c in "?#{} "):
        raise argparse.ArgumentTypeError(f"expected a path such as /hooks, got {text!r}")
    return text.rstrip("/") or "/"


def add_webhook_flags(parser: argparse.ArgumentParser) -> None:
    """``--webhook-url``, ``--listen`` and ``--webhook-secret``, for generate and batch."""
    group = parser.add_argument_group(
        "webhooks",
        "End each wait on the provider's callback instead of polling: this command serves "
        "a webhook receiver on --listen while it runs, at --webhook-url's path. Lipsync jobs "
        "and Prism template jobs name a callback URL under --webhook-url; other jobs are "
        "polled as usual. A slow safety-net poll still ends a job whose callback is lost. "
        "Forged, stale or unknown deliveries are refused and end nothing. Without "
        "--webhook-url jobs are polled (the PRISM_ASYNC_WEBHOOK_URL variable is not read).",
    )
    group.add_argument(
        "--webhook-url",
        type=webhook_url,
        metavar="URL",
        help="the receiver's public http(s) address, as the providers reach it (e.g. "
        "https://example.com/hooks behind a proxy; http://127.0.0.1:8080/hooks locally); "
        "needs --listen",
    )
    group.add_argument(
        "--listen",
        type=listen_address,
        metavar="HOST:PORT",
        help="where this process listens for the callbacks (e.g. 0.0.0.0:8080 behind a "
        "proxy that forwards URL to it); needs --webhook-url",
    )
    group.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help="the lipsync signing secret (whsec_...) that verifies its deliveries; default: "
        f"the {SECRET_VARIABLE} variable, which keeps it out of the process list. Without "
        "one, lipsync jobs are polled; with a wrong one, their deliveries are refused and "
        "each job ends only by the safety-net poll (5 minutes). Never printed",
    )


@attrs.frozen(repr=False)
class WebhookSetup:
    """What ``--webhook-url URL --listen HOST:PORT`` asks for."""

    url: str
    host: str
    port: int
    secret: Secret | None

    @property
    def path(self) -> str:
        """Where the receiver is mounted: URL's path (``/`` for none)."""
        return urlsplit(self.url).path.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"WebhookSetup(url={self.url!r}, host={self.host!r}, port={self.port!r})"


def _secret(args: argparse.Namespace, environ: Mapping[str, str]) -> Secret | None:
    value = getattr(args, "webhook_secret", None) or environ.get(SECRET_VARIABLE)
    return Secret(value) if value else None


def webhook_setup(args: argparse.Namespace, environ: Mapping[str, str]) -> WebhookSetup | None:
    """The webhook flags, checked together (before any request); None without them.

    Raises:
        RequestValidationError: One of ``--webhook-url`` and ``--listen`` without the
            other, or with ``--no-wait`` (no one would be here to take the callbacks).
    """
    url, listen = getattr(args, "webhook_url", None), getattr(args, "listen", None)
    if url is None and listen is None:
        return None
    if listen is None:
        raise RequestValidationError(
            "--listen", "required with --webhook-url: the HOST:PORT this process receives on"
        )
    if url is None:
        raise RequestValidationError(
            "--webhook-url", "required with --listen: the public URL the providers call"
        )
    if getattr(args, "no_wait", False):
        raise RequestValidationError(
            "--no-wait",
            "cannot be used with --webhook-url: the callbacks would come after this "
            "process has gone",
        )
    host, port = listen
    return WebhookSetup(url=url, host=host, port=port, secret=_secret(args, environ))


# -- a client, and its receiver served ----------------------------------------------------


def cli_client(
    *providers: VideoProvider, webhooks: WebhookSetup | None = None, **options: Any
) -> Client:
    """The command line's client: with ``webhooks``, one whose jobs name callbacks under
    its URL (serve its receiver with :func:`receiving`); without, one that polls.

    ``PRISM_ASYNC_WEBHOOK_URL`` (which ``Client.from_env`` reads) is not used here:
    nothing in this process would receive the callbacks there.
    """
    if webhooks is None:
        return Client(*providers, **options)
    return Client(
        *providers, webhook_base_url=webhooks.url, webhook_secret=webhooks.secret, **options
    )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextlib.asynccontextmanager
async def _served(
    receiver: WebhookReceiver, host: str, port: int, path: str, *, flag: str = "--listen"
) -> AsyncIterator[None]:
    """``receiver`` served on ``host:port`` at ``path`` until the block ends.

    Raises:
        RequestValidationError: The address cannot be listened on (in use, not local...);
            it names ``flag``.
    """
    from aiohttp import web

    from prism_async.webhooks import aiohttp_app

    hooks = aiohttp_app(receiver)
    if path == "/":
        app = hooks
    else:
        app = web.Application()
        app.add_subapp(path, hooks)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise RequestValidationError(
                flag,
                f"cannot listen on {_address(host, port)}: {exc.strerror or exc}",
            ) from None
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def receiving(client: Client, setup: WebhookSetup | None) -> AsyncIterator[None]:
    """The client's receiver served where ``setup`` says (nothing without one)."""
    if setup is None:
        yield
        return
    assert client.webhooks is not None
    async with _served(client.webhooks, setup.host, setup.port, setup.path):
        print(
            f"prism-async: receiving webhooks on {_address(setup.host, setup.port)} at "
            f"{setup.path} (public URL {setup.url})",
            file=sys.stderr,
            flush=True,
        )
        yield


def warn_if_polled(client: Client, provider: str, request: object) -> None:
    """Say so where ``--webhook-url`` is given but this request's jobs will be polled."""
    hooks = client.webhooks
    if hooks is None:
        return
    capable = hooks.providers.get(provider)
    if capable is None:
        reason = f"{provider} does not call back"
    elif not hooks.accepts(provider):
        return  # the receiver has said so: no signing secret
    elif capable.with_webhook(request, client.webhook_base_url or "") is None:
        reason = f"{provider} calls back for other requests than this one"
    else:
        return
    print(f"warning: --webhook-url: {reason}; the job is polled", file=sys.stderr, flush=True)


# -- prism-async webhooks serve -----------------------------------------------------------


def _receiving_providers(environ: Mapping[str, str]) -> list[VideoProvider]:
    """Every registered provider, built from the environment, a placeholder key standing
    in for a missing one (only its delivery reader is used)."""
    providers = []
    for name in registry.available():
        try:
            factory = registry.load(name)
        except ImportError:  # registered but not installed
            continue
        settings = dict(environ)
        if not settings.get(factory.env_key):
            settings[factory.env_key] = _PLACEHOLDER_KEY
        providers.append(factory.from_env(settings))
    return providers


def _print_delivery(delivery: Delivery) -> None:
    record = {
        "provider": delivery.provider,
        "job_id": delivery.job_id,
        "result": delivery.result.to_dict() if delivery.result is not None else None,
        "waited_on": delivery.waited_on,
    }
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def serve_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``prism-async webhooks serve``: until SIGINT or SIGTERM; then 0.

    Raises:
        RequestValidationError: No secret: every delivery would be refused (signed ones
            cannot be verified, and Prism tokens are keyed on the submitter's secret).
    """
    secret = _secret(args, environ)
    if secret is None:
        raise RequestValidationError(
            "--webhook-secret",
            f"required (or {SECRET_VARIABLE}): without the submitting client's secret every "
            "delivery would be refused",
        )
    receiver = WebhookReceiver(
        _receiving_providers(environ), secret=secret, on_delivery=_print_delivery
    )
    names = ", ".join(sorted(receiver.providers)) or "none"
    with contextlib.ExitStack() as stack:
        # Taken before the server starts: once it says it listens, a signal stops it cleanly.
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        except NotImplementedError:  # no signal handlers (Windows): Ctrl-C interrupts
            signals = None
        async with _served(receiver, args.host, args.port, args.path, flag="--port"):
            print(
                f"prism-async webhooks: listening on {_address(args.host, args.port)} at "
                f"{args.path} for {names} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            if signals is None:
                await anyio.sleep_forever()
            else:
                async for _ in signals:
                    break
    return 0
