"""Request pacing shared by every worker of a run, with a shared pause after a 429."""

from __future__ import annotations

from gatepay_async._primitives.synchronization import AsyncThreadLock, async_monotonic, async_sleep

__all__ = ["AsyncRateLimiter"]


class AsyncRateLimiter:
    """Paces requests shared by many workers.

    ``acquire()`` waits for the next slot: at most ``rate`` acquisitions per second
    (``None``: no cap), and none while a pause is in force. ``pause(seconds)`` stops every
    acquirer for that long (the shared back-off after a 429); pauses only ever extend.
    """

    def __init__(self, rate: float | None = None) -> None:
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0
        ):
            raise ValueError(f"rate must be a number > 0 or None, got {rate!r}")
        self._interval = 0.0 if rate is None else 1.0 / float(rate)
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        #: Nothing to wait for, ever: no rate and never paused (the common case).
        self._free = not self._interval
        self._lock = AsyncThreadLock()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, async_monotonic() + max(0.0, seconds))
            self._free = False

    async def acquire(self) -> None:
        if self._free:
            return
        reserved = False
        while True:
            with self._lock:
                delay, reserved = self._wait_time(async_monotonic(), reserved)
            if delay <= 0:
                return
            await async_sleep(delay)

    def _wait_time(self, now: float, reserved: bool) -> tuple[float, bool]:
        """How long to wait before sending (0: go), and whether a slot is now reserved."""
        if self._paused_until > now:
            return self._paused_until - now, reserved
        if self._interval and not reserved:
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            return slot - now, True
        return 0.0, reserved
