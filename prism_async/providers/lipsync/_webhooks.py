"""Verifying and reading the lipsync API's webhook deliveries.

A delivery is the Generation object, POSTed with ``Sync-Signature: t=<unix>,v1=<hex>``
where ``v1 = hex(HMAC-SHA256(key=<the whole whsec_... secret>, msg=f"{t}.{body}"))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Mapping

from prism_async.providers import (
    GenerationResult,
    ProviderResponseError,
    Secret,
    WebhookVerificationError,
)
from prism_async.providers.lipsync._wire import result_from

__all__ = ["SIGNATURE_HEADER", "parse_webhook", "sign", "verify_signature"]

NAME = "lipsync"
SIGNATURE_HEADER = "Sync-Signature"
_TIMESTAMP = re.compile(r"\d{1,12}", re.ASCII)
_HEX = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def _rejected(reason: str) -> WebhookVerificationError:
    return WebhookVerificationError(f"webhook rejected: {reason}", provider=NAME)


def _digest(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | Secret, *, timestamp: int) -> str:
    """A ``Sync-Signature`` value for ``body`` (for tests and local receivers).

    Args:
        body: The exact bytes delivered.
        secret: The ``whsec_...`` signing secret.
        timestamp: Unix seconds of the delivery.
    """
    key = Secret.of(secret).reveal().encode()
    return f"t={timestamp},v1={_digest(key, str(timestamp), body)}"


def _parse_header(header: str | None) -> tuple[str, list[str]]:
    """``(t, [v1...])`` from ``t=<unix>,v1=<hex>`` (several v1 entries allowed)."""
    if not header:
        raise _rejected(f"no {SIGNATURE_HEADER} header")
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamp = value.strip()
        elif name == "v1":
            signatures.append(value.strip())
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise _rejected(f"{SIGNATURE_HEADER} has no valid t=<unix seconds>")
    if not signatures:
        raise _rejected(f"{SIGNATURE_HEADER} has no v1=<hex> signature")
    return timestamp, signatures


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | Secret,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> int:
    """Check a delivery's signature and age; the signed timestamp if both pass.

    The signature is compared, in constant time, over the raw body only: the sender signs
    the exact bytes it sends (compact JSON). A body re-serialized by a framework will not
    verify: pass the bytes as received.

    Args:
        body: The raw request body, exactly as received.
        header: The ``Sync-Signature`` header value.
        secret: The ``whsec_...`` signing secret; the whole string is the HMAC key.
        tolerance: Seconds the timestamp may differ from ``now`` either way: a finite
            positive number (a NaN or infinite one would accept any age).
        now: Unix seconds to judge the timestamp by; the system time when None.

    Raises:
        WebhookVerificationError: The header is missing or malformed, no signature matches,
            or the timestamp is outside the tolerance. The message never holds the secret.
        ValueError: ``tolerance`` is not a finite positive number.
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(
            f"tolerance must be a finite positive number of seconds, not {tolerance!r}"
        )
    key_text = Secret.of(secret).reveal()
    if not key_text:
        raise _rejected("no signing secret configured")
    timestamp, signatures = _parse_header(header)
    key = key_text.encode()
    expected = _digest(key, timestamp, body)
    matched = False
    for signature in signatures:
        given = signature.lower() if _HEX.fullmatch(signature) else ""
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise _rejected("the signature does not match the body and the signing secret")
    signed_at = int(timestamp)
    current = time.time() if now is None else now
    age = current - signed_at
    if abs(age) > tolerance:
        when = "old" if age > 0 else "in the future"
        raise _rejected(
            f"the timestamp is {abs(age):.0f} s {when}, beyond the {tolerance:g} s tolerance"
        )
    return signed_at


def _header_from(signature: str | Mapping[str, str] | None) -> str | None:
    if signature is None or isinstance(signature, str):
        return signature
    lowered = SIGNATURE_HEADER.lower()
    return next((v for k, v in signature.items() if k.lower() == lowered), None)


def parse_webhook(
    body: bytes,
    signature: str | Mapping[str, str] | None,
    secret: str | Secret,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> GenerationResult:
    """Verify a delivery, then read it into the GenerationResult polling would give.

    Args:
        body: The raw request body, exactly as received.
        signature: The ``Sync-Signature`` value, or the request's headers.
        secret: The ``whsec_...`` signing secret.
        tolerance: Seconds the timestamp may differ from ``now`` either way.
        now: Unix seconds to judge the timestamp by; the system time when None.

    Raises:
        WebhookVerificationError: Verification failed, or the body is not a Generation.
    """
    verify_signature(body, _header_from(signature), secret, tolerance=tolerance, now=now)
    try:
        payload = json.loads(body)
    except ValueError:
        raise _rejected("the body is not JSON") from None
    try:
        return result_from(payload)
    except ProviderResponseError as exc:
        raise _rejected(f"the body is not a generation ({exc.message})") from None
