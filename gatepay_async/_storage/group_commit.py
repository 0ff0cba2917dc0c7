"""One flush (an fsync) shared by every caller waiting for one at the same moment."""

from __future__ import annotations

from collections.abc import Callable

from gatepay_async._primitives.synchronization import AsyncFlag, AsyncThreadLock, async_run_blocking

__all__ = ["AsyncGroupCommit"]

#: How long a caller waits for a running flush before it looks again (seconds).
WAIT_TURN = 0.1


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
            done: AsyncFlag | None = None
            try:
                # The flush is claimed inside the try, so that whatever ends this call
                # (in the sync twin, a Ctrl-C between any two lines) releases the claim.
                with self._lock:
                    if self._flushed >= ticket:
                        return
                    running = self._running
                    if running is None:
                        done = self._running = AsyncFlag()
                        target = self._requested
                if running is not None:
                    # Waited for in short turns: a flush whose caller was interrupted
                    # after releasing its claim and before setting its flag must not
                    # hold the others for ever.
                    await running.wait(WAIT_TURN)
                    continue
                await async_run_blocking(self._flush)
                with self._lock:
                    self._flushed = max(self._flushed, target)
            finally:
                if done is not None:
                    with self._lock:
                        self._running = None
                    done.set()
