"""Building a client is cheap: no pool and no certificate load until a request needs one.

Structure, not timing: the CA certificates are counted as they are loaded
(``SSLContext.load_verify_locations``), and the pools are counted as they are made.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest

from gatepay_async import AsyncGatePay
from gatepay_async._http.transport import AsyncShardedTransport
from gatepay_sync import GatePay
from gatepay_sync._http.transport import ShardedTransport

LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


class _Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # Long enough for concurrent requests to overlap and so spread over several pools.
        threading.Event().wait(0.05)
        self.send_response(200)
        self.send_header("Set-Cookie", "session=abc; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(http.server.ThreadingHTTPServer):
    # 48 connections arrive at once: the default backlog of 5 makes the kernel drop SYNs,
    # and their retransmission (1 s, then 3 s) reads as a timeout on a loaded machine.
    request_queue_size = 128


@pytest.fixture
def url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cert_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every CA bundle loaded from now on (one entry per load)."""
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return loads


def test_building_clients_loads_no_certificates_and_makes_no_pool(
    cert_loads: list[object],
) -> None:
    sync_client = GatePay(client_id="id", secret_key="secret", base_url="https://example.invalid")
    async_client = AsyncGatePay(
        client_id="id", secret_key="secret", base_url="https://example.invalid"
    )
    assert cert_loads == []
    for client in (sync_client, async_client):
        transport = client._http_client._transport
        assert isinstance(transport, (ShardedTransport, AsyncShardedTransport))
        assert transport._pools.made() == []
    sync_client.close()


def _ssl_contexts(pools: list[httpx.HTTPTransport] | list[httpx.AsyncHTTPTransport]) -> set[int]:
    return {id(pool._pool._ssl_context) for pool in pools}


def test_sync_pools_are_made_on_first_use_and_share_one_ssl_context(
    url: str, cert_loads: list[object]
) -> None:
    transport = ShardedTransport(LIMITS)
    with httpx.Client(transport=transport) as client:
        assert client.get(url).status_code == 200
        assert len(transport._pools.made()) == 1  # one request at a time: one pool
        with ThreadPoolExecutor(24) as executor:
            codes = list(executor.map(lambda _: client.get(url).status_code, range(48)))
        assert codes == [200] * 48
        made = transport._pools.made()
        assert len(made) > 1
        assert _ssl_contexts(made) == {id(transport._pools.ssl_context)}
    assert len(cert_loads) == 1


@pytest.mark.anyio
async def test_async_pools_are_made_on_first_use_and_share_one_ssl_context(
    url: str, cert_loads: list[object]
) -> None:
    transport = AsyncShardedTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(url)).status_code == 200
        assert len(transport._pools.made()) == 1

        async def get() -> None:
            assert (await client.get(url)).status_code == 200

        async with anyio.create_task_group() as group:
            for _ in range(48):
                group.start_soon(get)
        made = transport._pools.made()
        assert len(made) > 1
        assert _ssl_contexts(made) == {id(transport._pools.ssl_context)}
    assert len(cert_loads) == 1


def test_the_default_client_keeps_no_cookies(url: str) -> None:
    with GatePay(client_id="id", secret_key="secret", base_url=url) as client:
        http_client = client._http_client
        assert http_client.get(url).headers["set-cookie"].startswith("session=")
        assert not http_client.cookies  # GatePay sets none: nothing is parsed or kept
