"""GatePay request signing: HMAC-SHA512 over ``timestamp\\nnonce\\nbody\\n``.

Pure functions shared by the client (to sign) and the sandbox (to verify).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "signing_payload", "verify"]


def signing_payload(timestamp: str | int, nonce: str, body: bytes) -> bytes:
    """The exact bytes GatePay signs: timestamp, nonce and body, each followed by a newline."""
    return b"".join(
        (str(timestamp).encode("ascii"), b"\n", nonce.encode("ascii"), b"\n", body, b"\n")
    )


def sign(secret: str, timestamp: str | int, nonce: str, body: bytes) -> str:
    """Return the lowercase hex HMAC-SHA512 signature of one request or response.

    ``body`` is the exact bytes sent on the wire (``b""`` for a request without a body).
    """
    return hmac.new(
        secret.encode("utf-8"), signing_payload(timestamp, nonce, body), hashlib.sha512
    ).hexdigest()


def verify(secret: str, timestamp: str | int, nonce: str, body: bytes, signature: str) -> bool:
    """Check ``signature`` in constant time. Never raises for a malformed signature."""
    try:
        expected = sign(secret, timestamp, nonce, body)
    except (UnicodeEncodeError, ValueError):
        return False
    try:
        given = signature.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given)
