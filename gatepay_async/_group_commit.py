"""One flush (an fsync) shared by every caller waiting for one at the same moment."""

from __future__ import annotations

from collections.abc import Callable

from gatepay_async._synchronization import AsyncFlag, AsyncThreadLock, async_run_blocking

__all__ = ["AsyncGroupCommit"]


class AsyncGroupCommit:
    """Share one ``flush()`` among concurrent callers (group commit).

    ``await commit()`` returns once a flush that *started after the call* has completed,
    so whatever the caller wrote before calling is durable. Callers that arrive while a
    flush runs wait for it and then share the next one: 64 concurrent writers cost a
    handful of flushes, not 64. The flush runs through ``async_run_blocking``, so it
    blocks no other caller meanwhile. A flush that raises raises in the caller that ran
    it; the callers waiting for it start the next one.
    """

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._lock = AsyncThreadLock()
        self._requested = 0
        self._flushed = 0
        self._running: AsyncFlag | None = None  # set when the running flush ends

    async def commit(self) -> None:
        with self._lock:
            self._requested += 1
            ticket = self._requested
        while True:
            with self._lock:
                if self._flushed >= ticket:
                    return
                running = self._running
                if running is None:
                    done = self._running = AsyncFlag()
                    target = self._requested
            if running is not None:
                await running.wait()
                continue
            try:
                await async_run_blocking(self._flush)
                with self._lock:
                    self._flushed = max(self._flushed, target)
            finally:
                with self._lock:
                    self._running = None
                done.set()
