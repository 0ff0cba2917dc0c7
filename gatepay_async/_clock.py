"""Server-aligned time: GatePay rejects a timestamp more than 10 seconds off its clock."""

from __future__ import annotations

import email.utils
import time

__all__ = ["ServerClock"]

#: Offsets smaller than this are noise from the Date header's one-second resolution.
_MIN_OFFSET_MS = 1000.0


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
        try:
            server = email.utils.parsedate_to_datetime(date_header).timestamp() * 1000.0
        except (TypeError, ValueError, IndexError):
            return
        estimate = server + 500.0 - time.time() * 1000.0
        self._offset_ms = estimate if abs(estimate) >= _MIN_OFFSET_MS else 0.0
