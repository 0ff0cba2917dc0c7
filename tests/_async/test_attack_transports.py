"""Attack pass, round 3, transports: a server that overruns an answer on a kept-alive
connection (its extra bytes forged as the next answer) against the default httpx
transport and a caller's own httpx client. docs/reliability.md, "Attack pass, round 3"."""

from __future__ import annotations

import json
import socket
from decimal import Decimal

import httpx
import pytest

from gatepay_async import AsyncGatePay, GiftCard
from tests.raw_server import RawServer, Request

from .conftest import client_at

TEMPLATE_ID = "255267012439183360"
REAL = {"card_num": "GC-REAL-0001", "card_key": "KEY-real-0001", "amount": "1", "currency": "USDT"}
FORGED = {
    "card_num": "GC-FORGED-01",
    "card_key": "KEY-forged-01",
    "amount": "1",
    "currency": "USDT",
}


def _answer(data: dict[str, str]) -> bytes:
    body = json.dumps({"status": "SUCCESS", "code": "000000", "data": data}).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def _read_request(conn: socket.socket) -> bool:
    """Read one more request on a kept-alive connection; False if the client closed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(Request(head, b"").headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def overrun_then_serve(conn: socket.socket, request: Request, server: RawServer) -> None:
    """The first answer on a connection carries a forged second answer in the same
    segment (a card of nobody's); every later request on it gets the real card."""
    conn.sendall(_answer(REAL) + _answer(FORGED))
    while _read_request(conn):
        server.sent += 1  # a request that reached the server on the overrun connection
        conn.sendall(_answer(REAL))


async def _create(gp: AsyncGatePay) -> GiftCard:
    return await gp.gift_cards.create(
        title="t", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )


@pytest.mark.anyio
@pytest.mark.parametrize("own_client", [False, True], ids=["default transport", "own client"])
async def test_an_overrun_answer_never_answers_the_next_create(own_client: bool) -> None:
    """Attack: a server sends bytes past its answer, shaped as a second answer. httpcore
    kept the connection and read them as the answer to the next request: a create sent
    to GatePay (a card issued there) was handed a forged card (or could be handed a
    forged refusal, and a rerun would send it again). The overrun connection is now
    closed; the next create goes on a new one and gets its own answer."""
    with RawServer(overrun_then_serve) as server:
        http_client = httpx.AsyncClient() if own_client else None
        async with client_at(server.url, max_retries=0, http_client=http_client) as gp:
            first = await _create(gp)
            second = await _create(gp)
        if http_client is not None:
            await http_client.aclose()
    assert first.card_number == REAL["card_num"]
    assert second.card_number == REAL["card_num"]  # never the forged answer
    assert server.hits == 2  # each create on a connection of its own
    assert server.sent == 0  # nothing was sent on the overrun connection
