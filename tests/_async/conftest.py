"""What the client tests share: their clients (on a scripted handler, or over real HTTP)
and the operations they run with valid arguments.

Plain functions rather than fixtures: tests call them several times, with options, and
from their own helpers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import httpx._client
import pytest

from gatepay_async import AsyncGatePay, GiftCard
from tests import helpers
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY

#: What ``httpx.MockTransport`` calls with each request (``Recorder`` is one).
Handler = Callable[[httpx.Request], httpx.Response]
#: ``httpx.AsyncClient``'s mock transport also takes a coroutine function.
CoroutineHandler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def mock_client(
    handler: Handler | CoroutineHandler,
    *,
    client_id: str = helpers.CLIENT_ID,
    secret_key: str = helpers.SECRET_KEY,
    base_url: str = helpers.BASE_URL,
    **options: Any,
) -> AsyncGatePay:
    """A client whose requests ``handler`` answers; ``options`` are further client arguments."""
    return AsyncGatePay(
        client_id=client_id,
        secret_key=secret_key,
        base_url=base_url,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,
    )


def client_at(
    url: str,
    *,
    client_id: str = SANDBOX_CLIENT_ID,
    secret_key: str = SANDBOX_SECRET_KEY,
    **options: Any,
) -> AsyncGatePay:
    """A client of the server at ``url`` over real HTTP (the sandbox, or a hand-written
    server), with the session sandbox's credentials."""
    return AsyncGatePay(client_id=client_id, secret_key=secret_key, base_url=url, **options)


def forbid_the_client_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a send through httpx's client layer (``send``) fail the test: the direct
    send must not need it.

    What fails is ``request_context``, which the client layer's ``_send_single_request``
    enters around the transport call: replacing a method on the way from ``send`` to the
    transport would itself turn the direct send off (``_http.patches``: a mock may be there).
    """

    def no_client_layer(*args: object, **kwargs: object) -> Any:
        raise AssertionError("sent through httpx.AsyncClient.send")

    monkeypatch.setattr(httpx._client, "request_context", no_client_layer)


async def create(gp: AsyncGatePay) -> GiftCard:
    """A create with valid arguments."""
    return await gp.gift_cards.create(
        title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount=Decimal("0.99")
    )


async def call(gp: AsyncGatePay, operation: str) -> Any:
    """Run one operation with valid arguments: ``create``, ``query_card_number``,
    ``query_key``, ``balance_card_number``, ``balance_key`` or ``list_templates``."""
    if operation == "create":
        return await create(gp)
    if operation == "query_card_number":
        return await gp.gift_cards.query(card_number=helpers.CARD_NUMBER)
    if operation == "query_key":
        return await gp.gift_cards.query(key=helpers.CARD_KEY)
    if operation == "balance_card_number":
        return await gp.gift_cards.balance(card_number=helpers.CARD_NUMBER)
    if operation == "balance_key":
        return await gp.gift_cards.balance(key=helpers.CARD_KEY)
    assert operation == "list_templates"
    return await gp.gift_cards.list_templates()


def answer_for(operation: str) -> httpx.Response:
    """A success answer that ``operation`` (a name ``call`` takes, by prefix) decodes."""
    if operation.startswith("balance"):
        return helpers.success(
            {"cardNumber": helpers.CARD_NUMBER, "currency": "USDT", "amount": "0.99"}
        )
    if operation == "list_templates":
        return helpers.success([{"templateId": helpers.TEMPLATE_ID, "templateName": "Holiday"}])
    return helpers.success(helpers.card_data())
