"""An error's attributes hold no key: not only its text.

Programs log ``exc.message`` and ``exc.label`` (openai-python's convention), and an
error's attributes travel with it: pickled into a task queue's result store (Celery's
pickle serializer), into error tools' exception data. A server that echoes a card key
back in a refusal's label, message or data (any card's key: a create sends none, so the
client cannot know it) must leave it in none of them. GatePay's raw answer to a create
whose outcome is unknown stays whole in ``OutcomeUnknownError.answer``: it is the
caller's card.
"""

from __future__ import annotations

import json
import pickle
import socket
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from gatepay_async import AsyncGatePay, GatePayError, OutcomeUnknownError
from tests.frame_locals import API_KEY, KEY, SECRET, leaked
from tests.raw_server import RawServer, Request, answer

from .conftest import client_at

client = partial(client_at, secret_key=SECRET, api_key=API_KEY, max_retries=0)
OTHER_KEY = "Zr4Kq9Tm+Vc2/Xb8NpL1Hd6Wf3Jy5Sa7Ge0Ui2Oo4E="  # a card the request never named


def _echo(status: str, echoed: str) -> Any:
    def respond(conn: socket.socket, request: Request, server: RawServer) -> None:
        body = {
            "status": "FAIL",
            "code": "400001",
            "label": f"bad key {echoed}",
            "errorMessage": f"card with key {echoed} not found",
            "data": {"key": echoed, "cards": [{"card_key": echoed}], "note": f"key={echoed}"},
        }
        answer(conn, status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    return respond


async def _call(gp: AsyncGatePay, operation: str) -> Any:
    if operation == "create":
        return await gp.gift_cards.create(
            title="t", template_id="255267012439183360", currency="USDT", amount=Decimal(1)
        )
    if operation == "query":
        return await gp.gift_cards.query(key=KEY)
    return await gp.gift_cards.balance(key=KEY)


def _shown(error: BaseException) -> list[str]:
    """Where a piece of a key is in the error's text or any attribute (as repr shows it,
    and as a pickle stores it); an unknown create's ``.answer`` is the caller's."""
    found = []
    places: dict[str, object] = {"str": str(error), "repr": repr(error)}
    places.update({f".{name}": value for name, value in vars(error).items() if name != "answer"})
    for where, value in places.items():
        for text in (value if isinstance(value, str) else repr(value), pickle.dumps(value)):
            shown = text if isinstance(text, str) else text.decode("latin-1")
            if leaked(shown) or OTHER_KEY[:12] in shown:
                found.append(f"{where}: {shown[:300]}")
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("echoed", ["the key sent", "another card's key"])
@pytest.mark.parametrize("status", ["200 OK", "400 Bad Request", "404 Not Found", "500 Oops"])
@pytest.mark.parametrize("operation", ["create", "query", "balance"])
async def test_no_attribute_of_an_error_holds_an_echoed_key(
    operation: str, status: str, echoed: str
) -> None:
    key = KEY if echoed == "the key sent" else OTHER_KEY
    with RawServer(_echo(status, key)) as server:
        async with client(server.url) as gp:
            with pytest.raises(GatePayError) as raised:
                await _call(gp, operation)
    error = raised.value
    found = _shown(error)
    if isinstance(error, OutcomeUnknownError):
        assert error.cause is not None
        found += _shown(error.cause)
        assert error.answer is not None
        assert key.encode() in error.answer.body  # the caller's answer is kept whole
    else:
        assert pickle.loads(pickle.dumps(error)).code == "400001"  # noqa: S301 (our own bytes)
    assert not found, "\n".join(found)
