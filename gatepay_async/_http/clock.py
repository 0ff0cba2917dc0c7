"""Server-aligned time: GatePay rejects a timestamp more than 10 seconds off its clock."""

from __future__ import annotations

import email.utils
import time

from gatepay_async._codes import BAD_TIMESTAMP

__all__ = ["TIMESTAMP_WINDOW_MS", "ServerClock", "clock_refusal", "parse_http_date_ms"]

#: Offsets smaller than this are noise from the Date header's one-second resolution.
_MIN_OFFSET_MS = 1000.0
#: GatePay refuses a request whose timestamp is more than 10 seconds off its clock.
TIMESTAMP_WINDOW_MS = 10_000
#: A Date header names the second: the server's time lies in [date, date + 1 s).
_DATE_RESOLUTION_MS = 1_000
#: How much nearer the window a skew may be when the answer also names a timestamp code:
#: the request travelled, and the server may check against its arrival time.
_CODE_ALLOWANCE_MS = 2_000
#: Codes that say "timestamp refused". Only the sandbox's 400003 is known; it adds to the
#: Date evidence and is never enough on its own (real GatePay may use other codes).
_TIMESTAMP_CODES = frozenset({BAD_TIMESTAMP.code})


def parse_http_date_ms(value: str | None) -> float | None:
    """Milliseconds since the epoch of an HTTP ``Date`` header, or None if unreadable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() * 1000.0
    except (TypeError, ValueError, IndexError):
        return None


def clock_refusal(
    *,
    status_code: int,
    envelope_status: object,
    code: object,
    date_header: str | None,
    signed_timestamp: str | int | None,
) -> bool:
    """Whether an answer proves that a request was refused because the client's clock is off.

    Pure: the caller passes what it read. The evidence is GatePay's own ``Date`` header: the
    answer is a refusal (a 4xx other than 429, or a ``FAIL`` envelope) and the timestamp the
    request was signed with lies more than the 10-second window away from the server's time
    that Date names. An error code cannot decide this alone (GatePay documents none for it);
    a known timestamp code only lets a skew within two seconds of the window count too.
    The caller re-signs with server-aligned time and resends once, never more: the server
    refused the request unprocessed, so even a create is safe to resend.
    """
    refused = envelope_status == "FAIL" or (400 <= status_code < 500 and status_code != 429)
    if not refused or signed_timestamp is None:
        return False
    server_ms = parse_http_date_ms(date_header)
    if server_ms is None:
        return False
    try:
        signed_ms = int(signed_timestamp)
    except ValueError:
        return False
    if signed_ms < server_ms:
        skew = server_ms - signed_ms
    else:
        skew = max(0.0, signed_ms - (server_ms + _DATE_RESOLUTION_MS - 1))
    threshold = TIMESTAMP_WINDOW_MS
    if code is not None and str(code) in _TIMESTAMP_CODES:
        threshold -= _CODE_ALLOWANCE_MS
    return skew > threshold


class ServerClock:
    """Tracks the offset between this machine's clock and the server's from ``Date`` headers.

    A Date header has one-second resolution, so the server's time lies in
    ``[date, date + 1s)``: the estimate takes the middle and ignores offsets under a second.
    Safe to share across tasks and threads: the state is one float, replaced atomically.
    """

    __slots__ = ("_last_date", "_offset_ms")

    def __init__(self) -> None:
        self._offset_ms = 0.0
        self._last_date: str | None = None

    @property
    def offset_ms(self) -> float:
        return self._offset_ms

    def now_ms(self) -> int:
        """Milliseconds since the epoch on the server's clock, as far as we know it."""
        return int(time.time() * 1000.0 + self._offset_ms)

    def observe(self, date_header: str | None, *, force: bool = False) -> None:
        """Learn from a response's Date header (cheap when the header repeats)."""
        if not date_header or (date_header == self._last_date and not force):
            return
        self._last_date = date_header
        server = parse_http_date_ms(date_header)
        if server is None:
            return
        estimate = server + 500.0 - time.time() * 1000.0
        self._offset_ms = estimate if abs(estimate) >= _MIN_OFFSET_MS else 0.0
