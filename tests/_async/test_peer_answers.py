"""The SDK decodes the answers every official client expects, typed as that client types them.

The answers are authored in tests/peer/peers.py: Java's and Python's string ``status`` and
``create_time``, Go's ints, JSON-number ``amount`` and extra ``batchId``/``reason``/
``err_msg``; refusals with a numeric ``code`` and an object ``errorMessage``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from gatepay_async import AsyncGatePay, GiftCardStatus, InvalidRequestError
from tests.helpers import Recorder, raw
from tests.peer.peers import ANSWERS, CARD_KEY, CARD_NUMBER, ERRORS, TEMPLATE_ID, Peer

from .conftest import mock_client

PEERS = list(Peer)
IDS = [peer.value for peer in PEERS]
CREATED_AT = dt.datetime(2025, 1, 27, 1, 41, 45, 582000, tzinfo=dt.timezone.utc)


def make_client(answer: httpx.Response) -> AsyncGatePay:
    return mock_client(Recorder(answer), max_retries=0)


@pytest.mark.anyio
@pytest.mark.parametrize("peer", PEERS, ids=IDS)
async def test_create_answer(peer: Peer) -> None:
    async with make_client(raw(200, ANSWERS[peer]["create"])) as gp:
        card = await gp.gift_cards.create(
            title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount="0.99"
        )
    assert (card.card_number, card.key) == (CARD_NUMBER, CARD_KEY)
    assert card.amount == Decimal("0.99")
    assert type(card.amount) is Decimal  # a JSON number never becomes a float
    assert card.status is GiftCardStatus.PENDING_PAYMENT
    assert card.created_at == CREATED_AT
    assert card.template_id == TEMPLATE_ID
    if peer is Peer.GO:
        assert card.extra == {"batchId": "b-20250127-1", "reason": "", "err_msg": ""}
    else:
        assert card.extra == {}


@pytest.mark.anyio
@pytest.mark.parametrize("peer", PEERS, ids=IDS)
async def test_query_answer(peer: Peer) -> None:
    async with make_client(raw(200, ANSWERS[peer]["query"])) as gp:
        card = await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert (card.card_number, card.key, card.amount) == (CARD_NUMBER, CARD_KEY, Decimal("0.99"))
    assert card.status is GiftCardStatus.NOT_REDEEMED
    assert card.created_at is not None
    assert int(card.created_at.timestamp() * 1000) == 1737971259259


@pytest.mark.anyio
@pytest.mark.parametrize("peer", PEERS, ids=IDS)
async def test_merchant_balance_answer(peer: Peer) -> None:
    async with make_client(raw(200, ANSWERS[peer]["balance"])) as gp:
        funds = await gp.gift_cards.merchant_balance()
    assert funds.balances == {"USDT": Decimal("12.50"), "BTC": Decimal("0.001")}


@pytest.mark.anyio
@pytest.mark.parametrize("peer", PEERS, ids=IDS)
async def test_templates_answer(peer: Peer) -> None:
    async with make_client(raw(200, ANSWERS[peer]["templates"])) as gp:
        (template,) = await gp.gift_cards.list_templates()
    assert template.template_id == TEMPLATE_ID
    assert template.cover_url == "https://example.invalid/c.png"
    assert (template.title_en, template.title_cn, template.cover_type) == ("Holiday", "节日", "1")


@pytest.mark.anyio
@pytest.mark.parametrize("peer", PEERS, ids=IDS)
async def test_refusal_answer(peer: Peer) -> None:
    status_code, body = ERRORS[peer]
    async with make_client(raw(status_code, body)) as gp:
        with pytest.raises(InvalidRequestError) as info:
            await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert info.value.code == "400001"  # a JSON number too
    assert "amount: invalid" in str(info.value)  # an object errorMessage too
