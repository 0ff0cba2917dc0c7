"""The fast asyncio transport keeps "not sent" exact, and the bytes as they are.

Real loopback sockets, no mocks: a server that reads a whole request and then closes the
connection without answering (the request was sent: the outcome is unknown and a create
is never resent), a port with nothing listening (never sent: retried), and a server that
answers fixed raw bytes (status, headers and body reach the caller as they were sent).
The fault matrix (tests/_async/test_fault_matrix.py) also runs on this transport.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import httpx
import pytest

from gatepay_async import (
    APIConnectionError,
    AsyncGatePay,
    DefaultAioHttpClient,
    GiftCard,
    OutcomeUnknownError,
    RequestNotSentError,
    ValidationError,
)
from gatepay_async._http.aiohttp_transport import map_error
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests._async.conftest import client_at, forbid_the_client_layer
from tests.secret_leaks import leaked_pieces, raised_texts

TEMPLATE_ID = "255267012439183360"
CARD_KEY = "aYWSUSx8WVsUM0GV74x7RJJKSMkpfoDlEveyTwWupyc="

Answer = Callable[[bytes], Awaitable[bytes | None]]


class RawServer:
    """A loopback HTTP/1.1 server: reads each request whole, then answers raw bytes
    (or closes the connection without a byte when ``answer`` gives None)."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def gatepay_on(url: str, http_client: httpx.AsyncClient) -> AsyncGatePay:
    return AsyncGatePay(
        client_id="client",
        secret_key="secret",
        base_url=url,
        timeout=2.0,
        max_retries=2,
        http_client=http_client,
    )


@pytest.fixture
async def http_client() -> AsyncIterator[DefaultAioHttpClient]:
    client = DefaultAioHttpClient()
    try:
        yield client
    finally:
        await client.aclose()


async def create(gp: AsyncGatePay) -> object:
    return await gp.gift_cards.create(
        title="t", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_connection_closed_after_the_request_is_unknown_and_never_resent(
    http_client: DefaultAioHttpClient,
) -> None:
    async with RawServer(lambda request: None) as server:
        gp = await gatepay_on(server.url, http_client)
        with pytest.raises(OutcomeUnknownError) as caught:
            await create(gp)
        assert len(server.requests) == 1  # the SDK did not resend, nor did aiohttp
        assert not isinstance(caught.value.__cause__, RequestNotSentError)
        assert b'"title":"t"' in server.requests[0]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_read_cut_after_the_request_is_retried_as_a_read_and_the_key_stays_out(
    http_client: DefaultAioHttpClient,
) -> None:
    async with RawServer(lambda request: None) as server:
        gp = await gatepay_on(server.url, http_client)
        with pytest.raises(APIConnectionError) as caught:
            await gp.gift_cards.balance(key=CARD_KEY)
        assert len(server.requests) == 3  # a read is retried: max_retries=2
        assert b"key=aYWSUSx8" in server.requests[0]  # the key went in the URL...
        # ...and no piece of it is in any exception text of the chain
        assert not leaked_pieces(CARD_KEY, raised_texts(caught.value))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_nothing_listening_is_not_sent_and_is_retried() -> None:
    attempts: list[str] = []

    async def count(request: httpx.Request) -> None:
        attempts.append(request.method)

    client = DefaultAioHttpClient(event_hooks={"request": [count]})
    try:
        gp = await gatepay_on(f"http://127.0.0.1:{free_port()}", client)
        with pytest.raises(RequestNotSentError) as caught:
            await create(gp)
    finally:
        await client.aclose()
    assert attempts == ["POST"] * 3  # not sent, so even a create is tried again
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_status_headers_and_body_arrive_as_sent_and_the_body_leaves_as_signed(
    http_client: DefaultAioHttpClient,
) -> None:
    payload = b'{"odd":"\xc3\xa9 \\u0000","n":1}'
    compressed = gzip.compress(payload)
    answer = (
        b"HTTP/1.1 299 Odd Reason\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\n"
        b"X-Repeated: one\r\n"
        b"X-Repeated: two\r\n"
        b"X-Spaces: a  b\r\n"
        b"Content-Length: " + str(len(compressed)).encode() + b"\r\n\r\n" + compressed
    )
    body = b'{"b":"\xe2\x82\xac","a":  1}'
    async with RawServer(lambda request: answer) as server:
        response = await http_client.post(
            server.url + "/path?x=%2F", content=body, headers={"X-Sig": "s"}
        )
        received = server.requests[0]
    assert response.status_code == 299
    assert response.reason_phrase == "Odd Reason"
    assert response.headers.get_list("x-repeated") == ["one", "two"]
    assert response.headers["x-spaces"] == "a  b"
    assert response.headers["content-encoding"] == "gzip"  # raw, decoded by httpx
    assert response.content == payload
    head, _, sent_body = received.partition(b"\r\n\r\n")
    assert sent_body == body
    assert head.startswith(b"POST /path?x=%2F HTTP/1.1\r\n")
    assert b"\r\nx-sig: s" in head.lower()


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_on_trio_it_is_a_validation_error_naming_http_client() -> None:
    with pytest.raises(ValidationError, match="http_client") as caught:
        DefaultAioHttpClient()
    assert "asyncio" in str(caught.value)


def test_only_failures_before_the_write_are_not_sent() -> None:
    import aiohttp

    request = httpx.Request("POST", "http://127.0.0.1:9/")
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    before = [
        aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused")),
        aiohttp.ClientConnectorDNSError(key, OSError(-2, "Name or service not known")),
        aiohttp.ConnectionTimeoutError("Connection timeout to host http://x/?key=secret"),
    ]
    after: list[Exception] = [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
        ConnectionResetError(104, "reset"),
    ]
    for exc in before:
        mapped = map_error(exc, request, sending=True)
        assert isinstance(mapped, (httpx.ConnectError, httpx.ConnectTimeout)), exc
        assert "secret" not in str(mapped)
    for failure in after:
        for sending in (True, False):
            mapped = map_error(failure, request, sending=sending)
            assert isinstance(
                mapped, (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout)
            )
            assert not isinstance(mapped, (httpx.ConnectError, httpx.ConnectTimeout))
    # A connector error while the body is read cannot happen, and is not "not sent" there.
    assert not isinstance(
        map_error(before[0], request, sending=False), (httpx.ConnectError, httpx.ConnectTimeout)
    )


def test_built_outside_a_loop_then_used_on_trio_is_a_validation_error() -> None:
    import trio

    client = DefaultAioHttpClient()  # no loop yet: nothing to tell apart

    async def use() -> None:
        gp = await gatepay_on(f"http://127.0.0.1:{free_port()}", client)
        await create(gp)

    with pytest.raises(ValidationError, match="http_client"):
        trio.run(use)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_cookies_set_by_a_server_are_not_kept_unless_asked_for() -> None:
    answer = b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 2\r\n\r\nok"
    async with RawServer(lambda request: answer) as server:
        async with DefaultAioHttpClient() as client:
            await client.get(server.url + "/")
            await client.get(server.url + "/")
            assert not client.cookies
        async with DefaultAioHttpClient(cookies={"given": "1"}) as client:
            await client.get(server.url + "/")
            assert client.cookies.get("session") == "abc"
    assert b"cookie" not in server.requests[1].lower()
    assert b"given=1" in server.requests[2]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_create_many_on_the_sandbox_sends_each_row_once_with_lost_answers(
    sandbox: SandboxServer, http_client: DefaultAioHttpClient
) -> None:
    from gatepay_async import BulkState, CardSpec

    sandbox.sandbox.inject(parse_fault("create:drop_after,times=3"))  # 3 answers lost
    prefix = f"fast-{uuid.uuid4().hex[:8]}"
    specs = [
        CardSpec(ref=f"r{i}", title=f"{prefix}-{i}", template_id=TEMPLATE_ID, currency="USDT",
                 amount="1")
        for i in range(60)
    ]  # fmt: skip
    gp = client_at(sandbox.url, timeout=2.0, http_client=http_client)
    states = [result.state async for result in gp.gift_cards.create_many(specs, concurrency=8)]
    assert states.count(BulkState.UNKNOWN) == 3
    assert states.count(BulkState.ISSUED) == 57
    assert sandbox.sandbox.attempts("create") == 60  # each row sent exactly once
    titles = [t for t in sandbox.sandbox.store.all_titles() if t.startswith(prefix)]
    assert len(titles) == len(set(titles)) == 60  # the lost answers' cards exist, once


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_plain_default_aiohttp_client_is_sent_to_without_the_client_layer(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_the_client_layer(monkeypatch)
    http_client = DefaultAioHttpClient(headers={"User-Agent": "shop/1.0", "X-Shop": "7"})
    async with http_client:
        card = await create(client_at(sandbox.url, timeout=2.0, http_client=http_client))
    assert isinstance(card, GiftCard)
    assert card.key


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_default_aiohttp_client_with_hooks_is_used_through_send(
    sandbox: SandboxServer,
) -> None:
    """Hooks the caller adds, even after the SDK got the client, still run."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers["X-GatePay-Signature"])

    http_client = DefaultAioHttpClient()
    async with http_client:
        gp = client_at(sandbox.url, timeout=2.0, http_client=http_client)
        http_client.event_hooks = {"request": [hook]}
        await create(gp)
        assert len(seen) == 1
        assert seen[0]  # the hook saw the signed request
        http_client.event_hooks = {}
        await create(gp)
    assert len(seen) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_client_given_an_empty_cookie_jar_keeps_cookies_across_sdk_calls() -> None:
    """``cookies=`` asks for cookies to be kept: an empty jar at first must not make the
    SDK skip the client layer, which is what stores them."""
    body = b'{"status":"SUCCESS","code":"000000","data":[]}'
    answer = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    async with (
        RawServer(lambda request: answer) as server,
        DefaultAioHttpClient(cookies={}) as http_client,
    ):
        gp = await gatepay_on(server.url, http_client)
        await gp.gift_cards.list_templates()
        await gp.gift_cards.list_templates()
        assert http_client.cookies.get("session") == "abc"
    assert b"session=abc" in server.requests[1]
