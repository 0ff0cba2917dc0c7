"""Bulk issuance: ``client.gift_cards.create_many``.

Concurrency goes only through ``gatepay_async._synchronization``, which has each
primitive in an async and a sync form.

How a run goes. ``concurrency`` long-lived workers share ``specs``: each pulls the next
row (one at a time, under a lock) and either answers it at once (bad row, duplicate ref,
already in the journal) or sends it: it waits for the rate limiter, writes the intent
record and waits for it to be fsynced (one fsync shared by every worker waiting at that
moment), sends the create, records the outcome, and pulls again. No task is started per
row: a task per row behind a semaphore turned the event loop once per card. Results are
collected in *rounds* of up to about a second; when a round ends no request is in
flight, its outcomes are made durable, and only then are its results yielded. Yielding
only between rounds is what makes it safe to stop iterating early (``break``), on
asyncio and trio alike: the generator is never suspended inside its task group.
Stopping (SIGINT, SIGTERM, a deadline: whatever the caller decides). :meth:`stop` makes
the run take no new rows: the requests in flight finish and are recorded, the outcomes
are made durable and handed out, and the iteration ends; rows not reached get no
result (a rerun with the journal sends them). :meth:`abandon` (a second signal) also
gives up on the requests in flight: they are recorded as ``unknown`` ("interrupted in
this run"). A library installs no signal handlers: the ``gatepay`` command does, and a
program can do the same with ``signal.signal(signal.SIGTERM, lambda *_: run.stop())``.
In the sync facade a worker thread cannot be abandoned: :meth:`abandon` records its
request as unknown at once (durably) and the run still waits for it, so the journal is
never closed under a running create, and its real outcome replaces the unknown.

A journal that cannot be written (disk full, I/O error) stops the run before the next
create is sent; the outcomes of the requests in flight are kept in memory
(``Journal.unwritten_cards``), handed out, and the iteration then raises the
:class:`~gatepay_async._journal.JournalError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import httpx

from gatepay_async._bulk_models import AsyncSpecs, BulkResult, CardSpec
from gatepay_async._bulk_plan import (
    BulkPlan,
    CreateJob,
    JournalArgument,
    check_options,
    check_unique_refs,
    open_journal,
)
from gatepay_async._errors import RateLimitError
from gatepay_async._journal import JournalError
from gatepay_async._outcome import RATE_LIMITED_SENDS, AttemptAbandoned, CreateCall
from gatepay_async._synchronization import (
    AsyncCancelShield,
    AsyncFlag,
    AsyncLock,
    async_iterate,
    async_monotonic,
    async_sleep,
)

from .._group_commit import AsyncGroupCommit
from .._rate_limiter import AsyncRateLimiter
from .._worker_pool import AsyncWorkerPool

if TYPE_CHECKING:
    from .gift_cards import AsyncGiftCards

__all__ = ["AsyncBulkIssuer", "AsyncBulkRun"]

#: A round stops taking new rows once this many results per slot wait (so a round spans
#: about 20 request latencies whatever the latency, and its drain costs ~2.5%), or after
#: ROUND_SECONDS...
ROUND_RESULTS_PER_SLOT = 20
ROUND_MIN_RESULTS = 256
ROUND_SECONDS = 10.0
#: ...then waits this long for the requests in flight; while one straggles it goes on
#: sending the other rows, up to twice the round's results.
STRAGGLER_PATIENCE = 0.25


#: The error of a row whose intent could not be made durable (so it was not sent).
JOURNAL_FAILED = "not sent: the journal could not record its intent (see the journal error)"
#: The error of a create abandoned by :meth:`AsyncBulkIssuer.abandon`.
INTERRUPTED_IN_THIS_RUN = "interrupted in this run: the request was abandoned before its answer"


class AsyncBulkRun(AsyncIterator[BulkResult]):
    """What ``create_many`` returns: iterate it for the results; :meth:`stop` and
    :meth:`abandon` end the run early (see the module's docstring)."""

    def __init__(self, issuer: AsyncBulkIssuer) -> None:
        self._issuer = issuer
        # The generator refers to the issuer, never to this object: dropping this
        # object (a ``break`` out of the loop) finalises the generator at once.
        self._results = issuer.results()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` (or :meth:`abandon`) was called."""
        return self._issuer.stopping

    @property
    def in_flight(self) -> int:
        """How many creates are being sent right now."""
        return self._issuer.in_flight

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

    def __aiter__(self) -> AsyncBulkRun:
        return self

    async def __anext__(self) -> BulkResult:
        return await anext(self._results)

    async def aclose(self) -> None:
        """End the iteration early (as leaving the loop does)."""
        await self._results.aclose()  # type: ignore[attr-defined]


class AsyncBulkIssuer:
    """One ``create_many`` run. Built by :meth:`AsyncGiftCards.create_many`."""

    def __init__(
        self,
        gift_cards: AsyncGiftCards,
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
        self._gift_cards = gift_cards
        self._specs = specs
        self._concurrency = concurrency
        self._journal_argument = journal
        self._retry_unknown = retry_unknown
        self._check_duplicates = not prechecked
        self._limiter = AsyncRateLimiter(rate)
        self._on_progress = on_progress
        self._progress_lock = AsyncLock()
        self._done: list[BulkResult] = []
        self._plan = BulkPlan(None, retry_unknown=retry_unknown, check_duplicates=False)
        self._commit: AsyncGroupCommit | None = None
        self._stopping = False
        self._abandoning = False
        self._in_flight: dict[int, tuple[CreateJob, AsyncCancelShield]] = {}
        self._journal_failure: JournalError | None = None

        # The round's feed, shared by its workers: see _next_job.
        self._pull_lock = AsyncLock()
        self._feed_stopped = AsyncFlag()
        self._limit = 0
        self._fill_until = 0.0
        self._pulled = 0
        self._exhausted = False
        self._broken = False

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

    async def results(self) -> AsyncIterator[BulkResult]:
        """Issue every row, yielding one result per row as rounds complete."""
        journal, owned = open_journal(self._journal_argument)
        try:
            self._plan = BulkPlan(
                journal,
                retry_unknown=self._retry_unknown,
                check_duplicates=self._check_duplicates,
            )
            if journal is not None:
                self._commit = AsyncGroupCommit(journal.flush)
            source = async_iterate(self._specs)
            exhausted = False
            while not exhausted:
                done = self._done = []
                exhausted = await self._round(source) or self._stopping
                if self._commit is not None and self._journal_failure is None:
                    try:
                        await self._commit.commit()  # outcomes durable before they are told
                    except JournalError as exc:
                        self._journal_failed(exc)
                done.reverse()  # hand results out in completion order, freeing each one
                while done:
                    yield done.pop()
            if self._journal_failure is not None:
                raise self._journal_failure
        finally:
            if owned and journal is not None:
                journal.close()

    async def _round(self, source: AsyncIterator[CardSpec]) -> bool:
        """Send rows until this round is over; True once ``source`` is exhausted."""
        done = self._done
        self._limit = max(ROUND_MIN_RESULTS, ROUND_RESULTS_PER_SLOT * self._concurrency)
        most = 2 * self._limit
        self._fill_until = async_monotonic() + ROUND_SECONDS
        self._pulled = 0
        async with AsyncWorkerPool(self._concurrency, on_interrupt=self._interrupted) as pool:
            try:
                while True:
                    self._feed_stopped.clear()
                    for _ in range(self._concurrency - pool.running):
                        await pool.submit(self._work, source)
                    await self._feed_stopped.wait()
                    if self._exhausted or self._broken or self._stopping:
                        # Leaving the pool waits for those in flight; a stopped run ends
                        # as if its rows were exhausted.
                        return self._exhausted or self._stopping
                    if len(done) >= most or await pool.wait_idle(STRAGGLER_PATIENCE):
                        return False
                    # A request straggles: keep the other slots busy meanwhile.
                    self._limit = most
                    self._fill_until = async_monotonic() + STRAGGLER_PATIENCE
                    self._pulled = 0
            except BaseException:
                # Interrupted while waiting (Ctrl-C in the sync facade, a cancellation):
                # the workers take no new row; leaving the pool waits for those in flight.
                self._broken = True
                raise

    async def _work(self, source: AsyncIterator[CardSpec]) -> None:
        """One worker: send row after row until the round stops feeding it."""
        try:
            while True:
                job = await self._next_job(source)
                if job is None:
                    return
                await self._issue(job)
        except BaseException:
            self._broken = True  # a failed write or callback stops every worker's feed
            raise
        finally:
            self._feed_stopped.set()

    async def _next_job(self, source: AsyncIterator[CardSpec]) -> CreateJob | None:
        """The next row to send, answering the rows that need no send; None: stop."""
        plan = self._plan
        done = self._done
        async with self._pull_lock:  # one puller at a time: an iterator is not shareable
            while True:
                if self._exhausted or self._broken or self._stopping:
                    return None  # stop(): no new rows
                if len(done) >= self._limit:
                    return None
                self._pulled += 1
                if not self._pulled % 32 and async_monotonic() >= self._fill_until:
                    return None
                spec = await anext(source, None)
                if spec is None:
                    self._exhausted = True
                    return None
                job = plan.decide(spec)
                if isinstance(job, CreateJob):
                    return job
                await self._report(job)

    async def _report(self, result: BulkResult) -> None:
        self._done.append(result)
        if self._on_progress is not None:
            async with self._progress_lock:
                self._on_progress(result)

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
            outcome = await self._gift_cards._send_create(
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
