"""Hostile or broken servers over real loopback sockets: redirects, dripped answers,
gzip bombs and endless bodies, keys echoed back, and keys in httpx's own log lines."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import cache, partial
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gatepay_async import (
    APIError,
    APITimeoutError,
    AsyncGatePay,
    BulkState,
    CardSpec,
    GatePayError,
    OutcomeUnknownError,
    ResponseValidationError,
)
from gatepay_async.sandbox import SandboxServer
from tests.raw_server import RawServer, Request, Respond, answer

from .conftest import client_at

TEMPLATE_ID = "255267012439183360"
KEY = "q8Zf3Lm+Wx0/Tb7PkR2nYc5Vd1Hs9Ja4Ge6Ui8Oo3E="  # shaped like GatePay's: base64
CARD = {"card_num": "GC900100200300", "card_key": KEY, "amount": "1", "currency": "USDT"}
#: True here, False in the generated sync twin (its class is GatePay).
ASYNC = AsyncGatePay.__name__.startswith("Async")


client = partial(client_at, timeout=5.0, max_retries=0)


async def create(gp: AsyncGatePay) -> Any:
    return await gp.gift_cards.create(
        title="hostile", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and what they carry as ``cause``."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]


def leaks(secret: str, text: str) -> list[str]:
    """Substrings of 8 characters of ``secret`` (or of its URL-encoded form) in ``text``."""
    found = []
    for form in {secret, quote(secret, safe="")}:
        found += [form[i : i + 8] for i in range(len(form) - 7) if form[i : i + 8] in text]
    return found


def exception_texts(exc: BaseException) -> str:
    texts = []
    for item in chain(exc):
        texts += [str(item), repr(item)]
        try:
            request = item.request  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            continue
        texts.append(str(request.url))
    return "\n".join(texts)


def status_in_chain(exc: BaseException) -> int | None:
    for item in chain(exc):
        status = getattr(item, "status_code", None)
        if isinstance(status, int):
            return status
    return None


# ------------------------------------------------------------------------ redirects


@pytest.mark.anyio
@pytest.mark.parametrize(
    "status", ["307 Temporary Redirect", "308 Permanent Redirect", "302 Found"]
)
async def test_signed_requests_never_follow_redirects(status: str) -> None:
    with RawServer(lambda conn, request, server: answer(conn, "200 OK", b"{}")) as elsewhere:

        def redirect(conn: socket.socket, request: Request, server: RawServer) -> None:
            location = elsewhere.url + request.target
            answer(conn, status, b"moved", {"Location": location})

        with RawServer(redirect) as server:
            # The caller's own client follows redirects; the SDK must not, per send.
            follow = httpx.AsyncClient(follow_redirects=True)
            async with client(server.url, http_client=follow, max_retries=2) as gp:
                with pytest.raises(OutcomeUnknownError) as created:  # 3xx: unknown
                    await create(gp)
                with pytest.raises(APIError) as queried:
                    await gp.gift_cards.query(card_number="GC1")
            await follow.aclose()
        assert elsewhere.hits == 0  # nothing re-sent to the Location host
        assert server.hits == 2  # one create, one query: a 3xx is an answer, not retried
        code = int(status.split()[0])
        assert status_in_chain(created.value) == code  # the 3xx reaches the outcome
        assert queried.value.status_code == code


# ------------------------------------------------------------------------ whole-attempt timeout


def dripping(start: bytes, drop: bytes) -> Respond:
    """An answer that sends ``start`` at once, then ``drop`` every 0.2 s (for at most 6 s)."""

    def drip(conn: socket.socket, request: Request, server: RawServer) -> None:
        conn.sendall(start)
        for _ in range(30):
            if server.stopping():
                return
            conn.sendall(drop)
            time.sleep(0.2)

    return drip


#: Headers at once, then one byte of the body at a time.
drip_body = dripping(
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n", b" "
)
#: The status line, then one byte of a header at a time.
drip_headers = dripping(b"HTTP/1.1 200 OK\r\n", b"X")


@pytest.mark.anyio
async def test_a_dripping_answer_does_not_hold_a_read_past_timeout() -> None:
    with RawServer(drip_body) as server:
        async with client(server.url, timeout=1.0, max_retries=1) as gp:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await gp.gift_cards.query(card_number="GC1")
            elapsed = time.monotonic() - started
    assert server.hits == 2  # a read that timed out is retried
    assert elapsed < 2 * (1.0 + 0.35) + 0.5, elapsed  # each attempt ends near its timeout


@pytest.mark.anyio
async def test_a_dripping_answer_to_a_create_is_unknown_and_not_resent() -> None:
    with RawServer(drip_body) as server:
        async with client(server.url, timeout=1.0, max_retries=2) as gp:
            started = time.monotonic()
            with pytest.raises(OutcomeUnknownError):
                await create(gp)
            elapsed = time.monotonic() - started
    assert server.hits == 1
    assert elapsed < 1.0 + 0.5, elapsed


@pytest.mark.anyio
async def test_dripping_headers_do_not_hold_an_async_call_past_timeout() -> None:
    if not ASYNC:
        pytest.skip("the sync client bounds each read, and the body as a whole, not headers")
    with RawServer(drip_headers) as server:
        async with client(server.url, timeout=1.0) as gp:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await gp.gift_cards.query(card_number="GC1")
            elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.5, elapsed


# ------------------------------------------------------------------------ size cap


@cache
def gzip_bomb() -> bytes:
    """A valid SUCCESS answer that is 16 MiB once inflated and some 16 KiB on the wire."""
    card = json.dumps({**CARD, "pad": "0" * (16 * 1024 * 1024)})
    return gzip.compress(b'{"status":"SUCCESS","data":' + card.encode() + b"}", 6)


def serve_bomb(conn: socket.socket, request: Request, server: RawServer) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer(conn, "200 OK", gzip_bomb(), headers)


def endless(conn: socket.socket, request: Request, server: RawServer) -> None:
    """A chunked answer of up to 64 MiB; ``server.sent`` counts what went out."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b" " * (1024 * 1024)
    for _ in range(64):
        conn.sendall(b"100000\r\n" + chunk + b"\r\n")
        server.sent += len(chunk)
    conn.sendall(b"0\r\n\r\n")


@pytest.mark.anyio
async def test_a_gzip_bomb_is_refused_at_the_cap() -> None:
    assert len(gzip_bomb()) < 100_000  # made before the server answers with it
    with RawServer(serve_bomb) as server:
        async with client(server.url) as gp:
            with pytest.raises(ResponseValidationError) as info:
                await gp.gift_cards.query(card_number="GC1")
            with pytest.raises(OutcomeUnknownError) as created:
                await create(gp)  # answered, so a card may exist: never "issued" from it
    assert "max_response_bytes" in str(info.value)
    assert not leaks(KEY, exception_texts(created.value))


@pytest.mark.anyio
async def test_an_endless_answer_is_not_read_whole() -> None:
    with RawServer(endless) as server:
        async with client(server.url) as gp:
            with pytest.raises(ResponseValidationError) as info:
                await gp.gift_cards.query(card_number="GC1")
        assert server.finished.wait(15)
    assert "max_response_bytes" in str(info.value)
    assert server.sent < 32 * 1024 * 1024  # the client hung up early (socket buffers aside)


@pytest.mark.anyio
async def test_the_cap_is_configurable() -> None:
    body = json.dumps({"status": "SUCCESS", "data": CARD}).encode()

    def respond(conn: socket.socket, request: Request, server: RawServer) -> None:
        answer(conn, "200 OK", body, {"Content-Type": "application/json"})

    with RawServer(respond) as server:
        async with client(server.url, max_response_bytes=len(body)) as gp:
            card = await gp.gift_cards.query(card_number="GC1")
        async with client(server.url, max_response_bytes=len(body) - 1) as gp:
            with pytest.raises(ResponseValidationError):
                await gp.gift_cards.query(card_number="GC1")
    assert card.key == KEY


# ------------------------------------------------------------------------ keys


@pytest.mark.anyio
async def test_no_log_record_holds_a_card_key(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's request lines included
    async with client(sandbox.url) as gp:
        card = await create(gp)
        await gp.gift_cards.balance(key=card.key)
        await gp.gift_cards.query(key=card.key)
    assert caplog.records
    assert any(record.name == "httpx" for record in caplog.records)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert not leaks(card.key, text)


def redirect_to_self(conn: socket.socket, request: Request, server: RawServer) -> None:
    """A redirect whose Location echoes the request's query, card key included."""
    key = request.query.get("key", "")
    location = f"{server.url}/v1/pay/balance?key={quote(key)}"
    answer(conn, "301 Moved Permanently", b"", {"Location": location})


@pytest.mark.anyio
async def test_a_redirect_echoing_the_key_leaves_it_in_no_log_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpcore logs response headers at DEBUG: a Location holding the key is masked."""
    caplog.set_level(logging.DEBUG)  # every logger, httpcore's included
    with RawServer(redirect_to_self) as server:
        async with client(server.url) as gp:
            with pytest.raises(GatePayError):
                await gp.gift_cards.balance(key=KEY)
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert not leaks(KEY, text)


@pytest.mark.anyio
async def test_a_dropped_connection_leaves_no_key_in_the_exception_chain() -> None:
    def hang_up(conn: socket.socket, request: Request, server: RawServer) -> None:
        conn.close()

    with RawServer(hang_up) as server:
        async with client(server.url) as gp:
            with pytest.raises(GatePayError) as balance:
                await gp.gift_cards.balance(key=KEY)
            with pytest.raises(GatePayError) as query:
                await gp.gift_cards.query(key=KEY)
    for raised in (balance.value, query.value):
        assert not leaks(KEY, exception_texts(raised))


def echo_key(conn: socket.socket, request: Request, server: RawServer) -> None:
    """Errors that quote the key the client sent, with no field name before it."""
    key = request.query.get("key") or json.loads(request.body or b"{}").get("key", "")
    if request.method == "GET":
        answer(conn, "404 Not Found", f"no gift card {key} here".encode())
    else:
        fail = {"status": "FAIL", "code": "400001", "errorMessage": f"unknown card: {key}"}
        answer(conn, "400 Bad Request", json.dumps(fail).encode())


@pytest.mark.anyio
async def test_a_key_echoed_back_in_an_error_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with RawServer(echo_key) as server:
        async with client(server.url) as gp:
            with pytest.raises(APIError) as balance:
                await gp.gift_cards.balance(key=KEY)
            with pytest.raises(APIError) as query:
                await gp.gift_cards.query(key=KEY)
    assert balance.value.status_code == 404
    assert query.value.status_code == 400
    for raised in (balance.value, query.value):
        assert not leaks(KEY, exception_texts(raised))
    assert not leaks(KEY, "\n".join(record.getMessage() for record in caplog.records))


def cut_after_the_card(conn: socket.socket, request: Request, server: RawServer) -> None:
    """The whole SUCCESS answer, card and key, then the connection closes 100 bytes
    short of the Content-Length it promised."""
    body = json.dumps({"status": "SUCCESS", "code": "000000", "data": CARD}).encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) + 100}\r\nConnection: close\r\n\r\n"
    )
    conn.sendall(head.encode("latin-1") + body)
    conn.close()


@pytest.mark.anyio
async def test_an_answer_cut_after_its_card_keeps_what_arrived() -> None:
    with RawServer(cut_after_the_card) as server:
        async with client(server.url) as gp:
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
    answer_kept = info.value.answer
    assert answer_kept is not None
    assert answer_kept.status_code == 200
    assert KEY.encode() in answer_kept.body  # what arrived: the key is not lost
    assert not leaks(KEY, exception_texts(info.value))  # and still not in any text


@pytest.mark.anyio
async def test_a_bulk_row_cut_after_its_card_is_recovered_on_the_rerun(tmp_path: Any) -> None:
    journal = tmp_path / "run.journal"
    spec = CardSpec(ref="r1", title="hostile", template_id=TEMPLATE_ID, currency="USDT", amount="1")
    with RawServer(cut_after_the_card) as server:
        async with client(server.url) as gp:
            first = [r async for r in gp.gift_cards.create_many([spec], journal=journal)]
        assert first[0].state is BulkState.UNKNOWN  # the answer broke: in doubt
        assert KEY in journal.read_text(encoding="utf-8")
        async with client(server.url) as gp:
            rerun = [r async for r in gp.gift_cards.create_many([spec], journal=journal)]
        assert server.hits == 1  # nothing sent again
    assert rerun[0].state is BulkState.ISSUED  # the complete card in what arrived
    assert rerun[0].card is not None
    assert rerun[0].card.key == KEY
