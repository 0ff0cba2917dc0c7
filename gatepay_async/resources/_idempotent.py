"""``create(..., idempotency_key=...)``: one create per key, through the client's ledger.

The ledger claims the key before the send (intent durable first), keeps GatePay's raw
answer before anything interprets it, and the outcome after. The outcome itself is
decided by ``_decision.outcome`` alone, exactly as for a create without a key; the ledger only
records it. Each attempt is shielded from cancellation, as a bulk run's are: a
cancelled call never leaves a sent create recorded as anything but ``intent`` (or the
outcome it really had). The call runs detached from the caller's task
(``async_run_detached``): the event loop's own task cancellation (``wait_for``, a
``timeout`` block) is not stopped by the shield, so a cancelled caller gets its
cancellation once the attempt has ended and its card is in the ledger.
"""

from __future__ import annotations

import logging

import httpx

from gatepay_async._decision.outcome import (
    AsyncSendCreate,
    CreateCall,
    CreateOutcome,
    Outcome,
    decide,
)
from gatepay_async._models import GiftCard
from gatepay_async._primitives.synchronization import (
    AsyncCancelShield,
    async_run_detached,
    async_sleep,
)
from gatepay_async._storage.group_commit import AsyncCallBatches
from gatepay_async._storage.ledger import Ledger, LedgerError
from gatepay_async._wire.request_options import NO_OPTIONS, RequestOptions
from gatepay_async._wire.validation import CreateRequest

__all__ = ["async_create_once"]

logger = logging.getLogger("gatepay")

#: The warning when the ledger could not keep an answer or an outcome (no key in it).
NOT_RECORDED = (
    "the ledger could not record the %s of an idempotent create (%s); the key stays"
    " in doubt: a later create with it raises OutcomeUnknownError instead of sending"
)


async def async_create_once(
    send_create: AsyncSendCreate,
    ledger: Ledger,
    request: CreateRequest,
    key: str,
    account: str,
    *,
    options: RequestOptions = NO_OPTIONS,
) -> GiftCard:
    """The card for ``key`` in ``account`` (``_storage.ledger.ledger_account``): the stored one,
    or the one a single create issues.

    Raises what ``create`` raises, plus LedgerError when the ledger cannot claim the
    key (nothing was sent), ValidationError when the key was used for another request,
    and OutcomeUnknownError when an earlier attempt with the key is in flight or ended
    unknown (nothing is sent).
    """
    waiting = [False]  # between attempts: a cancellation may stop the call there
    return await async_run_detached(
        lambda: _create_once(send_create, ledger, request, key, account, waiting, options),
        lambda: waiting[0],
    )


async def _create_once(
    send_create: AsyncSendCreate,
    ledger: Ledger,
    request: CreateRequest,
    key: str,
    account: str,
    waiting: list[bool],
    options: RequestOptions,
) -> GiftCard:
    batches = async_batches_of(ledger)  # concurrent creates share each commit
    with AsyncCancelShield():  # a claimed key is always followed by its send
        begun = await batches.run(lambda: ledger.begin(key, request, account=account))
    if begun.card is not None:
        return begun.card
    owner = begun.owner
    assert owner is not None
    unrecorded: list[LedgerError] = []

    async def on_answer(response: httpx.Response) -> None:
        status, body = response.status_code, response.content
        try:
            await batches.run(lambda: ledger.record_answer(key, owner, status, body))
        except LedgerError as exc:
            logger.warning(NOT_RECORDED, "answer", exc)
            unrecorded.append(exc)
            if decide(status, body) is Outcome.REFUSED:
                # Nothing was issued, and nothing more is sent with an answer not kept.
                raise
            # Anything else is decided anyway, so that a card in it reaches the caller.

    async def pause(exc: BaseException, seconds: float) -> None:
        if unrecorded:
            raise exc  # the ledger failed: no further send
        waiting[0] = True
        await async_sleep(seconds)
        waiting[0] = False

    try:
        outcome = await send_create(
            CreateCall(
                request,
                on_answer=on_answer,
                pause=pause,
                guard=AsyncCancelShield,
                options=options,
            )
        )
    except BaseException as exc:
        # Cancelled between attempts, or the ledger failed to keep a refusal: either way
        # the last attempt was refused or never sent, so nothing was issued. Recorded as
        # failed if the ledger can (else the key stays in doubt, the safe side).
        if waiting[0] or isinstance(exc, LedgerError):
            reason = "cancelled" if waiting[0] else "the ledger failed"
            not_issued = CreateOutcome(
                Outcome.NOT_SENT, error=RuntimeError(f"{reason} after a refused or unsent attempt")
            )
            with AsyncCancelShield():
                await _record(ledger, key, owner, not_issued)
        raise
    with AsyncCancelShield():
        await _record(ledger, key, owner, outcome)
    return outcome.card_or_raise()


def async_batches_of(ledger: Ledger) -> AsyncCallBatches:
    """The ledger's group commit for this thread's creates: the claims, answers and
    outcomes of concurrent creates share one transaction, one commit and one hand-off to
    a worker thread. Per thread: an event loop runs in one."""
    batches: AsyncCallBatches | None = getattr(ledger.per_thread, "async_batches", None)
    if batches is None:
        batches = AsyncCallBatches(ledger.together, width=ledger.batch_width)
        ledger.per_thread.async_batches = batches
    return batches


async def _record(ledger: Ledger, key: str, owner: str, outcome: CreateOutcome) -> None:
    """Record ``outcome``; a ledger failure is logged, never raised: the outcome (a card,
    above all) still reaches the caller, and the row stays ``intent`` (in doubt)."""
    try:
        kept = await async_batches_of(ledger).run(
            lambda: ledger.record_outcome(key, owner, outcome)
        )
    except LedgerError as exc:
        logger.warning(NOT_RECORDED, "outcome", exc)
        return
    except Exception as exc:  # a bug must not keep an issued card from its caller
        logger.warning(NOT_RECORDED, "outcome", type(exc).__name__)
        return
    if not kept:  # pragma: no cover - only this attempt writes an intent it owns
        logger.warning(NOT_RECORDED, "outcome", "the row was taken over")
