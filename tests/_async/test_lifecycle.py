"""The sandbox's lifecycle helpers, seen by a merchant only through query and balance.

Each helper plays a card holder's or GatePay's action; the SDK must then show exactly
what GatePay would. Real HTTP to a sandbox on 127.0.0.1 (the ``gatepay_sandbox`` handle).
The source of ``tests/_sync/test_lifecycle.py`` (generated).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from gatepay_async import AsyncGatePay, GiftCard, GiftCardStatus
from gatepay_async.sandbox import GatePaySandbox, TransitionRefused
from gatepay_async.sandbox._fixture import fixture_config

TEMPLATE_ID = "255267012439183360"


@pytest.fixture(scope="module")
def handle() -> Iterator[GatePaySandbox]:
    with GatePaySandbox(fixture_config()) as running:
        yield running


def make_client(handle: GatePaySandbox, **overrides: object) -> AsyncGatePay:
    return AsyncGatePay(
        client_id=handle.client_id,
        secret_key=handle.secret_key,
        base_url=handle.base_url,
        timeout=10.0,
        **overrides,  # type: ignore[arg-type]
    )


async def issue(gp: AsyncGatePay, amount: str = "5") -> GiftCard:
    return await gp.gift_cards.create(
        title="lifecycle", template_id=TEMPLATE_ID, currency="USDT", amount=amount
    )


def recent(moment: dt.datetime | None) -> bool:
    now = dt.datetime.now(dt.timezone.utc)
    return moment is not None and now - dt.timedelta(seconds=30) <= moment <= now


@pytest.mark.anyio
async def test_a_new_card_is_not_redeemed_and_nobody_redeemed_it(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        assert card.status is GiftCardStatus.PENDING_PAYMENT
        seen = await gp.gift_cards.query(card_number=card.card_number)
        balance = await gp.gift_cards.balance(card_number=card.card_number)
    assert seen.status is GiftCardStatus.NOT_REDEEMED
    assert seen.exchange_uid == 0
    # Never gifted: the query answer has exactly seed 004's fields, no gift fields.
    assert (seen.owner, seen.give_count, seen.last_given_at) == (None, 0, None)
    assert (balance.amount, balance.status) == (Decimal("5"), GiftCardStatus.NOT_REDEEMED)


@pytest.mark.anyio
async def test_redeem_shows_redeemer_time_and_zero_balance(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp, "7.5")
        handle.redeem(card.card_number)
        seen = await gp.gift_cards.query(key=card.key)
        balance = await gp.gift_cards.balance(key=card.key)
    assert seen.status is GiftCardStatus.REDEEMED
    assert seen.exchange_uid == 20001
    assert recent(seen.exchanged_at)
    assert seen.amount == Decimal("7.5")  # the face value stays; the balance is gone
    assert balance.status is GiftCardStatus.REDEEMED
    assert balance.amount == Decimal("0")


@pytest.mark.anyio
async def test_redeem_by_a_given_uid(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        handle.redeem(card.card_number, uid=777)
        seen = await gp.gift_cards.query(card_number=card.card_number)
    assert seen.exchange_uid == 777


@pytest.mark.anyio
async def test_gift_changes_owner_and_counts(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        handle.gift(card.card_number, to_uid=30001)
        once = await gp.gift_cards.query(card_number=card.card_number)
        handle.gift(card.card_number, to_uid=30002)
        twice = await gp.gift_cards.query(card_number=card.card_number)
        balance = await gp.gift_cards.balance(card_number=card.card_number)
    assert (once.owner, once.give_count) == (30001, 1)
    assert recent(once.last_given_at)
    assert (twice.owner, twice.give_count) == (30002, 2)
    assert twice.last_given_at is not None
    assert once.last_given_at is not None
    assert twice.last_given_at >= once.last_given_at
    assert twice.status is GiftCardStatus.NOT_REDEEMED
    assert twice.exchange_uid == 0
    assert (balance.amount, balance.status) == (Decimal("5"), GiftCardStatus.NOT_REDEEMED)


@pytest.mark.anyio
async def test_a_gifted_card_can_then_be_redeemed_by_its_new_owner(
    handle: GatePaySandbox,
) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        handle.gift(card.card_number, to_uid=30003)
        handle.redeem(card.card_number, uid=30003)
        seen = await gp.gift_cards.query(card_number=card.card_number)
    assert (seen.status, seen.owner, seen.exchange_uid, seen.give_count) == (
        GiftCardStatus.REDEEMED,
        30003,
        30003,
        1,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("helper", "status"),
    [
        ("freeze", GiftCardStatus.FROZEN),
        ("expire", GiftCardStatus.EXPIRED),
        ("cancel", GiftCardStatus.CANCELLED),
    ],
)
async def test_freeze_expire_cancel(
    handle: GatePaySandbox, helper: str, status: GiftCardStatus
) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        getattr(handle, helper)(card.card_number)
        seen = await gp.gift_cards.query(card_number=card.card_number)
        balance = await gp.gift_cards.balance(card_number=card.card_number)
    assert seen.status is status
    assert balance.status is status
    assert balance.amount == Decimal("5")
    assert seen.exchange_uid == 0


@pytest.mark.anyio
@pytest.mark.parametrize("status", list(GiftCardStatus))
async def test_set_status_shows_any_status(handle: GatePaySandbox, status: GiftCardStatus) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        handle.set_status(card.card_number, status)
        seen = await gp.gift_cards.query(card_number=card.card_number)
        balance = await gp.gift_cards.balance(key=card.key)
    assert seen.status is status
    assert balance.status is status
    assert seen.raw_status == status.value


@pytest.mark.anyio
async def test_set_status_by_name_and_code(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        card = await issue(gp)
        handle.set_status(card.card_number, "payment_failed")
        failed = await gp.gift_cards.query(card_number=card.card_number)
        handle.set_status(card.card_number, 6)
        review = await gp.gift_cards.query(card_number=card.card_number)
    assert failed.status is GiftCardStatus.PAYMENT_FAILED
    assert review.status is GiftCardStatus.MANUAL_REVIEW


@pytest.mark.anyio
async def test_a_holder_cannot_redeem_twice_or_a_frozen_card(handle: GatePaySandbox) -> None:
    async with make_client(handle) as gp:
        redeemed = await issue(gp)
        frozen = await issue(gp)
        handle.redeem(redeemed.card_number)
        handle.freeze(frozen.card_number)
        with pytest.raises(TransitionRefused, match="REDEEMED"):
            handle.redeem(redeemed.card_number)
        with pytest.raises(TransitionRefused, match="FROZEN"):
            handle.gift(frozen.card_number, to_uid=5)
        still = await gp.gift_cards.query(card_number=redeemed.card_number)
    assert still.exchange_uid == 20001


@pytest.mark.anyio
async def test_helpers_reach_cards_of_an_institution_sub_account(handle: GatePaySandbox) -> None:
    async with make_client(handle, on_behalf_of="sub-account-9") as gp:
        card = await issue(gp)
        handle.redeem(card.card_number)
        seen = await gp.gift_cards.query(card_number=card.card_number)
    assert seen.status is GiftCardStatus.REDEEMED


@pytest.mark.anyio
async def test_scripted_new_cards_meet_payment_failure_after_a_delay(
    handle: GatePaySandbox,
) -> None:
    handle.script_new_cards("payment_failed:50%:after=0.3s")
    try:
        async with make_client(handle) as gp:
            failing = await issue(gp)
            paid = await issue(gp)
            first = await gp.gift_cards.query(card_number=failing.card_number)
            final = await gp.gift_cards.wait_for_status(
                card_number=failing.card_number,
                statuses=[GiftCardStatus.PAYMENT_FAILED],
                timeout=5,
                interval=0.05,
            )
            other = await gp.gift_cards.query(card_number=paid.card_number)
    finally:
        handle.clear_scripts()
    assert failing.status is GiftCardStatus.PENDING_PAYMENT
    assert first.status is GiftCardStatus.PENDING_PAYMENT
    assert final.status is GiftCardStatus.PAYMENT_FAILED
    assert other.status is GiftCardStatus.NOT_REDEEMED
