"""A bounded pool of concurrent calls, stopped by the first call that fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gatepay_async._primitives.synchronization import (
    AsyncFlag,
    AsyncSemaphore,
    AsyncTaskGroup,
    AsyncThreadLock,
)

__all__ = ["AsyncWorkerPool"]

T = TypeVar("T")


class AsyncWorkerPool:
    """Run submitted calls concurrently, at most ``concurrency`` at a time.

    ``async with AsyncWorkerPool(n) as pool: await pool.submit(fn, arg)``. ``submit``
    waits for a free slot. Leaving the block waits for the calls still running as
    :class:`AsyncTaskGroup` does (``on_interrupt`` is passed to it): even when the block
    raised an ``Exception``, since a running call may have sent a create. An exception
    raised by a call stops the pool: later ``submit`` calls raise it, and so does the
    exit.
    """

    def __init__(
        self, concurrency: int, on_interrupt: Callable[[int], object] | None = None
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._slots = AsyncSemaphore(concurrency)
        self._tasks = AsyncTaskGroup(on_interrupt)
        self._lock = AsyncThreadLock()  # the count and the error, shared with the calls
        self._running = 0
        self._idle = AsyncFlag()
        self._idle.set()
        self._error: Exception | None = None

    @property
    def running(self) -> int:
        """How many calls are running now."""
        return self._running

    async def __aenter__(self) -> AsyncWorkerPool:
        await self._tasks.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._tasks.__aexit__(*exc_info)
        if exc_info[1] is None and self._error is not None:
            raise self._error

    async def submit(self, fn: Callable[[T], Any], arg: T) -> None:
        """Start ``fn(arg)`` once a slot is free."""
        if self._error is not None:
            raise self._error
        await self._slots.acquire()
        with self._lock:
            self._running += 1
            self._idle.clear()
        try:
            self._tasks.start_soon(self._run, fn, arg)
        except BaseException:
            self._finished()
            raise

    async def wait_idle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for every running call to end; True if they did."""
        return await self._idle.wait(seconds)

    async def _run(self, fn: Callable[[T], Any], arg: T) -> None:
        try:
            await fn(arg)
        except Exception as exc:
            with self._lock:
                if self._error is None:
                    self._error = exc
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._running -= 1
            if not self._running:
                self._idle.set()
        self._slots.release()
