"""wait_for_status: polls with growing waits, returns the card, times out naming the status."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from gatepay_async import GatePayError, GiftCardStatus, ValidationError
from gatepay_async._errors import WaitTimeoutError
from gatepay_async._primitives.synchronization import async_monotonic
from tests.secret_leaks import leaked_pieces, raised_texts

from .conftest import mock_client

CARD_NUMBER = "GC00000000000042"
CARD_KEY = "KEY-wait-secret-0123456789"


class StatusScript:
    """A query endpoint answering the scripted statuses in turn (the last one repeats)."""

    def __init__(self, *statuses: int | str) -> None:
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        self.polls: list[float] = []
        self.bodies: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.polls.append(async_monotonic())
            self.bodies.append(json.loads(request.content))
            status = self.statuses[min(len(self.polls), len(self.statuses)) - 1]
        data = {"card_num": CARD_NUMBER, "key": CARD_KEY, "amount": "5", "status": status}
        return httpx.Response(200, json={"status": "SUCCESS", "code": "000000", "data": data})


@pytest.mark.anyio
async def test_returns_the_card_once_its_status_is_wanted() -> None:
    script = StatusScript(1, 1, 1, 2)
    async with mock_client(script.handler) as gp:
        card = await gp.gift_cards.wait_for_status(
            card_number=CARD_NUMBER,
            statuses=[GiftCardStatus.NOT_REDEEMED, GiftCardStatus.REDEEMED],
            timeout=5,
            interval=0.05,
        )
    assert card.status is GiftCardStatus.NOT_REDEEMED
    assert card.card_number == CARD_NUMBER
    assert len(script.polls) == 4
    assert script.bodies[0] == {"card_number": CARD_NUMBER}
    gaps = [b - a for a, b in zip(script.polls, script.polls[1:], strict=False)]
    assert gaps[0] >= 0.045
    assert gaps[1] >= 0.07  # x1.5
    assert gaps[2] >= 0.105  # x1.5 again
    assert gaps[2] > gaps[0]


@pytest.mark.anyio
async def test_a_status_already_reached_returns_after_one_poll() -> None:
    script = StatusScript(3)
    async with mock_client(script.handler) as gp:
        card = await gp.gift_cards.wait_for_status(
            key=CARD_KEY, statuses=GiftCardStatus.REDEEMED, timeout=1, interval=1
        )
    assert card.status is GiftCardStatus.REDEEMED
    assert script.bodies == [{"key": CARD_KEY}]


@pytest.mark.anyio
async def test_statuses_may_be_given_as_codes_or_names() -> None:
    script = StatusScript(1, "REDEEMED")
    async with mock_client(script.handler) as gp:
        card = await gp.gift_cards.wait_for_status(
            card_number=CARD_NUMBER, statuses=[3, "EXPIRED"], timeout=2, interval=0.01
        )
    assert card.status is GiftCardStatus.REDEEMED


@pytest.mark.anyio
async def test_timeout_names_the_last_status_seen() -> None:
    script = StatusScript(1)
    started = async_monotonic()
    gp = mock_client(script.handler)
    with pytest.raises(WaitTimeoutError) as caught:
        await gp.gift_cards.wait_for_status(
            card_number=CARD_NUMBER,
            statuses=[GiftCardStatus.NOT_REDEEMED],
            timeout=0.3,
            interval=0.05,
        )
    await gp.aclose()
    elapsed = async_monotonic() - started
    error = caught.value
    assert isinstance(error, GatePayError)
    assert isinstance(error, TimeoutError)
    assert error.last_status is GiftCardStatus.PENDING_PAYMENT
    assert "PENDING_PAYMENT" in str(error)
    assert "NOT_REDEEMED" in str(error)
    assert CARD_NUMBER in str(error)
    assert 0.3 <= elapsed < 1.5
    assert 3 <= len(script.polls) <= 8


@pytest.mark.anyio
async def test_timeout_by_key_does_not_show_the_key() -> None:
    script = StatusScript(1)
    gp = mock_client(script.handler)
    with pytest.raises(WaitTimeoutError) as caught:
        await gp.gift_cards.wait_for_status(key=CARD_KEY, statuses=[2], timeout=0.05, interval=0.02)
    await gp.aclose()
    assert not leaked_pieces(CARD_KEY, raised_texts(caught.value))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"statuses": [2], "timeout": 1, "interval": 1}, "card_number/key"),
        ({"card_number": "1", "key": "k", "statuses": [2], "timeout": 1}, "card_number/key"),
        ({"card_number": "1", "statuses": [], "timeout": 1}, "statuses"),
        ({"card_number": "1", "statuses": ["SOLD"], "timeout": 1}, "statuses"),
        ({"card_number": "1", "statuses": [2], "timeout": 0}, "timeout"),
        ({"card_number": "1", "statuses": [2], "timeout": 1, "interval": -1}, "interval"),
    ],
)
async def test_bad_arguments_are_refused_before_any_poll(
    arguments: dict[str, Any], argument: str
) -> None:
    script = StatusScript(2)
    gp = mock_client(script.handler)
    with pytest.raises(ValidationError) as caught:
        await gp.gift_cards.wait_for_status(**arguments)
    await gp.aclose()
    assert caught.value.argument == argument
    assert script.polls == []
