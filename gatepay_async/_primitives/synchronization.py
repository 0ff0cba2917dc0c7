# unasync: shared
"""Concurrency primitives in async and sync pairs; everything built on them is generated.

Code written once in async (the worker pool, the rate limiter, the group commit, bulk
issuance) uses the left column; its generated sync twin uses the right one, with the
same method names and signatures, so that one line-by-line translation is correct:

================================  ========================  ================================
async (anyio, any backend)        sync (threads)            what it is
================================  ========================  ================================
``async_sleep``                   ``sleep``                 sleep
``async_monotonic``               ``monotonic``             a monotonic clock, in seconds
``async_iterate``                 ``iterate``               an (async) iterator over items
``async_pass_turn``               ``pass_turn``             let the other ready callers run
``async_run_blocking``            ``run_blocking``          call a blocking function
``async_run_detached``            ``run_detached``          run a coroutine to its end
``AsyncLock``                     ``Lock``                  mutual exclusion (``with``)
``AsyncThreadLock``               ``ThreadLock``            guards a block that awaits nothing
``AsyncFlag``                     ``Flag``                  a resettable event
``AsyncSemaphore``                ``Semaphore``             at most n holders
``AsyncCancelShield``             ``CancelShield``          protect a block from cancellation
``AsyncTaskGroup``                ``TaskGroup``             concurrent calls, all awaited
================================  ========================  ================================

Where a pair differs, the difference is the one between a task and a thread, and it is
documented on the pair: a thread cannot be cancelled (``CancelShield``, ``TaskGroup``,
``Deadline``), and a blocking call in a thread blocks only that thread (``run_blocking``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread

__all__ = [
    "AsyncCancelShield",
    "AsyncChannel",
    "AsyncDeadline",
    "AsyncFlag",
    "AsyncLock",
    "AsyncSemaphore",
    "AsyncTaskGroup",
    "AsyncThreadLock",
    "CancelShield",
    "Channel",
    "Deadline",
    "Flag",
    "Lock",
    "Semaphore",
    "TaskGroup",
    "ThreadLock",
    "async_iterate",
    "async_monotonic",
    "async_pass_turn",
    "async_run_blocking",
    "async_run_detached",
    "async_sleep",
    "iterate",
    "monotonic",
    "pass_turn",
    "run_blocking",
    "run_detached",
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


async def async_pass_turn() -> None:
    """Let every other task that is ready run once before going on. Never a
    cancellation point: a block that awaits it is cancelled exactly where it was before."""
    await anyio.lowlevel.cancel_shielded_checkpoint()


def pass_turn() -> None:
    """Threads run side by side already: nothing to do."""


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


# --------------------------------------------------------------------------- blocking calls


async def async_run_blocking(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread, so that the event loop goes on meanwhile.

    A cancellation waits for ``fn`` to return (a thread cannot be cancelled) and is
    delivered after it.
    """
    return await anyio.to_thread.run_sync(fn)


def run_blocking(fn: Callable[[], T]) -> T:
    """``fn()`` in the calling thread: blocking it blocks no one else."""
    return fn()


#: How often a cancelled ``async_run_detached`` asks whether its work may be stopped.
_DETACHED_POLL_SECONDS = 0.02


async def async_run_detached(
    work: Callable[[], Coroutine[Any, Any, T]], cancellable: Callable[[], bool]
) -> T:
    """``await work()``, run to its end even if asyncio itself cancels this task.

    An anyio shield stops anyio's (and trio's) cancellation, not asyncio's own
    ``Task.cancel()`` (``asyncio.wait_for``, ``asyncio.timeout``, a task group's), which
    lands at the next await inside it. On asyncio ``work`` runs in a task of its own that
    the caller waits for: a cancellation of the caller reaches ``work`` as soon as
    ``cancellable()`` says it may (at once, or later), and is raised to the caller once
    ``work`` has ended.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio: its cancellation is the one an anyio shield stops
        return await work()
    task = asyncio.ensure_future(_ended(work))
    cancelled: asyncio.CancelledError | None = None
    stopping = False
    while not task.done():
        try:
            if cancelled is None:
                await asyncio.shield(task)
            else:  # cancelled: watch for the moment work may be stopped
                await asyncio.wait((task,), timeout=_DETACHED_POLL_SECONDS)
        except asyncio.CancelledError as exc:
            if not task.cancelled():  # else work ended cancelled: raised below
                cancelled = cancelled or exc
        if cancelled is not None and not stopping and not task.done() and cancellable():
            stopping = True  # once: what work does on its cancellation runs on
            task.cancel()
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: work's outcome is already where it belongs
        raise cancelled
    result, error = task.result()
    if error is not None:
        raise error
    return result  # type: ignore[return-value]


async def _ended(
    work: Callable[[], Coroutine[Any, Any, T]],
) -> tuple[T | None, Exception | None]:
    """``work()``'s result or error, the error returned rather than raised: the caller
    raises it. An error leaving a task is an unhandled error to the tools that watch
    tasks (Sentry's AsyncioIntegration reports each one), though the caller's code
    catches it: an OutcomeUnknownError it handles would be reported as a crash."""
    try:
        return await work(), None
    except Exception as exc:
        return None, exc


def run_detached(work: Callable[[], T], cancellable: Callable[[], bool]) -> T:
    """``work()``: a thread is not cancelled (see :func:`async_run_detached`)."""
    return work()


# --------------------------------------------------------------------------- locks


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

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


#: A thread lock: ``with lock: ...``. It is threading's own lock, not a class wrapping
#: one: its ``with`` takes and releases it in C. A Ctrl-C is raised in the main thread
#: between two Python bytecodes, so with a wrapper written in Python it could land
#: after the lock was taken and before ``__exit__`` released it (the lock then held for
#: ever: every worker thread waiting for it, and the run with them).
Lock = threading.Lock


class AsyncThreadLock:
    """``with lock: ...`` around a block that awaits nothing: a no-op for tasks.

    One thread runs every task of an event loop, and a task is only switched at an
    ``await``, so such a block already runs alone.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: The thread twin of :class:`AsyncThreadLock`: a thread lock (threads switch anywhere),
#: threading's own for the reason given at :data:`Lock`.
ThreadLock = threading.Lock


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

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait until set, or at most ``seconds``; True if it is set."""
        if seconds is None:
            await self._event.wait()
        else:
            with anyio.move_on_after(seconds):
                await self._event.wait()
        return self._event.is_set()


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

    def wait(self, seconds: float | None = None) -> bool:
        """Wait until set, or at most ``seconds``; True if it is set."""
        return self._event.wait(seconds)


# --------------------------------------------------------------------------- semaphore


class AsyncSemaphore:
    """At most ``value`` holders: ``await acquire()`` waits for a free one, ``release()``."""

    def __init__(self, value: int) -> None:
        self._semaphore = anyio.Semaphore(value)

    async def acquire(self) -> None:
        await self._semaphore.acquire()

    def release(self) -> None:
        self._semaphore.release()


class Semaphore:
    """The thread twin of :class:`AsyncSemaphore`."""

    def __init__(self, value: int) -> None:
        self._semaphore = threading.Semaphore(value)

    def acquire(self) -> None:
        self._semaphore.acquire()

    def release(self) -> None:
        self._semaphore.release()


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

    def __exit__(self, *exc: object) -> None:
        return None


# --------------------------------------------------------------------------- task group


class AsyncTaskGroup:
    """``async with AsyncTaskGroup() as tasks: tasks.start_soon(fn, *args)`` runs the
    calls concurrently, each in a task of its own; leaving the block waits for them all.

    Leaving waits also when the block raised an ``Exception``: a running call is never
    abandoned by an error. A cancellation of the enclosing task (any other
    ``BaseException``) cancels the calls (a call's shielded block still runs to its
    end). ``on_interrupt`` is for the thread twin, whose threads cannot be cancelled.
    A call must not raise: catch what it needs to.
    """

    def __init__(self, on_interrupt: Callable[[int], object] | None = None) -> None:
        self._group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> AsyncTaskGroup:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._group = self._group, None
        assert group is not None, "the task group was not entered"
        if exc is not None and not isinstance(exc, Exception):
            return await group.__aexit__(exc_type, exc, tb)
        # Exiting as if the block ended normally waits for the calls; the block's own
        # exception (if any) then goes on.
        await group.__aexit__(None, None, None)
        return None

    def start_soon(self, fn: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> None:
        assert self._group is not None, "start_soon() outside 'async with'"
        self._group.start_soon(fn, *args)


class TaskGroup:
    """The thread twin of :class:`AsyncTaskGroup`: each call runs in a thread of its own.

    A thread cannot be cancelled, so leaving the block always waits for every call,
    whatever ended the block: a running call may have sent a create, and what it
    records must not meet a closed journal. Each KeyboardInterrupt (the one that ended
    the block, and any during the wait) is passed to ``on_interrupt(n)``, n counting them
    from 1, and the wait goes on.
    """

    def __init__(self, on_interrupt: Callable[[int], object] | None = None) -> None:
        self._on_interrupt = on_interrupt
        self._interrupts = 0
        self._running = 0
        self._started = 0
        # Taken with ``with self._lock`` (entered and left in C), never ``with
        # self._condition`` (a Python __exit__): a Ctrl-C cannot leave it held.
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        interrupted = isinstance(exc, KeyboardInterrupt)
        # Wait on our own count of running calls, not on Thread.join: a join cut short by
        # KeyboardInterrupt can leave the thread marked as ended while it still runs, and
        # a later join then returns at once (the journal would be closed under a running
        # create). A KeyboardInterrupt inside on_interrupt is caught here too.
        while True:
            try:
                if interrupted:
                    interrupted = False
                    self._interrupts += 1
                    if self._on_interrupt is not None:
                        self._on_interrupt(self._interrupts)
                with self._lock:
                    while self._running:
                        self._condition.wait(0.1)
                return
            except KeyboardInterrupt:
                interrupted = True

    def start_soon(self, fn: Callable[..., object], *args: Any) -> None:
        # ``call[0]``: counted, then either the thread claims it (it runs ``fn`` and
        # counts itself down) or a start cut short by Ctrl-C drops it (counted down
        # here; a thread that was launched anyway then returns without running ``fn``).
        # Exactly one of the two settles the count, so the wait neither ends under a
        # running call nor waits for one that never ran.
        call = [_NEW]
        try:
            with self._lock:
                self._running += 1
                call[0] = _COUNTED
                self._started += 1
                name = f"gatepay-worker-{self._started}"
            thread = threading.Thread(target=self._run, args=(call, fn, *args), name=name)
            thread.start()
        except BaseException:
            with self._lock:
                if call[0] == _COUNTED:
                    call[0] = _DROPPED
                    self._running -= 1
                    self._condition.notify_all()
            raise

    def _run(self, call: list[int], fn: Callable[..., object], *args: Any) -> None:
        with self._lock:
            if call[0] == _DROPPED:
                return
            call[0] = _RUNNING
        try:
            fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._condition.notify_all()


#: The states of a call of :meth:`TaskGroup.start_soon`.
_NEW, _COUNTED, _RUNNING, _DROPPED = range(4)


# --------------------------------------------------------------------------- deadline


class AsyncDeadline:
    """``with AsyncDeadline(seconds) as d:`` ends its body with TimeoutError after ``seconds``.

    The body is cancelled at the deadline (a cancel scope, as ``anyio.fail_after`` makes,
    without its two generator-based context managers: this runs once per attempt).
    ``check()`` has nothing to do. ``None``: no deadline. A cancellation from an outer
    scope goes on as a cancellation, never as a timeout.
    """

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._scope: anyio.CancelScope | None = None

    def __enter__(self) -> AsyncDeadline:
        if self._seconds is not None:
            self._scope = anyio.CancelScope(deadline=anyio.current_time() + self._seconds)
            self._scope.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        scope = self._scope
        if scope is None:
            return None
        swallowed = scope.__exit__(exc_type, exc, tb)
        # Cancelled by its own deadline (not by an outer scope): the body timed out.
        if scope.cancelled_caught and anyio.current_time() >= scope.deadline:
            raise TimeoutError("the attempt passed its deadline")
        return swallowed

    def check(self) -> None:
        """Nothing to do: the cancel scope ends the body on time."""


class Deadline:
    """The thread twin: a thread cannot be cancelled, so the body calls ``check()``
    between blocking steps (each chunk read), which raises TimeoutError once ``seconds``
    have passed."""

    def __init__(self, seconds: float | None) -> None:
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def check(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise TimeoutError("the attempt passed its deadline")


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
        # ``with self._lock`` (entered and left in C), not ``with self._condition``: a
        # Ctrl-C in the reading main thread cannot leave it held (see TaskGroup).
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)

    def put(self, item: T) -> bool:
        with self._lock:
            while len(self._items) >= self._capacity and not self._closed:
                self._condition.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def done(self) -> None:
        with self._lock:
            self._producers -= 1
            self._condition.notify_all()

    def get(self) -> T | None:
        with self._lock:
            while not self._items and self._producers and not self._closed:
                self._condition.wait()
            return self._take()

    def get_nowait(self) -> T | None:
        with self._lock:
            return self._take()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._items.clear()
            self._condition.notify_all()

    def _take(self) -> T | None:
        if not self._items:
            return None
        self._condition.notify_all()  # a producer may wait for room
        return self._items.popleft()
