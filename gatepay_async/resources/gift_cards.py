"""``client.gift_cards``: create, query, balance, list_templates, create_many, wait_for_status."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import httpx

from gatepay_async._bulk.plan import JournalArgument
from gatepay_async._bulk_models import AsyncSpecs, BulkResult
from gatepay_async._decision.outcome import CreateCall, CreateOutcome
from gatepay_async._errors import ValidationError, WaitTimeoutError
from gatepay_async._models import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
)
from gatepay_async._primitives.synchronization import async_monotonic, async_sleep
from gatepay_async._secrets.secret import Secret, hide
from gatepay_async._storage.ledger import check_idempotency_key
from gatepay_async._wire.decoding import (
    decode_balance,
    decode_card,
    decode_merchant_balance,
    decode_templates,
)
from gatepay_async._wire.paths import PathSet, paths_for
from gatepay_async._wire.request_options import RequestOptions, request_options
from gatepay_async._wire.validation import build_create_request, card_lookup, sealed_json
from gatepay_async.resources._raw_response import RawResponse, async_raw
from gatepay_async.resources._waiting import GROWTH, describe_lookup, wait_plan

from ._client_api import AsyncClientAPI
from ._idempotent import async_create_once
from .bulk import AsyncBulkIssuer, AsyncBulkRun

__all__ = ["AsyncGiftCards", "AsyncGiftCardsWithRawResponse"]

# The query-string names of the balance lookup (seeds 000/001 use camelCase).
_BALANCE_PARAMS = {"card_number": "cardNumber", "key": "key"}


class AsyncGiftCards:
    """Gift card operations. Reached as ``client.gift_cards``."""

    def __init__(self, client: AsyncClientAPI, *, paths: PathSet | None = None) -> None:
        self._client = client
        # Where each operation lives: the caller's ``paths``, else per ``on_behalf_of``.
        self._paths = paths_for(client.on_behalf_of, paths)

    @property
    def with_raw_response(self) -> AsyncGiftCardsWithRawResponse:
        """The same operations, each returning the raw answer (``status_code``,
        ``headers``) whose ``parse()`` gives the plain call's result or raises its error."""
        return AsyncGiftCardsWithRawResponse(self)

    async def list_templates(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> list[GiftCardTemplate]:
        """The cover templates available for new cards.

        Every operation takes ``timeout=`` (seconds, or an ``httpx.Timeout``, for this call
        only) and ``extra_headers=`` (sent on the wire; the ``X-GatePay-*`` headers,
        ``Content-Type`` and ``Host`` are the SDK's: giving one raises ValidationError).
        """
        options = request_options(timeout, extra_headers)
        # Decoded inline: a local holding the answer would show in error tools.
        return decode_templates(
            await self._client._send("GET", self._paths.templates, options=options)
        )

    async def create(
        self,
        *,
        title: str,
        template_id: str,
        currency: str,
        amount: Decimal | int | str,
        idempotency_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> GiftCard:
        """Issue one gift card.

        The outcome is decided by the one rule shared with ``create_many`` (see
        docs/reliability.md): the card when GatePay answered SUCCESS with a card number
        and key; the matching :class:`APIError` when GatePay refused it; and
        :class:`OutcomeUnknownError` (with GatePay's raw answer, when one arrived) for a
        lost or unreadable answer, a 5xx, a redirect, or a SUCCESS without a usable
        number and key. Resent only when the request provably never reached GatePay or
        was refused with 429; an unknown outcome is never resent: a card may exist.

        ``idempotency_key`` (needs a client with a ``ledger``) makes the create
        exactly-once across calls, processes and hosts sharing the ledger: the same key
        with the same request returns the stored card and sends nothing; with another
        request, ValidationError naming the fields. An earlier attempt with the key that
        is in flight, or ended unknown, raises OutcomeUnknownError and nothing is sent;
        one that was refused or never sent is sent again. LedgerError: the ledger
        cannot be reached (nothing was sent).

        The card comes back with the title, template, currency and amount it was issued
        with; where GatePay's answer gives one of them, GatePay's value.
        """
        checked = build_create_request(
            title=title, template_id=template_id, currency=currency, amount=amount
        )
        options = request_options(timeout, extra_headers)
        if idempotency_key is not None:
            key = check_idempotency_key(idempotency_key)
            ledger = self._client._idempotency_ledger
            if ledger is None:
                raise ValidationError(
                    "idempotency_key",
                    "needs a ledger: create the client with ledger='sqlite:///ledger.db'"
                    " (or a postgresql:// URL, or a Ledger)",
                )
            account = self._client._ledger_account
            return await async_create_once(
                self._send_create, ledger, checked, key, account, options=options
            )
        outcome = await self._send_create(CreateCall(checked, options=options))
        return outcome.card_or_raise()

    async def _send_create(self, call: CreateCall) -> CreateOutcome:
        """The one internal create, of ``create`` and ``create_many``: send ``call``'s
        request and return GatePay's raw answer with its outcome (``_decision.outcome`` decides).
        ``call`` carries what a bulk run plugs in: the hook that makes each raw answer
        durable before it is decided, the shared 429 pause, the attempt guard."""
        return await self._client._send_create(self._paths.create, call)

    async def query(
        self,
        *,
        card_number: str | None = None,
        key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> GiftCard:
        """A card's details, by exactly one of ``card_number`` or ``key``."""
        masked_key = hide(key)
        del key  # error tools show this frame's locals: only the masked key stays here
        options = request_options(timeout, extra_headers)
        return await self._query(*card_lookup(card_number, masked_key), options)

    async def _query(self, field: str, value: str | Secret, options: RequestOptions) -> GiftCard:
        body = sealed_json({field: value})
        return decode_card(
            await self._client._send("POST", self._paths.query, body=body, options=options)
        )

    async def balance(
        self,
        *,
        card_number: str | None = None,
        key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> GiftCardBalance:
        """A card's balance, by exactly one of ``card_number`` or ``key``.

        An answer in the per-currency shape fills ``balances`` (every currency kept).
        """
        masked_key = hide(key)
        del key  # error tools show this frame's locals: only the masked key stays here
        field, value = card_lookup(card_number, masked_key)
        options = request_options(timeout, extra_headers)
        params = {_BALANCE_PARAMS[field]: value}
        return decode_balance(
            await self._client._send("GET", self._paths.balance, params=params, options=options)
        )

    async def merchant_balance(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> MerchantBalance:
        """The merchant's available funds per currency.

        ``GET`` on the balance path with no parameters, as GatePay's official clients call
        it. Every currency in the answer is in ``balances``; an amount that is not a
        decimal raises ResponseValidationError instead of being left out.
        """
        options = request_options(timeout, extra_headers)
        return decode_merchant_balance(
            await self._client._send("GET", self._paths.balance, options=options)
        )

    def create_many(
        self,
        specs: AsyncSpecs,
        *,
        concurrency: int = 16,
        journal: JournalArgument = None,
        retry_unknown: bool = False,
        rate: float | None = None,
        on_progress: Callable[[BulkResult], object] | None = None,
    ) -> AsyncBulkRun:
        """Issue many cards, at most ``concurrency`` requests at a time.

        Run it in a block and iterate it for the results::

            async with gp.gift_cards.create_many(specs, journal="run.jsonl") as results:
                async for result in results:
                    ...

        One :class:`BulkResult` per spec, handed out as soon as it is durable: ``state``
        one of ``issued`` (``card`` holds it), ``failed`` (definitely not issued: a bad
        row -- ``error`` names the field --, a request GatePay refused such as
        InvalidRequestError, or one refused with 429 or never sent after every retry) or
        ``unknown`` (OutcomeUnknownError: sent, and its outcome cannot be known --
        answer lost or unreadable, a 5xx --; or an earlier run stopped mid-request). The
        outcome of each create is decided exactly as :meth:`create` decides it
        (docs/reliability.md). Nothing is resent on its own. After bad credentials, or
        when GatePay cannot be reached, the rows after it fail unsent.

        ``specs`` is pulled lazily (any iterable; the async client also takes an async
        iterable), so memory stays flat. Refs must be unique: for a sequence (list, tuple)
        a duplicate raises ValidationError here, before anything is sent; for a one-shot
        iterator a later row repeating a ref is ``failed`` without being sent.

        ``journal`` (a path, or an open :class:`~gatepay_async._storage.journal.Journal`) makes
        the run exact across crashes: an intent record is fsynced before each create is
        sent, GatePay's raw answer fsynced before it is interpreted, and the outcome
        recorded after. Running again with the same journal yields issued refs from it
        (``from_journal=True``; a recorded answer holding a card counts as issued)
        without sending them, yields unknown refs as ``unknown`` without sending them
        unless ``retry_unknown=True``, and sends failed refs again. A row that differs
        from what was sent for an issued or unknown ref is never sent again: its
        ``changed`` names the fields. The file is created with mode 0600: it holds card
        keys.

        ``journal`` may also be a database: ``"sqlite:///path.db"`` or
        ``"postgresql://..."`` (``?campaign=NAME`` picks a campaign in it, default
        ``default``), or an open ``DatabaseJournal``. Several runs (processes, hosts) over
        the same rows and the same campaign split the rows by atomic claims: each row is
        sent by one of them; a row another run holds gets no result here (counted in
        ``results.elsewhere``). See docs/reliability.md, "Shared campaigns".

        ``rate`` caps requests per second. A 429 pauses every worker (shared back-off)
        before the refused create is sent again, by the client's one retry loop; a row
        refused with 429 every time is sent at most 8 times. ``on_progress(result)`` is
        called as each row finishes (calls are serialised; in the sync facade they come from
        worker threads); an exception from it stops the run and is raised when the
        block ends.

        Leaving the block early (``break``, an exception) is safe: no new row is sent,
        and the block ends once the requests in flight have ended and their outcomes
        are recorded. Their results are not handed out, so without a journal their
        cards are not reported: use a journal for anything that matters.

        The run can be stopped cleanly: ``results.stop()`` takes no new rows and ends
        the iteration once the requests in flight are recorded and handed out;
        ``results.abandon()`` records those as unknown instead of waiting. Install your
        own signal handlers to call them (``gatepay bulk-create`` does, for SIGINT and
        SIGTERM alike). A journal that cannot be written stops the run before the next
        create is sent; the iteration hands out every result, then raises JournalError.

        Iterating the run without the block (``async for result in create_many(...)``)
        still works but is deprecated (DeprecationWarning): it hands results out in
        batches, each once every request of the batch has ended.
        """
        return AsyncBulkRun(
            AsyncBulkIssuer(
                self._send_create,
                specs,
                concurrency=concurrency,
                journal=journal,
                retry_unknown=retry_unknown,
                rate=rate,
                on_progress=on_progress,
            )
        )

    async def wait_for_status(
        self,
        *,
        card_number: str | None = None,
        key: str | None = None,
        statuses: Iterable[GiftCardStatus | int | str] | GiftCardStatus,
        timeout: float = 60.0,
        interval: float = 1.0,
        extra_headers: Mapping[str, str] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
    ) -> GiftCard:
        """Poll ``query`` until the card's status is one of ``statuses``; return the card.

        GatePay sends no callbacks, so this polls: first at once, then after ``interval``
        seconds, each wait 1.5 times the previous one (at most 30 s, or ``interval`` if
        larger). Raises :class:`WaitTimeoutError`, naming the last status seen, if none
        of ``statuses`` is reached within ``timeout`` seconds. Errors of ``query`` itself
        (after its own retries) are raised as they are. Here ``timeout`` is the whole
        wait's; ``request_timeout`` is each poll's, and ``extra_headers`` go on each poll.
        """
        masked_key = hide(key)
        del key  # error tools show this frame's locals: only the masked key stays here
        field, value = card_lookup(card_number, masked_key)
        options = request_options(request_timeout, extra_headers)
        wanted, max_interval = wait_plan(statuses, timeout=timeout, interval=interval)
        deadline = async_monotonic() + timeout
        delay = interval
        polls = 0
        card: GiftCard | None = None
        while True:
            card = await self._query(field, value, options)
            polls += 1
            if card.status in wanted:
                return card
            remaining = deadline - async_monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(
                    lookup=describe_lookup(field, value),
                    statuses=tuple(wanted),
                    timeout=timeout,
                    polls=polls,
                    card=card,
                )
            await async_sleep(min(delay, remaining))
            delay = min(delay * GROWTH, max_interval)


class AsyncGiftCardsWithRawResponse:
    """``client.gift_cards.with_raw_response``: each operation returns a
    :class:`~gatepay_async.resources._raw_response.RawResponse` of GatePay's last answer to it.

    ``parse()`` gives the plain call's result or raises its error: the call made is the
    plain one (for ``create``, the same outcome decision). A call that ends with no
    answer (never sent, connection lost, timed out: for a create, OutcomeUnknownError
    without ``.answer``, or RequestNotSentError) raises that error here, as the plain
    call does. ``create`` takes no ``idempotency_key``: a key seen before returns the
    stored card without sending, so there is no answer to show.
    """

    def __init__(self, gift_cards: AsyncGiftCards) -> None:
        self.list_templates = async_raw(gift_cards.list_templates)
        self.query = async_raw(gift_cards.query)
        self.balance = async_raw(gift_cards.balance)
        self.merchant_balance = async_raw(gift_cards.merchant_balance)
        self.wait_for_status = async_raw(gift_cards.wait_for_status)
        self._create = async_raw(gift_cards.create)

    async def create(
        self,
        *,
        title: str,
        template_id: str,
        currency: str,
        amount: Decimal | int | str,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RawResponse[GiftCard]:
        """``create``'s raw twin (see the class)."""
        return await self._create(
            title=title,
            template_id=template_id,
            currency=currency,
            amount=amount,
            timeout=timeout,
            extra_headers=extra_headers,
        )
