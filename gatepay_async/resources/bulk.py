"""Bulk issuance: ``client.gift_cards.create_many``.

This module is the source of ``gatepay_sync/resources/bulk.py``: keep it unasync-friendly
(concurrency only through the ``gatepay_async._synchronization`` pairs).

How a run goes. Rows are pulled from ``specs`` one at a time and either answered at once
(bad row, duplicate ref, already in the journal) or handed to a worker pool of
``concurrency`` slots. A worker waits for the rate limiter, writes the intent record and
waits for it to be fsynced (one fsync shared by every worker waiting at that moment),
sends the create, and records the outcome. Results are collected in *rounds* of up to
about a second; when a round ends no request is in flight, its outcomes are made
durable, and only then are its results yielded. Yielding only between rounds is what
makes it safe to stop iterating early (``break``), on asyncio and trio alike: the
generator is never suspended inside its task group.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import httpx

from gatepay_async._bulk_models import BulkResult, CardSpec
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
from gatepay_async._outcome import RATE_LIMITED_SENDS, CreateCall
from gatepay_async._retry import RetryPolicy
from gatepay_async._synchronization import (
    AsyncCancelShield,
    AsyncGroupCommit,
    AsyncLock,
    AsyncRateLimiter,
    AsyncWorkerPool,
    async_iterate,
    async_monotonic,
    async_sleep,
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
        plan = self._plan
        limit = max(ROUND_MIN_RESULTS, ROUND_RESULTS_PER_SLOT * self._concurrency)
        most = 2 * limit
        async with AsyncWorkerPool(self._concurrency) as pool:
            fill_until = async_monotonic() + ROUND_SECONDS
            pulled = 0
            while True:
                while len(done) < limit and (pulled % 32 or async_monotonic() < fill_until):
                    pulled += 1
                    spec = await anext(source, None)
                    if spec is None:
                        return True  # leaving the pool waits for the requests in flight
                    job = plan.decide(spec)
                    if isinstance(job, CreateJob):
                        await pool.submit(self._issue, job)
                    else:
                        await self._report(job)
                if len(done) >= most or await pool.wait_idle(STRAGGLER_PATIENCE):
                    return False
                # A request straggles: keep the other slots busy meanwhile.
                limit = most
                fill_until = async_monotonic() + STRAGGLER_PATIENCE
                pulled = 0

    async def _report(self, result: BulkResult) -> None:
        self._done.append(result)
        if self._on_progress is not None:
            async with self._progress_lock:
                self._on_progress(result)

    async def _issue(self, job: CreateJob) -> None:
        await self._report(await self._create(job))

    async def _create(self, job: CreateJob) -> BulkResult:
        """Send one create: intent first, the raw answer durable, the outcome recorded.

        The client's one retry loop resends what may be resent; its waits between
        attempts are :meth:`_pause`, so a 429 pauses the whole run.
        """
        plan = self._plan
        journal = plan.journal
        shielded = journal is not None
        await self._limiter.acquire()
        with AsyncCancelShield(enabled=shielded):
            halted = plan.halted(job)
            if halted is not None:
                return halted
            if journal is not None:
                journal.record_intent(job.ref, job.request)
                assert self._commit is not None
                await self._commit.commit()
        answers: list[httpx.Response] = []
        waiting: list[bool] = [False]
        journal_failures: list[JournalError] = []

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
                    # result instead of dying with the write; nothing is sent again.
                    journal_failures.append(exc)

        async def pause(exc: BaseException, seconds: float) -> None:
            if journal_failures:
                raise journal_failures[0]  # a failed journal write: no further send
            waiting[0] = True
            await self._pause(exc, seconds)
            waiting[0] = False

        client = self._client
        try:
            # Each attempt (send, raw answer recorded, outcome decided) is shielded from
            # cancellation; the waits between attempts are not: a stopped run does not
            # sit out a 429 pause.
            card = await client._request(
                "POST",
                client._config.paths.create,
                policy=RetryPolicy.CREATE,
                content=job.request.body,
                create=CreateCall(
                    job.request,
                    on_answer=on_answer,
                    pause=pause,
                    rate_limited_sends=RATE_LIMITED_SENDS,
                    guard=lambda: AsyncCancelShield(enabled=shielded),
                ),
            )
        except Exception as exc:
            with AsyncCancelShield(enabled=shielded):
                return plan.failed_send(job, exc, sends=len(answers))
        except BaseException:
            if waiting[0] and journal is not None:  # the last attempt was refused or unsent
                journal.record_failed(
                    job.ref, "interrupted while waiting to send again after a refusal; not issued"
                )
            raise
        with AsyncCancelShield(enabled=shielded):
            return plan.issued(job, card, answers[-1] if answers else None)

    async def _pause(self, exc: BaseException, seconds: float) -> None:
        """The wait before a create is sent again: after a 429, every worker waits."""
        if isinstance(exc, RateLimitError):
            self._limiter.pause(seconds)
        else:
            await async_sleep(seconds)
        await self._limiter.acquire()
