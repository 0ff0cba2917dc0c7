"""Checking a request's GatePay headers: Content-Type, client id, timestamp, nonce, signature."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from gatepay_async._http.signing import verify
from gatepay_async.sandbox._responses import (
    CODE_BAD_CONTENT_TYPE,
    CODE_BAD_NONCE,
    CODE_BAD_SIGNATURE,
    CODE_BAD_TIMESTAMP,
    CODE_UNKNOWN_CLIENT,
    Rejection,
)

__all__ = [
    "MAX_HEADER_CHARS",
    "MAX_NONCE",
    "MAX_ON_BEHALF_OF",
    "ReplayCache",
    "RequestHeaders",
    "authenticate",
    "check_content_type",
]

_WANTED = {
    b"content-type": "content_type",
    b"x-gatepay-certificate-clientid": "client_id",
    b"x-gatepay-timestamp": "timestamp",
    b"x-gatepay-nonce": "nonce",
    b"x-gatepay-signature": "signature",
    b"x-gatepay-on-behalf-of": "on_behalf_of",
}
_MAX_TIMESTAMP_DIGITS = 15
MAX_NONCE = 32
#: A sub-account id longer than this is refused (it would be stored with every card).
MAX_ON_BEHALF_OF = 64
#: Each header value is cut to one character past this when read: long enough for every
#: check to see that it is too long, short enough that nothing keeps a huge value.
MAX_HEADER_CHARS = 1024


class RequestHeaders:
    """The headers the sandbox looks at, picked out of an ASGI scope in one pass."""

    __slots__ = ("client_id", "content_type", "nonce", "on_behalf_of", "signature", "timestamp")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.content_type: str | None = None
        self.client_id: str | None = None
        self.timestamp: str | None = None
        self.nonce: str | None = None
        self.signature: str | None = None
        self.on_behalf_of: str | None = None
        for name, value in raw:
            attr = _WANTED.get(name.lower())
            if attr is not None:
                setattr(self, attr, value[: MAX_HEADER_CHARS + 1].decode("latin-1"))


def check_content_type(content_type: str | None) -> None:
    """A request with a body must say ``application/json`` (parameters such as charset allowed)."""
    if content_type is None:
        raise Rejection(400, CODE_BAD_CONTENT_TYPE, "Content-Type: application/json is required")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        raise Rejection(
            400,
            CODE_BAD_CONTENT_TYPE,
            f"Content-Type: expected application/json, got {content_type[:100]!r}",
        )


class ReplayCache:
    """Nonces seen recently. Each is remembered for twice the timestamp window.

    Memory is bounded: expired nonces are dropped as new ones arrive, and past
    ``max_entries`` the oldest are dropped early.
    """

    def __init__(
        self,
        window_seconds: float,
        max_entries: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._ttl = 2 * window_seconds + 1
        self._max = max_entries
        self._expiry: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()

    def __contains__(self, nonce: object) -> bool:
        expiry = self._expiry.get(nonce) if isinstance(nonce, str) else None
        return expiry is not None and expiry > self._clock()

    def __len__(self) -> int:
        return len(self._expiry)

    def clear(self) -> None:
        self._expiry.clear()
        self._order.clear()

    def add(self, nonce: str) -> None:
        now = self._clock()
        order = self._order
        while order and (order[0][0] <= now or len(order) >= self._max):
            expiry, old = order.popleft()
            if self._expiry.get(old) == expiry:
                del self._expiry[old]
        expiry = now + self._ttl
        self._expiry[nonce] = expiry
        order.append((expiry, nonce))


def authenticate(
    headers: RequestHeaders,
    body: bytes,
    *,
    client_id: str,
    secret: str,
    now: float,
    window: float,
    replay: ReplayCache,
) -> None:
    """Check the auth headers in GatePay's order; raise :class:`Rejection` on the first fault.

    Order: headers present, client id, timestamp, nonce, signature. The nonce is
    remembered only once the signature is good.
    """
    given_id = headers.client_id or ""
    timestamp = headers.timestamp or ""
    nonce = headers.nonce or ""
    signature = headers.signature or ""
    _check_present(given_id, timestamp, nonce, signature)
    if given_id != client_id:
        raise Rejection.auth(
            CODE_UNKNOWN_CLIENT, "X-GatePay-Certificate-ClientId: unknown client id"
        )
    _check_timestamp(timestamp, now, window)
    _check_nonce(nonce, replay)
    if not verify(secret, timestamp, nonce, body, signature):
        raise Rejection.auth(CODE_BAD_SIGNATURE, "X-GatePay-Signature: signature does not match")
    replay.add(nonce)


def _check_present(given_id: str, timestamp: str, nonce: str, signature: str) -> None:
    if given_id and timestamp and nonce and signature:
        return
    missing = [
        name
        for name, value in (
            ("X-GatePay-Certificate-ClientId", given_id),
            ("X-GatePay-Timestamp", timestamp),
            ("X-GatePay-Nonce", nonce),
            ("X-GatePay-Signature", signature),
        )
        if not value
    ]
    raise Rejection.auth(CODE_UNKNOWN_CLIENT, f"missing header: {', '.join(missing)}")


def _check_timestamp(timestamp: str, now: float, window: float) -> None:
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise Rejection.auth(
            CODE_BAD_TIMESTAMP, "X-GatePay-Timestamp: must be an integer number of milliseconds"
        )
    now_ms = int(now * 1000)
    if abs(int(timestamp) - now_ms) > window * 1000:
        raise Rejection.auth(
            CODE_BAD_TIMESTAMP,
            f"X-GatePay-Timestamp: {timestamp} is more than {window:g} seconds away from "
            f"server time {now_ms}",
        )


def _check_nonce(nonce: str, replay: ReplayCache) -> None:
    """A well-formed nonce not seen before (it is remembered once the signature is good)."""
    if len(nonce) > MAX_NONCE or not (nonce.isascii() and nonce.isalnum()):
        raise Rejection.auth(
            CODE_BAD_NONCE, "X-GatePay-Nonce: must be 1-32 ASCII letters or digits"
        )
    if nonce in replay:
        raise Rejection.auth(CODE_BAD_NONCE, "X-GatePay-Nonce: already used (replayed request)")
