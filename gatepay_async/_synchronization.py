"""Concurrency primitives in async and sync pairs.

Generated sync code uses the sync twin of each async name here (``async_sleep`` becomes
``sleep``, ``AsyncWorkerPool`` becomes ``WorkerPool``); ``scripts/unasync.py`` maps the
names. Both halves are written by hand, with the same method names and signatures, so
that one line-by-line translation of the code using them is correct:

============================  ===========================  ==============================
async (anyio, any backend)    sync (threads)               what it is
============================  ===========================  ==============================
``async_sleep``               ``sleep``                    sleep
``async_monotonic``           ``monotonic``                a monotonic clock, in seconds
``async_iterate``             ``iterate``                  an (async) iterator over items
``AsyncLock``                 ``Lock``                     mutual exclusion (``with``)
``AsyncFlag``                 ``Flag``                     a resettable event
``AsyncCancelShield``         ``CancelShield``             protect a block from cancellation
``AsyncRateLimiter``          ``RateLimiter``              request spacing + shared pause
``AsyncGroupCommit``          ``GroupCommit``              one flush shared by many callers
``AsyncWorkerPool``           ``WorkerPool``               bounded concurrent calls
============================  ===========================  ==============================
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import anyio.to_thread

__all__ = [
    "AsyncCancelShield",
    "AsyncFlag",
    "AsyncGroupCommit",
    "AsyncLock",
    "AsyncRateLimiter",
    "AsyncWorkerPool",
    "CancelShield",
    "Flag",
    "GroupCommit",
    "Lock",
    "RateLimiter",
    "WorkerPool",
    "async_iterate",
    "async_monotonic",
    "async_sleep",
    "iterate",
    "monotonic",
    "sleep",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- sleep, clock


async def async_sleep(seconds: float) -> None:
    """Sleep on whichever event loop runs us (asyncio or trio)."""
    await anyio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Block the calling thread; no event loop is involved."""
    time.sleep(seconds)


def async_monotonic() -> float:
    """The event loop's clock (the one ``async_sleep`` counts with), in seconds."""
    return anyio.current_time()


def monotonic() -> float:
    """A monotonic clock, in seconds."""
    return time.monotonic()


# --------------------------------------------------------------------------- iteration


async def _iterate_sync(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


def async_iterate(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    """An async iterator over an async iterable or a plain one (pulled lazily)."""
    if isinstance(items, AsyncIterable):
        return aiter(items)
    return _iterate_sync(items)


def iterate(items: Iterable[T]) -> Iterator[T]:
    """An iterator over ``items`` (pulled lazily)."""
    return iter(items)


# --------------------------------------------------------------------------- lock


class AsyncLock:
    """A task lock: ``async with lock: ...``.

    Taking a free lock is not a checkpoint (no cancellation is delivered there), so a
    block of plain code guarded by it runs even in a task that is being cancelled.
    """

    def __init__(self) -> None:
        self._lock = anyio.Lock()

    async def __aenter__(self) -> None:
        try:
            self._lock.acquire_nowait()
        except anyio.WouldBlock:
            await self._lock.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()


class Lock:
    """A thread lock: ``with lock: ...``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()


# --------------------------------------------------------------------------- flag


class AsyncFlag:
    """A resettable event: ``set()``, ``clear()``, ``await wait()`` until it is set."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        # anyio's Event cannot be reset; a waiter of the old one was woken already.
        if self._event.is_set():
            self._event = anyio.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class Flag:
    """The thread twin of :class:`AsyncFlag`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self) -> None:
        self._event.wait()


# --------------------------------------------------------------------------- shield


class AsyncCancelShield:
    """``with AsyncCancelShield(): ...``: the block runs to its end even if the task is
    cancelled meanwhile; the cancellation is delivered after it. ``enabled=False``
    makes it a no-op (a shield costs a little on every use).

    Used around "write the intent, send the create, record the outcome", so that a
    cancelled run never abandons a request that may already have issued a card.
    """

    def __init__(self, enabled: bool = True) -> None:
        self._scope = anyio.CancelScope(shield=True) if enabled else None

    def cancel(self) -> bool:
        """Cancel the block itself (abandon it); False if that cannot be done."""
        if self._scope is None:
            return False
        self._scope.cancel()
        return True

    def __enter__(self) -> None:
        if self._scope is not None:
            self._scope.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # True swallows the cancellation of this very scope (after cancel()).
        if self._scope is not None:
            return bool(self._scope.__exit__(exc_type, exc, tb))
        return False


class CancelShield:
    """The sync twin of :class:`AsyncCancelShield`: threads are not cancelled, so a no-op."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def cancel(self) -> bool:
        """A thread cannot be cancelled: always False."""
        return False

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


# --------------------------------------------------------------------------- rate limiter


def _interval(rate: float | None) -> float:
    if rate is None:
        return 0.0
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError(f"rate must be a number > 0 or None, got {rate!r}")
    return 1.0 / float(rate)


class _RateState:
    """The shared arithmetic of both rate limiters (no waiting here)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = _interval(rate)
        self.next_slot = float("-inf")
        self.paused_until = float("-inf")
        #: Nothing to wait for, ever: no rate and never paused (the common case).
        self.free = not self.interval

    def pause(self, now: float, seconds: float) -> None:
        self.paused_until = max(self.paused_until, now + max(0.0, seconds))
        self.free = False

    def wait_time(self, now: float, reserved: bool) -> tuple[float, bool]:
        """How long to wait before sending (0: go), and whether a slot is now reserved."""
        if self.paused_until > now:
            return self.paused_until - now, reserved
        if self.interval and not reserved:
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
            return slot - now, True
        return 0.0, reserved


class AsyncRateLimiter:
    """Paces requests shared by many tasks.

    ``acquire()`` waits for the next slot: at most ``rate`` acquisitions per second
    (``None``: no cap), and none while a pause is in force. ``pause(seconds)`` stops every
    acquirer for that long (the shared back-off after a 429); pauses only ever extend.
    """

    def __init__(self, rate: float | None = None) -> None:
        self._state = _RateState(rate)

    def pause(self, seconds: float) -> None:
        self._state.pause(async_monotonic(), seconds)

    async def acquire(self) -> None:
        if self._state.free:
            return
        reserved = False
        while True:
            delay, reserved = self._state.wait_time(async_monotonic(), reserved)
            if delay <= 0:
                return
            await anyio.sleep(delay)


class RateLimiter:
    """The thread-safe twin of :class:`AsyncRateLimiter`."""

    def __init__(self, rate: float | None = None) -> None:
        self._state = _RateState(rate)
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._state.pause(monotonic(), seconds)

    def acquire(self) -> None:
        if self._state.free:
            return
        reserved = False
        while True:
            with self._lock:
                delay, reserved = self._state.wait_time(monotonic(), reserved)
            if delay <= 0:
                return
            time.sleep(delay)


# --------------------------------------------------------------------------- group commit


class AsyncGroupCommit:
    """Share one ``flush()`` among concurrent callers (group commit).

    ``await commit()`` returns once a flush that *started after the call* has completed,
    so whatever the caller wrote before calling is durable. Callers that arrive while a
    flush runs wait for it and then share the next one: 64 concurrent writers cost a
    handful of flushes, not 64. The flush (an fsync) runs in a worker thread so the event
    loop is not blocked meanwhile.
    """

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._requested = 0
        self._flushed = 0
        self._running: anyio.Event | None = None

    async def commit(self) -> None:
        self._requested += 1
        ticket = self._requested
        while self._flushed < ticket:
            running = self._running
            if running is not None:
                await running.wait()
                continue
            done = self._running = anyio.Event()
            target = self._requested
            try:
                await anyio.to_thread.run_sync(self._flush)
                self._flushed = max(self._flushed, target)
            finally:
                self._running = None
                done.set()


class GroupCommit:
    """The thread-safe twin of :class:`AsyncGroupCommit` (the flush runs in the caller)."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._requested = 0
        self._flushed = 0
        self._running = False
        self._condition = threading.Condition()

    def commit(self) -> None:
        with self._condition:
            self._requested += 1
            ticket = self._requested
            while self._flushed < ticket:
                if self._running:
                    self._condition.wait()
                    continue
                self._running = True
                target = self._requested
                flushed = False
                self._condition.release()
                try:
                    self._flush()
                    flushed = True
                finally:
                    self._condition.acquire()
                    self._running = False
                    if flushed:
                        self._flushed = max(self._flushed, target)
                    self._condition.notify_all()


# --------------------------------------------------------------------------- worker pool


class AsyncWorkerPool:
    """Run submitted calls concurrently, at most ``concurrency`` at a time (a task group).

    ``async with AsyncWorkerPool(n) as pool: await pool.submit(fn, arg)``. ``submit``
    waits for a free slot. Leaving the block waits for every call still running, even
    when the block raised an ``Exception`` (a running call is never abandoned by an
    error); only a cancellation of the enclosing task cancels them. An exception raised
    by a call stops the pool: later ``submit`` calls raise it, and so does the exit.
    ``on_interrupt`` is for the thread twin (tasks are cancelled instead).
    """

    def __init__(
        self, concurrency: int, on_interrupt: Callable[[int], object] | None = None
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._concurrency = concurrency
        self._slots = anyio.Semaphore(concurrency)
        self._running = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._error: Exception | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def running(self) -> int:
        """How many calls are running now."""
        return self._running

    async def __aenter__(self) -> AsyncWorkerPool:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        assert task_group is not None, "the pool was not entered"
        self._task_group = None
        if exc is None or isinstance(exc, Exception):
            # Let running calls finish: they may have sent a create already.
            await self._idle.wait()
            await task_group.__aexit__(None, None, None)
        else:
            # Cancelled (or interrupted): anyio cancels the calls (a call's shielded
            # block still runs to its end), then the exception goes on.
            await task_group.__aexit__(exc_type, exc, tb)
        if exc is None and self._error is not None:
            raise self._error

    async def submit(self, fn: Callable[[T], Awaitable[Any]], arg: T) -> None:
        """Start ``fn(arg)`` once a slot is free."""
        if self._error is not None:
            raise self._error
        task_group = self._task_group
        assert task_group is not None, "submit() outside 'async with pool'"
        await self._slots.acquire()
        self._running += 1
        self._idle = anyio.Event() if self._running == 1 else self._idle
        task_group.start_soon(self._run, fn, arg)

    async def wait_idle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for every running call to end; True if they did."""
        with anyio.move_on_after(seconds):
            await self._idle.wait()
        return self._running == 0

    async def _run(self, fn: Callable[[T], Awaitable[Any]], arg: T) -> None:
        try:
            await fn(arg)
        except Exception as exc:
            if self._error is None:
                self._error = exc
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()
            self._slots.release()


class WorkerPool:
    """The thread twin of :class:`AsyncWorkerPool` (a ThreadPoolExecutor).

    Calls run in worker threads. Leaving the block always waits for the running calls;
    a KeyboardInterrupt in the submitting thread does not abandon them either: a running
    call may have sent a create, and what it records must not meet a closed journal.
    Each KeyboardInterrupt (the one that ended the block, and any during the wait) is
    passed to ``on_interrupt(n)``, n counting them from 1, and the wait goes on.
    """

    def __init__(
        self, concurrency: int, on_interrupt: Callable[[int], object] | None = None
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._concurrency = concurrency
        self._slots = threading.Semaphore(concurrency)
        self._running = 0
        self._condition = threading.Condition()
        self._error: Exception | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._on_interrupt = on_interrupt

    @property
    def running(self) -> int:
        """How many calls are running now."""
        return self._running

    def __enter__(self) -> WorkerPool:
        self._executor = ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="gatepay-worker"
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        executor = self._executor
        assert executor is not None, "the pool was not entered"
        self._executor = None
        interrupts = 0
        if isinstance(exc, KeyboardInterrupt):
            interrupts = self._interrupted(interrupts)
        # Wait on the pool's own count of running calls, not on Thread.join: a join cut
        # short by KeyboardInterrupt can leave the thread marked as ended while it still
        # runs, and a later join then returns at once (the journal would be closed under
        # a running create).
        while True:
            try:
                with self._condition:
                    while self._running:
                        self._condition.wait(0.1)
                break
            except KeyboardInterrupt:
                interrupts = self._interrupted(interrupts)
        while True:
            try:
                executor.shutdown(wait=True)  # every call has ended: the threads are idle
                break
            except KeyboardInterrupt:
                interrupts = self._interrupted(interrupts)
        if exc is None and self._error is not None:
            raise self._error

    def submit(self, fn: Callable[[T], Any], arg: T) -> None:
        """Start ``fn(arg)`` in a worker thread once a slot is free."""
        if self._error is not None:
            raise self._error
        executor = self._executor
        assert executor is not None, "submit() outside 'with pool'"
        self._slots.acquire()
        with self._condition:
            self._running += 1
        try:
            executor.submit(self._run, fn, arg)
        except BaseException:
            self._finished()
            raise

    def wait_idle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for every running call to end; True if they did."""
        with self._condition:
            return self._condition.wait_for(lambda: self._running == 0, seconds)

    def _interrupted(self, count: int) -> int:
        count += 1
        if self._on_interrupt is not None:
            self._on_interrupt(count)
        return count

    def _run(self, fn: Callable[[T], Any], arg: T) -> None:
        try:
            fn(arg)
        except Exception as exc:
            if self._error is None:
                self._error = exc
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._condition:
            self._running -= 1
            if self._running == 0:
                self._condition.notify_all()
        self._slots.release()


# --------------------------------------------------------------------------- channel


class AsyncChannel(Generic[T]):
    """A bounded first-in first-out hand-over from producer tasks to one consumer.

    ``await put(item)`` waits while ``capacity`` items wait to be taken, and returns
    False (the item dropped) once the consumer has called ``close()``. Each of the
    ``producers`` calls ``done()`` when it has nothing more to put; ``await get()`` waits
    for the next item and returns None once every producer is done and nothing is left.
    ``get_nowait()`` returns None when no item is waiting; both return None once the
    channel is closed. Items must not be None.
    """

    def __init__(self, capacity: int, producers: int) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[T](capacity)
        self._producers = producers

    async def put(self, item: T) -> bool:
        try:
            await self._send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def done(self) -> None:
        self._producers -= 1
        if not self._producers:
            self._send.close()

    async def get(self) -> T | None:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    def get_nowait(self) -> T | None:
        try:
            return self._receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    def close(self) -> None:
        self._receive.close()
        self._send.close()  # a producer that never started cannot leave it open


class Channel(Generic[T]):
    """The thread-safe twin of :class:`AsyncChannel` (a deque under a condition)."""

    def __init__(self, capacity: int, producers: int) -> None:
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._producers = producers
        self._closed = False
        self._condition = threading.Condition()

    def put(self, item: T) -> bool:
        with self._condition:
            while len(self._items) >= self._capacity and not self._closed:
                self._condition.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def done(self) -> None:
        with self._condition:
            self._producers -= 1
            self._condition.notify_all()

    def get(self) -> T | None:
        with self._condition:
            while not self._items and self._producers and not self._closed:
                self._condition.wait()
            return self._take()

    def get_nowait(self) -> T | None:
        with self._condition:
            return self._take()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._items.clear()
            self._condition.notify_all()

    def _take(self) -> T | None:
        if not self._items:
            return None
        self._condition.notify_all()  # a producer may wait for room
        return self._items.popleft()


__all__ += ["AsyncChannel", "Channel"]
