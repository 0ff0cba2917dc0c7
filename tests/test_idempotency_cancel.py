"""A cancelled ``create(..., idempotency_key=...)`` (async only: threads are not cancelled).

An attempt in flight is shielded as a bulk run's are: it runs to its answer, which is
recorded, so the key is never left claiming a send that did not happen, nor a card
unrecorded. A call cancelled while waiting to send again (after a connection never
made) records the key as failed: nothing was issued, the next call sends.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gatepay_async import AsyncGatePay, GiftCard, Ledger
from tests import helpers
from tests._async.conftest import mock_client

KEY = "order-77"
ANSWER = helpers.success(helpers.card_data())


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def create(gp: AsyncGatePay) -> GiftCard:
    return await gp.gift_cards.create(
        title="Holiday",
        template_id=helpers.TEMPLATE_ID,
        currency="USDT",
        amount=Decimal("0.99"),
        idempotency_key=KEY,
    )


@pytest.mark.anyio
async def test_a_call_cancelled_mid_send_still_records_the_card(ledger_url: str) -> None:
    sent: list[httpx.Request] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        await anyio.sleep(0.5)
        return helpers.success(helpers.card_data())

    with Ledger(ledger_url) as ledger:
        async with mock_client(slow, ledger=ledger) as gp:
            with anyio.move_on_after(0.1) as scope:
                await create(gp)  # cancelled mid-send: the shielded attempt runs on
            assert scope.cancel_called
            assert ledger.state(KEY) == "issued"
            card = await create(gp)  # the stored card
    assert len(sent) == 1
    assert card.key == helpers.CARD_KEY


@pytest.mark.anyio
async def test_a_call_cancelled_between_attempts_records_a_failure(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gatepay_async._client.retry_wait", lambda exc, attempt: 5.0)
    recorder = helpers.Recorder(httpx.ConnectError("connection refused"), ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_retries=2) as gp:
            with anyio.move_on_after(0.3) as scope:
                await create(gp)
            assert scope.cancelled_caught
            assert ledger.state(KEY) == "failed"  # never sent: the next call may send
            card = await create(gp)
        assert ledger.state(KEY) == "issued"
    assert recorder.count == 2
    assert card.card_number == helpers.CARD_NUMBER


# asyncio's own cancellation (``asyncio.wait_for``, ``asyncio.timeout``, ``Task.cancel``)
# is not stopped by an anyio shield: the attempt must run on all the same.


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_call_cancelled_by_asyncio_mid_send_still_records_the_card(
    ledger_url: str,
) -> None:
    sent: list[httpx.Request] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        await asyncio.sleep(0.5)
        return helpers.success(helpers.card_data())

    with Ledger(ledger_url) as ledger:
        async with mock_client(slow, ledger=ledger) as gp:
            with pytest.raises(asyncio.TimeoutError):  # the builtin one from 3.11 on
                await asyncio.wait_for(create(gp), 0.1)
            assert ledger.state(KEY) == "issued"  # not "intent" with the card lost
            card = await create(gp)
    assert len(sent) == 1
    assert card.key == helpers.CARD_KEY


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_call_cancelled_by_asyncio_while_claiming_never_leaves_a_dead_claim(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = helpers.Recorder(ANSWER)
    with Ledger(ledger_url) as ledger:
        begin = ledger.begin

        def slow_begin(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)  # the claim is being written when the call is cancelled
            return begin(*args, **kwargs)

        monkeypatch.setattr(ledger, "begin", slow_begin)
        async with mock_client(recorder, ledger=ledger) as gp:
            with pytest.raises(asyncio.TimeoutError):  # the builtin one from 3.11 on
                await asyncio.wait_for(create(gp), 0.1)
            # Claimed means sent and recorded: never a claim no attempt will finish.
            assert ledger.state(KEY) == "issued"
            card = await create(gp)
    assert recorder.count == 1
    assert card.key == helpers.CARD_KEY


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_call_cancelled_by_asyncio_between_attempts_records_a_failure(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gatepay_async._client.retry_wait", lambda exc, attempt: 5.0)
    recorder = helpers.Recorder(httpx.ConnectError("connection refused"), ANSWER)
    with Ledger(ledger_url) as ledger:
        async with mock_client(recorder, ledger=ledger, max_retries=2) as gp:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):  # the builtin one from 3.11 on
                await asyncio.wait_for(create(gp), 0.3)
            assert time.monotonic() - started < 3  # the wait is cut, not sat out
            assert ledger.state(KEY) == "failed"  # never sent: the next call may send
            card = await create(gp)
        assert ledger.state(KEY) == "issued"
    assert recorder.count == 2
    assert card.card_number == helpers.CARD_NUMBER


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_call_cancelled_by_asyncio_mid_send_stops_before_the_next_send(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gatepay_async._client.retry_wait", lambda exc, attempt: 5.0)
    sent: list[httpx.Request] = []

    async def slow_refusal(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        await asyncio.sleep(0.3)
        return helpers.raw(429, "") if len(sent) == 1 else ANSWER

    with Ledger(ledger_url) as ledger:
        async with mock_client(slow_refusal, ledger=ledger, max_retries=2) as gp:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):  # the builtin one from 3.11 on
                await asyncio.wait_for(create(gp), 0.1)  # while the 429 is on its way
            assert time.monotonic() - started < 3  # the wait after it is cut
            assert ledger.state(KEY) == "failed"  # refused: nothing was issued
    assert len(sent) == 1  # the caller was gone: no second send
