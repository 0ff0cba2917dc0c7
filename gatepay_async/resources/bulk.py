"""Bulk issuance: ``client.gift_cards.create_many``.

How a run goes. ``async with create_many(specs) as results:`` starts ``concurrency``
long-lived workers (no task per row: that turned the event loop once per card) sharing
``specs``: each pulls the next row under a lock and either answers it at once (bad row,
duplicate ref, already in the journal) or sends it: rate limiter, intent record fsynced
(one fsync shared by the workers waiting then), create sent, outcome recorded; it hands
the result over a channel and pulls again. ``async for result in results`` takes the
results waiting, makes them durable together (one shared fsync), and hands them out: a
slow request holds back only its own result. The block owns the workers, so leaving it
early (``break``, an exception) is safe on every backend: it stops the run (below).

Iterating without the block is deprecated: a suspended generator cannot own running
workers (after a ``break`` nothing ends them, or not in the task that started them), so
it runs the workers for one batch at a time (``BATCH_RESULTS_PER_SLOT`` results per
worker, at least ``BATCH_MIN_RESULTS``, or ``BATCH_SECONDS``) and yields each batch once
its requests have ended and its outcomes are durable.

Stopping (SIGINT, SIGTERM, a deadline: whatever the caller decides). :meth:`stop` makes
the run take no new rows: the requests in flight finish and are recorded, the outcomes
are made durable and handed out, and the iteration ends; rows not reached get no result
(a rerun with the journal sends them). Leaving the block early stops the run the same
way, but hands out nothing more. :meth:`abandon` (a second signal) also gives up on the
requests in flight: they are recorded as ``unknown`` ("interrupted in this run"). A
library installs no signal handlers: the ``gatepay`` command does, and a program can do
the same with ``signal.signal(signal.SIGTERM, lambda *_: run.stop())``. In the sync
facade a worker thread cannot be abandoned: :meth:`abandon` records its request as
unknown at once (durably) and the run still waits for it, so the journal is never closed
under a running create, and its real outcome replaces the unknown.

A shared journal (a database: several workers, one campaign; see ``_storage.journal_db``) hands
rows out by claims: the puller claims ``concurrency`` rows at a time (in a thread), a row
another worker holds gets no result here (``run.elsewhere``), and a row whose claim was
lost before its intent was written is not sent (``may_send``).

A journal that cannot be written (disk full, I/O error) stops the run before the next
create is sent; the outcomes of the requests in flight are kept in memory
(``Journal.unwritten_cards``), handed out, and the iteration then raises the
:class:`~gatepay_async._storage.journal.JournalError`.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx

from gatepay_async._bulk.plan import (
    BulkPlan,
    CreateJob,
    JournalArgument,
    check_options,
    check_unique_refs,
    open_journal,
)
from gatepay_async._bulk_models import AsyncSpecs, BulkResult, CardSpec
from gatepay_async._decision.outcome import (
    RATE_LIMITED_SENDS,
    AsyncSendCreate,
    AttemptAbandoned,
    CreateCall,
)
from gatepay_async._errors import RateLimitError
from gatepay_async._primitives.synchronization import (
    AsyncCancelShield,
    AsyncChannel,
    AsyncLock,
    async_iterate,
    async_monotonic,
    async_run_blocking,
    async_sleep,
)
from gatepay_async._storage.journal import JournalError

from .._bulk.rate_limiter import AsyncRateLimiter
from .._bulk.worker_pool import AsyncWorkerPool
from .._storage.group_commit import AsyncGroupCommit

__all__ = ["AsyncBulkIssuer", "AsyncBulkRun"]

#: The deprecated iteration without ``async with`` only: a batch stops taking new rows
#: once this many results per worker were reported (a batch spans about 20 request
#: latencies whatever the latency, so waiting for its last requests costs ~2.5%), or at
#: least BATCH_MIN_RESULTS, or after BATCH_SECONDS.
BATCH_RESULTS_PER_SLOT = 20
BATCH_MIN_RESULTS = 256
BATCH_SECONDS = 10.0

#: The error of a row whose intent could not be made durable (so it was not sent).
JOURNAL_FAILED = "not sent: the journal could not record its intent (see the journal error)"
#: The error of a create abandoned by :meth:`AsyncBulkIssuer.abandon`.
INTERRUPTED_IN_THIS_RUN = "interrupted in this run: the request was abandoned before its answer"
#: Said once to a program that iterates a run without entering it.
ITERATED_WITHOUT_BLOCK = (
    "iterating create_many() without 'async with' is deprecated: it hands results out in"
    " batches, once no request is in flight. Write 'async with"
    " gp.gift_cards.create_many(...) as results: async for result in results: ...' to get"
    " each result as soon as it is durable."
)


class AsyncBulkRun(AsyncIterator[BulkResult]):
    """What ``create_many`` returns: enter it (``async with``) and iterate it for the
    results; :meth:`stop` and :meth:`abandon` end the run early (see the module's
    docstring)."""

    def __init__(self, issuer: AsyncBulkIssuer) -> None:
        self._issuer = issuer
        self._entered = False
        self._batches: AsyncIterator[BulkResult] | None = None

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` (or :meth:`abandon`) was called, or the block was left
        before the last result."""
        return self._issuer.stopping

    @property
    def in_flight(self) -> int:
        """How many creates are being sent right now."""
        return self._issuer.in_flight

    @property
    def undelivered(self) -> list[BulkResult]:
        """The results this run was not able to hand out, because the iteration was left
        early (``break``, an exception): the requests that were in flight then, and the
        results that had not been taken yet. An issued card among them is here with its
        number and key, journal or not."""
        return list(self._issuer.undelivered)

    @property
    def elsewhere(self) -> int:
        """Rows of a shared journal (several workers, one campaign) that another worker
        holds: this run neither sends them nor hands out a result for them."""
        return self._issuer.elsewhere

    def stop(self) -> None:
        """Take no new rows; let the requests in flight finish, record them, and end.

        Safe to call from a signal handler, another task or (sync facade) another
        thread. The iteration ends normally once the requests in flight are recorded.
        """
        self._issuer.stop()

    def abandon(self) -> None:
        """Stop, and give up on the requests in flight: they are recorded as unknown.

        Call it from the run's event loop (a task, a signal receiver). In the sync facade
        a second Ctrl-C calls it for you; from elsewhere call it from a thread, not from
        inside a signal handler (it writes the journal, whose lock the interrupted code
        may hold).
        """
        self._issuer.abandon()

    async def __aenter__(self) -> AsyncBulkRun:
        """Start the run: open the journal and start the workers."""
        if self._entered or self._batches is not None:
            raise RuntimeError("a create_many() run can be entered once, before iterating it")
        self._entered = True
        issuer = self._issuer
        issuer.open()
        try:
            await issuer.__aenter__()
        except BaseException:
            issuer.close()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """End the run: no new rows, the requests in flight finished, recorded, durable."""
        issuer = self._issuer
        try:
            await issuer.__aexit__(*exc_info)
        finally:
            issuer.close()
        if exc_info[1] is None:
            issuer.raise_failure()  # a journal failure the iteration did not reach

    def __aiter__(self) -> AsyncBulkRun:
        return self

    async def __anext__(self) -> BulkResult:
        if self._entered:
            return await self._issuer.next_result()
        if self._batches is None:
            warnings.warn(ITERATED_WITHOUT_BLOCK, DeprecationWarning, stacklevel=2)
            # The generator refers to the issuer, never to this object: dropping this
            # object (a ``break`` out of the loop) finalises the generator at once.
            self._batches = self._issuer.batches()
        return await anext(self._batches)

    async def aclose(self) -> None:
        """End an iteration without ``async with`` early (as leaving the loop does)."""
        if self._batches is not None:
            await self._batches.aclose()  # type: ignore[attr-defined]


class AsyncBulkIssuer:
    """One ``create_many`` run. Built by :meth:`AsyncGiftCards.create_many`.

    ``open()``/``close()`` hold the journal for the whole run; ``async with issuer:`` runs
    the workers (once, or once per batch of the deprecated iteration).
    """

    def __init__(
        self,
        send_create: AsyncSendCreate,
        specs: AsyncSpecs,
        *,
        concurrency: int,
        journal: JournalArgument,
        retry_unknown: bool,
        rate: float | None,
        on_progress: Callable[[BulkResult], object] | None,
    ) -> None:
        check_options(concurrency, rate)
        prechecked = isinstance(specs, Sequence)
        if isinstance(specs, Sequence):
            check_unique_refs(specs)
        self._send_create = send_create  # the create that create() sends, shared
        self._specs = specs
        self._concurrency = concurrency
        self._journal_argument = journal
        self._retry_unknown = retry_unknown
        self._check_duplicates = not prechecked
        self._limiter = AsyncRateLimiter(rate)
        self._on_progress = on_progress
        self._progress_lock = AsyncLock()
        self._plan = BulkPlan(None, retry_unknown=retry_unknown, check_duplicates=False)
        self._owns_journal = False
        self._commit: AsyncGroupCommit | None = None
        self._stopping = False
        self._abandoning = False
        self._in_flight: dict[int, tuple[CreateJob, AsyncCancelShield]] = {}
        self._journal_failure: JournalError | None = None
        self._failure_raised = False

        # The feed, shared by the workers: see _next_job.
        self._source: AsyncIterator[CardSpec] = async_iterate(())
        self._claimed: deque[CardSpec] = deque()  # a shared journal's claimed rows
        #: Rows another worker of a shared journal holds: not sent, no result here.
        self.elsewhere = 0
        self._pull_lock = AsyncLock()
        self._exhausted = False
        self._broken = False
        self._reported = 0  # threads may lose a count: it only bounds a batch
        self._batch_end: int | None = None  # the deprecated iteration's batch (see batches)
        self._batch_until = 0.0

        # Delivery: the workers hand results over the channel; see next_result.
        self._pool: AsyncWorkerPool | None = None
        self._channel: AsyncChannel[BulkResult] | None = None
        self._finished = False  # every worker ended and every result was taken
        self._ready: deque[BulkResult] = deque()
        #: Results nobody will take (the iteration was left early); appended to by the
        #: workers (threads in the sync facade: ``list.append`` is atomic).
        self.undelivered: list[BulkResult] = []

    # ------------------------------------------------------------------ stopping

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self) -> None:
        self._stopping = True

    def abandon(self) -> None:
        self._stopping = self._abandoning = True
        for job, shield in list(self._in_flight.values()):
            if not shield.cancel():  # a thread cannot be cancelled: say so now
                self._plan.interrupted(job, INTERRUPTED_IN_THIS_RUN)
                journal = self._plan.journal
                if journal is not None and journal.failure is None:
                    journal.flush()

    # ------------------------------------------------------------------ the run

    def open(self) -> None:
        """Open the journal (a path is opened here, and closed by :meth:`close`)."""
        journal, self._owns_journal = open_journal(self._journal_argument)
        self._plan = BulkPlan(
            journal, retry_unknown=self._retry_unknown, check_duplicates=self._check_duplicates
        )
        if journal is not None:
            self._commit = AsyncGroupCommit(journal.flush)
        self._source = async_iterate(self._specs)

    def close(self) -> None:
        journal = self._plan.journal
        if self._owns_journal and journal is not None:
            journal.close()

    async def __aenter__(self) -> AsyncBulkIssuer:
        """Start the workers."""
        pool = AsyncWorkerPool(self._concurrency, on_interrupt=self._interrupted)
        # Room for one result per worker: a reader slower than the run holds it back.
        channel: AsyncChannel[BulkResult] = AsyncChannel(self._concurrency, self._concurrency)
        self._finished = False
        self._channel = channel
        await pool.__aenter__()
        self._pool = pool
        try:
            for _ in range(self._concurrency):
                await pool.submit(self._work, channel)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Take no new rows, wait for the requests in flight, make their outcomes durable.

        The requests in flight are never abandoned by leaving the block; only a
        cancellation of the block cancels them (a journaled attempt still runs to its
        end), and in the sync facade each Ctrl-C meanwhile is passed to
        :meth:`_interrupted`.
        """
        pool, channel = self._pool, self._channel
        assert pool is not None, "the workers were not started"
        assert channel is not None
        self._pool = None
        if not self._finished:
            self.stop()  # left before the last result: no new rows
        # What was ready and not handed out stays on the run (its outcome is recorded,
        # but without a journal this is the only place its card is found).
        self.undelivered.extend(self._ready)
        self._ready.clear()
        left = channel.get_nowait()
        while left is not None:
            self.undelivered.append(left)
            left = channel.get_nowait()
        channel.close()  # no worker waits to hand over a result nobody will take
        try:
            await pool.__aexit__(*exc_info)
        finally:
            self._channel = None
            with AsyncCancelShield():
                await self._durable()

    async def next_result(self) -> BulkResult:
        """The next result, once it is durable (StopAsyncIteration after the last)."""
        ready = self._ready
        if not ready:
            channel = self._channel
            first = await self._take()
            if first is None or channel is None:
                self.raise_failure()
                raise StopAsyncIteration
            ready.append(first)
            more = channel.get_nowait()
            while more is not None:
                ready.append(more)
                more = channel.get_nowait()
            if any(not result.from_journal for result in ready):
                await self._durable()  # outcomes durable before they are told
        return ready.popleft()

    async def batches(self) -> AsyncIterator[BulkResult]:
        """The deprecated iteration without ``async with``: results yielded in batches,
        each once its requests have ended and its outcomes are durable."""
        self.open()
        try:
            while not (self._exhausted or self._broken or self._stopping):
                self._batch_end = self._reported + max(
                    BATCH_MIN_RESULTS, BATCH_RESULTS_PER_SLOT * self._concurrency
                )
                self._batch_until = async_monotonic() + BATCH_SECONDS
                batch: list[BulkResult] = []
                async with self:
                    result = await self._take()
                    while result is not None:
                        batch.append(result)
                        result = await self._take()
                batch.reverse()  # hand results out in completion order, freeing each one
                try:
                    while batch:
                        yield batch.pop()
                finally:
                    self.undelivered.extend(reversed(batch))  # the loop was left early
            self.raise_failure()
        finally:
            self.close()

    def raise_failure(self) -> None:
        """Raise the journal's failure, once, if it had one."""
        failure = self._journal_failure
        if failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise failure

    async def _take(self) -> BulkResult | None:
        """The next result the workers handed over; None once they have all ended."""
        channel = self._channel
        result = None if channel is None else await channel.get()
        if result is None:
            self._finished = True
        return result

    async def _durable(self) -> None:
        """Make every outcome recorded so far durable (unless the journal failed)."""
        if self._commit is not None and self._journal_failure is None:
            try:
                await self._commit.commit()
            except JournalError as exc:
                self._journal_failed(exc)

    async def _work(self, channel: AsyncChannel[BulkResult]) -> None:
        """One worker: send row after row until the feed ends."""
        try:
            while True:
                job = await self._next_job()
                if job is None:
                    return
                await self._issue(job)
        except BaseException:
            self._broken = True  # a failed write or callback stops every worker's feed
            raise
        finally:
            channel.done()

    async def _next_job(self) -> CreateJob | None:
        """The next row to send, answering the rows that need no send; None: stop."""
        plan = self._plan
        async with self._pull_lock:  # one puller at a time: an iterator is not shareable
            while True:
                if self._exhausted or self._broken or self._stopping:
                    return None  # stop(): no new rows
                if self._batch_end is not None and (
                    self._reported >= self._batch_end or async_monotonic() >= self._batch_until
                ):
                    return None  # this batch is full
                spec = await self._next_spec()
                if spec is None:
                    self._exhausted = True
                    return None
                job = plan.decide(spec)
                if isinstance(job, CreateJob):
                    return job
                if job is None:  # another worker of the campaign holds it
                    self.elsewhere += 1
                    continue
                await self._report(job)

    async def _next_spec(self) -> CardSpec | None:
        """The next row. A shared journal's rows come in claimed chunks: ``concurrency``
        rows claimed in one transaction (in a thread), so that a claim is about as old as
        a request when its row is sent, and the claims cost one round trip per chunk."""
        journal = self._plan.journal
        if journal is None or not journal.shared:
            return await anext(self._source, None)
        claimed = self._claimed
        if not claimed:
            while len(claimed) < self._concurrency:
                spec = await anext(self._source, None)
                if spec is None:
                    break
                claimed.append(spec)
            refs = [
                spec.ref
                for spec in claimed
                if isinstance(spec, CardSpec) and isinstance(spec.ref, str) and spec.ref.strip()
            ]
            retry_unknown = self._retry_unknown
            await async_run_blocking(lambda: journal.claim(refs, retry_unknown=retry_unknown))
        return claimed.popleft() if claimed else None

    async def _report(self, result: BulkResult) -> None:
        self._reported += 1
        if self._on_progress is not None:
            async with self._progress_lock:
                self._on_progress(result)
        channel = self._channel
        if channel is not None and not await channel.put(result):
            self.undelivered.append(result)  # the reader left; the outcome is recorded

    async def _issue(self, job: CreateJob) -> None:
        result = await self._create(job)
        if result is not None:
            await self._report(result)

    def _interrupted(self, count: int) -> None:
        """Sync facade: Ctrl-C while the worker threads run (the first stops, then abandon)."""
        if count == 1:
            self.stop()
        else:
            self.abandon()

    def _journal_failed(self, exc: JournalError) -> None:
        """The journal cannot be written: send nothing more (the run ends with ``exc``)."""
        if self._journal_failure is None:
            self._journal_failure = exc
        self._stopping = True

    async def _create(self, job: CreateJob) -> BulkResult | None:
        """Send one create: intent first, the raw answer durable, the outcome recorded.

        The client's one retry loop resends what may be resent; its waits between
        attempts are :meth:`_pause`, so a 429 pauses the whole run. None: the run stopped
        before this row was sent (it has no result).
        """
        plan = self._plan
        journal = plan.journal
        shielded = journal is not None
        await self._limiter.acquire()
        if self._stopping:  # stopped while this row waited for its turn: never sent
            return None
        with AsyncCancelShield(enabled=shielded):
            halted = plan.halted(job)
            if halted is not None:
                return halted
            if journal is not None:
                try:
                    journal.record_intent(job.ref, job.request)
                    assert self._commit is not None
                    await self._commit.commit()
                except JournalError as exc:
                    self._journal_failed(exc)  # the intent is not durable: never send
                    return plan.not_sent(job, JOURNAL_FAILED)
                if not journal.may_send(job.ref):
                    # A shared journal: the claim ran out and another worker took the
                    # row before this intent was written. It sends it; nothing here.
                    self.elsewhere += 1
                    return None
        answers: list[httpx.Response] = []
        waiting: list[bool] = [False]
        journal_failures: list[JournalError] = []
        key = id(job)

        def guard() -> AsyncCancelShield:
            # Each attempt is shielded from cancellation, and abandon() can reach it.
            shield = AsyncCancelShield(enabled=shielded)
            self._in_flight[key] = (job, shield)
            return shield

        async def on_answer(response: httpx.Response) -> None:
            answers.append(response)
            if journal is not None:
                try:
                    journal.record_answer(
                        job.ref, job.request, response.status_code, response.content
                    )
                    assert self._commit is not None
                    await self._commit.commit()
                except JournalError as exc:
                    # The answer is decided anyway, so that a card in it reaches the
                    # result instead of dying with the write; nothing more is sent.
                    journal_failures.append(exc)
                    self._journal_failed(exc)

        async def pause(exc: BaseException, seconds: float) -> None:
            if journal_failures:
                raise journal_failures[0]  # a failed journal write: no further send
            if self._stopping:
                raise exc  # stopped: the refused (or unsent) attempt stays the last
            waiting[0] = True
            await self._pause(exc, seconds)
            waiting[0] = False
            if self._stopping:
                raise exc

        try:
            # Each attempt (send, raw answer recorded, outcome decided) is shielded from
            # cancellation; the waits between attempts are not: a stopped run does not
            # sit out a 429 pause.
            outcome = await self._send_create(
                CreateCall(
                    job.request,
                    on_answer=on_answer,
                    pause=pause,
                    rate_limited_sends=RATE_LIMITED_SENDS,
                    guard=guard,
                )
            )
        except Exception as exc:  # raised by a hook (a failed journal write), not decided
            with AsyncCancelShield(enabled=shielded):
                return plan.failed_send(job, exc, sends=len(answers))
        except BaseException:
            if journal is not None:
                if waiting[0]:  # the last attempt was refused or never sent
                    journal.record_failed(
                        job.ref,
                        "interrupted while waiting to send again after a refusal; not issued",
                    )
                else:  # torn down mid-request: a card may exist
                    plan.interrupted(job, INTERRUPTED_IN_THIS_RUN)
            raise
        finally:
            self._in_flight.pop(key, None)
        # Recording the outcome awaits nothing, so no cancellation can come between.
        if outcome.card is not None:
            return plan.issued(job, outcome.card, outcome.answer)
        if isinstance(outcome.error, AttemptAbandoned):
            return plan.interrupted(job, INTERRUPTED_IN_THIS_RUN)
        assert outcome.error is not None
        return plan.failed_send(job, outcome.error, sends=len(answers))

    async def _pause(self, exc: BaseException, seconds: float) -> None:
        """The wait before a create is sent again: after a 429, every worker waits."""
        if isinstance(exc, RateLimitError):
            self._limiter.pause(seconds)
        else:
            await async_sleep(seconds)
        await self._limiter.acquire()
