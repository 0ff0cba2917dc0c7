"""One flush (an fsync), or one database transaction, shared by every caller waiting for
one at the same moment."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from gatepay_async._primitives.synchronization import (
    AsyncFlag,
    AsyncThreadLock,
    async_pass_turn,
    async_run_blocking,
)

__all__ = ["AsyncCallBatches", "AsyncGroupCommit", "Ended"]

T = TypeVar("T")

#: How long a caller waits for a running flush before it looks again (seconds).
WAIT_TURN = 0.1
#: A task waits for its batch in one turn: nothing stops a task between taking a batch
#: and setting its flag (threads take turns: a Ctrl-C may land there).
ASYNC_WAIT_TURN = None  # unasync: async-only


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


@attrs.define(eq=False)  # one job is itself only
class _Job:
    """One caller's call in a batch; ``done`` once its batch ended."""

    call: Callable[[], Any]
    taken: AsyncFlag | None = None  # the flag of the batch that runs it
    done: bool = False
    result: Any = None
    error: BaseException | None = None


#: The error of a call whose batch's runner was interrupted while the batch ran.
INTERRUPTED = "the batch that ran this call was interrupted: whether it was written is unknown"

#: What a call ended with: (its result, None) or (None, what it raised).
Ended = tuple[Any, Exception | None]


class AsyncCallBatches:
    """Run the blocking calls of concurrent callers together, one hand-off to a worker
    thread per batch (group commit).

    ``await run(call)`` returns ``call()``'s result, or raises what it raised, once the
    batch that ran it has ended. Callers that arrive while ``width`` batches run share
    the next one. ``run_together(calls)`` runs a batch and says how each call ended; the
    ledger's runs them in one database transaction (``Database.together``), so that
    sixteen creates claiming their keys at once cost one commit, not sixteen, and each
    caller still returns only once its write is durable.
    """

    def __init__(
        self, run_together: Callable[[Sequence[Callable[[], Any]]], list[Ended]], width: int = 1
    ) -> None:
        self._run_together = run_together
        self._width = width
        self._lock = AsyncThreadLock()
        self._pending: list[_Job] = []
        self._running: list[AsyncFlag] = []  # one per running batch, set when it ends

    async def run(self, call: Callable[[], T]) -> T:
        job = _Job(call)
        with self._lock:
            self._pending.append(job)
            starts_batch = len(self._running) < self._width
        try:
            if starts_batch:
                # The writes of the other tasks that are ready now (answers read from one
                # poll of the sockets) join this batch: one commit for them all.
                await async_pass_turn()
            while True:
                done: AsyncFlag | None = None
                batch: list[_Job] = []
                handed_off = False
                try:
                    with self._lock:
                        if job.done:
                            break
                        awaited = job.taken or (
                            self._running[0] if len(self._running) >= self._width else None
                        )
                        if awaited is None:
                            done = AsyncFlag()
                            self._running.append(done)
                            batch, self._pending = self._pending, []
                            for each in batch:
                                each.taken = done
                    if awaited is not None:
                        await awaited.wait(ASYNC_WAIT_TURN)
                        continue
                    handed_off = True
                    await async_run_blocking(functools.partial(self._run_batch, batch))
                finally:
                    if done is not None:
                        with self._lock:
                            self._running.remove(done)
                            unended = [each for each in batch if not each.done]
                            if handed_off:
                                # Interrupted while its batch ran: whether that committed
                                # is unknown, and running it again could claim twice.
                                for each in unended:
                                    each.error, each.done = RuntimeError(INTERRUPTED), True
                            else:  # never run: back to the queue for the next runner
                                again = [each for each in unended if each is not job]
                                for each in again:
                                    each.taken = None
                                self._pending[:0] = again
                        done.set()
        finally:
            with self._lock:
                if not job.done and job in self._pending:  # interrupted: never run it
                    self._pending.remove(job)
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _run_batch(self, batch: list[_Job]) -> None:
        """In a worker thread: run ``batch``; each job marked done with how it ended."""
        ended = self._run_together([job.call for job in batch])
        for job, (result, error) in zip(batch, ended, strict=True):
            job.result, job.error, job.done = result, error, True
