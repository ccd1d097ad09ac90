"""Callback-URL tokens for unsigned deliveries (Prism): unguessable, checkable without state.

A token is 16 random bytes (128 bits) and a 16-byte HMAC-SHA256 tag of them under the
receiver's token key, in URL-safe base64. Whoever holds the key can tell a token it minted
from a guess, in constant time, before looking anything up; without the key, a valid
token cannot be made. Receivers that share a key (``webhook_secret``) accept each other's
tokens, so a ``prism-async webhooks serve`` process can take deliveries for jobs another
process submitted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = ["key_from", "mint", "verified"]

_NONCE = 16
_TAG = 16


def key_from(secret: str | None) -> bytes:
    """The token key: derived from a shared secret, or random for this process alone."""
    if secret is None:
        return secrets.token_bytes(32)
    return hmac.new(b"prism-async webhook token key", secret.encode(), hashlib.sha256).digest()


def _tag(key: bytes, nonce: bytes) -> bytes:
    return hmac.new(key, nonce, hashlib.sha256).digest()[:_TAG]


def mint(key: bytes) -> str:
    """A fresh token."""
    nonce = secrets.token_bytes(_NONCE)
    return base64.urlsafe_b64encode(nonce + _tag(key, nonce)).decode().rstrip("=")


def verified(key: bytes, token: str) -> bool:
    """Whether ``token`` was minted with ``key`` (compared in constant time)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False
    if len(raw) != _NONCE + _TAG:
        return False
    return hmac.compare_digest(raw[_NONCE:], _tag(key, raw[:_NONCE]))
