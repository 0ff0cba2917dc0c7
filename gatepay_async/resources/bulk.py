"""Bulk issuance: ``client.gift_cards.create_many``.

This module is the source of ``gatepay_sync/resources/bulk.py``: keep it unasync-friendly
(concurrency only through the ``gatepay_async._synchronization`` pairs).

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
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from gatepay_async._bulk_models import BulkResult, CardSpec
from gatepay_async._bulk_plan import (
    RATE_LIMITED_ATTEMPTS,
    BulkPlan,
    CreateJob,
    JournalArgument,
    check_options,
    check_unique_refs,
    open_journal,
    rate_limit_pause,
)
from gatepay_async._errors import RateLimitError
from gatepay_async._retry import RetryPolicy
from gatepay_async._synchronization import (
    AsyncCancelShield,
    AsyncFlag,
    AsyncGroupCommit,
    AsyncLock,
    AsyncRateLimiter,
    AsyncWorkerPool,
    async_iterate,
    async_monotonic,
)

if TYPE_CHECKING:
    from .._client import AsyncGatePay

__all__ = ["AsyncBulkIssuer"]

#: A round stops taking new rows once this many results per slot wait (so a round spans
#: about 20 request latencies whatever the latency, and its drain costs ~2.5%), or after
#: ROUND_SECONDS...
ROUND_RESULTS_PER_SLOT = 20
ROUND_MIN_RESULTS = 256
ROUND_SECONDS = 10.0
#: ...then waits this long for the requests in flight; while one straggles it goes on
#: sending the other rows, up to twice the round's results.
STRAGGLER_PATIENCE = 0.25


class AsyncBulkIssuer:
    """One ``create_many`` run. Built by :meth:`AsyncGiftCards.create_many`."""

    def __init__(
        self,
        client: AsyncGatePay,
        specs: Iterable[CardSpec] | AsyncIterable[CardSpec],
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
        self._client = client
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
        # The round's feed, shared by its workers: see _next_job.
        self._pull_lock = AsyncLock()
        self._feed_stopped = AsyncFlag()
        self._limit = 0
        self._fill_until = 0.0
        self._pulled = 0
        self._exhausted = False
        self._broken = False

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
                exhausted = await self._round(source)
                if self._commit is not None:
                    await self._commit.commit()  # outcomes are durable before they are told
                done.reverse()  # hand results out in completion order, freeing each one
                while done:
                    yield done.pop()
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
        async with AsyncWorkerPool(self._concurrency) as pool:
            try:
                while True:
                    self._feed_stopped.clear()
                    for _ in range(self._concurrency - pool.running):
                        await pool.submit(self._work, source)
                    await self._feed_stopped.wait()
                    if self._exhausted or self._broken:
                        return self._exhausted  # leaving the pool waits for those in flight
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
                if self._exhausted or self._broken or len(done) >= self._limit:
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
        await self._report(await self._create(job))

    async def _create(self, job: CreateJob) -> BulkResult:
        """Send one create: intent first, shared back-off on 429, outcome recorded."""
        plan = self._plan
        journal = plan.journal
        intent_written = False
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._limiter.acquire()
            except BaseException:
                if intent_written and journal is not None:  # refused with 429 so far
                    journal.record_failed(job.ref, "interrupted after HTTP 429; not issued")
                raise
            with AsyncCancelShield(enabled=journal is not None):
                halted = plan.halted(job)
                if halted is not None:
                    return halted
                if journal is not None and not intent_written:
                    journal.record_intent(job.ref, job.request)
                    assert self._commit is not None
                    await self._commit.commit()
                    intent_written = True
                client = self._client
                try:
                    data = await client._request(
                        "POST",
                        client._config.paths.create,
                        policy=RetryPolicy.CREATE,
                        content=job.request.body,
                    )
                except RateLimitError as exc:
                    if attempt >= RATE_LIMITED_ATTEMPTS:
                        return plan.rate_limited(job, exc, attempt)
                    self._limiter.pause(rate_limit_pause(exc, attempt))
                    continue
                except Exception as exc:
                    return plan.failed_send(job, exc)
                return plan.issued(job, data)
