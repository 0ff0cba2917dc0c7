"""Attack pass, round 3, transports: a server that overruns an answer on a kept-alive
connection (its extra bytes forged as the next answer) against the default httpx
transport and a caller's own httpx client; a flood of 1xx answers that never ends.
docs/reliability.md, "Attack pass, round 3"."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

import httpx
import pytest

from gatepay_async import APITimeoutError, AsyncGatePay, GiftCard, OutcomeUnknownError
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


#: True here, False in the generated sync twin (its class is GatePay).
ASYNC = AsyncGatePay.__name__.startswith("Async")
FLOOD_SECONDS = 6.0


def informational_flood(conn: socket.socket, request: Request, server: RawServer) -> None:
    """1xx answers (103 Early Hints), 50 every 10 ms, for FLOOD_SECONDS: every read
    gets bytes at once, and no final answer ever comes."""
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" * 50
    until = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < until and not server.stopping():
        conn.sendall(hints)
        server.sent += 50
        time.sleep(0.01)


@pytest.mark.anyio
async def test_a_flood_of_informational_answers_does_not_hold_a_call_past_timeout() -> None:
    """Attack: the server answers with 1xx after 1xx and never a final answer. Each read
    returns at once, so no read timeout fires; the attempt's deadline ends the read
    (retried once here) and the create (unknown, never resent) on time."""
    if not ASYNC:
        pytest.skip(
            "the sync facade cannot cut a blocking read: a 1xx flood holds it while the"
            " flood lasts (docs/reliability.md, Attack pass, round 3)"
        )
    with RawServer(informational_flood) as server:
        async with client_at(server.url, timeout=1.0, max_retries=1) as gp:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await gp.gift_cards.query(card_number="GC1")
            read_took = time.monotonic() - started
            started = time.monotonic()
            with pytest.raises(OutcomeUnknownError):
                await _create(gp)
            create_took = time.monotonic() - started
    assert server.hits == 3  # the read twice (retried), the create once
    assert read_took < 2 * 1.0 + 1.0, read_took
    assert create_took < 1.0 + 0.5, create_took
