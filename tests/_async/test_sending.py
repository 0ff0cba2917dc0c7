"""The direct send: the SDK's own clients skip httpx's client layer, and nothing changes.

A request built by ``AsyncSender.build`` is the one ``build_request`` makes (URL, headers
in order, body, timeouts), the SDK's own client sends through its transport without
``httpx.AsyncClient.send`` (the saving), httpx's request log line is still written, and a
client the caller gave is used through ``send`` so its hooks and auth still run.
"""

from __future__ import annotations

import functools
import logging
import socket
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async.sandbox import SandboxServer
from tests.raw_server import RawServer, Request, Respond, answer

from .conftest import client_at, forbid_the_client_layer

TEMPLATE_ID = "255267012439183360"
CALLS = [
    ("POST", "/v1/pay/gift/create", b'{"title":"t","amount":"1"}', None),
    ("GET", "/v1/pay/balance", b"", {"key": "k+/=", "b": "2"}),
    ("GET", "/v1/pay/gift/templates", b"", None),
]


client = functools.partial(client_at, timeout=5.0, max_retries=0)


def answering_templates(received: list[Request]) -> Respond:
    """A raw server's answer: keep each request in ``received``, answer no templates."""

    def respond(conn: socket.socket, request: Request, server: RawServer) -> None:
        received.append(request)
        answer(conn, "200 OK", b'{"status":"SUCCESS","code":"000000","data":[]}')

    return respond


async def list_templates_on_a_raw_server() -> tuple[str, list[Request]]:
    """``list_templates`` on a raw server: the path the client used, the requests received."""
    received: list[Request] = []
    with RawServer(answering_templates(received)) as server:
        async with client(server.url) as gp:
            await gp.gift_cards.list_templates()
            path = gp.gift_cards._paths.templates
    return path, received


def same_request(built: httpx.Request, expected: httpx.Request) -> None:
    assert built.method == expected.method
    assert str(built.url) == str(expected.url)
    assert built.headers.raw == expected.headers.raw
    assert built.content == expected.content
    assert built.extensions == expected.extensions


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "content", "params"), CALLS)
async def test_a_request_built_directly_is_the_one_httpx_builds(
    method: str, path: str, content: bytes, params: dict[str, str] | None
) -> None:
    async with client("http://127.0.0.1:9") as gp:
        gp._http_client.headers["X-Extra"] = "kept"  # changed after the client was built
        built = gp._sender.build(method, path, content=content, params=params)
        expected = gp._http_client.build_request(
            method,
            gp.base_url + path,
            content=content,
            params=params,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=gp._config.timeout,
        )
    same_request(built, expected)
    assert built.headers["X-Extra"] == "kept"


@pytest.mark.anyio
async def test_the_sdks_own_client_sends_without_the_client_layer(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_the_client_layer(monkeypatch)
    async with client(sandbox.url) as gp:
        card = await gp.gift_cards.create(
            title="direct", template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1")
        )
        balance = await gp.gift_cards.balance(key=card.key)
    assert card.key
    assert balance.card_number == card.card_number


@pytest.mark.anyio
async def test_a_direct_send_writes_httpx_request_line(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    async with client(sandbox.url) as gp:
        await gp.gift_cards.list_templates()
        path = gp.gift_cards._paths.templates
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == [f'HTTP Request: GET {sandbox.url}{path} "HTTP/1.1 200 OK"']


@pytest.mark.anyio
async def test_a_callers_client_runs_its_hooks_on_every_send(sandbox: SandboxServer) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    http_client = httpx.AsyncClient(event_hooks={"request": [hook]})
    async with http_client, client(sandbox.url, http_client=http_client) as gp:
        await gp.gift_cards.list_templates()
        path = gp.gift_cards._paths.templates
    assert seen == [path]


@pytest.mark.anyio
async def test_an_instrumented_httpx_send_still_runs_and_its_headers_go_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tracing tools (Sentry's httpx integration, among others) wrap ``AsyncClient.send``
    to add trace headers and record spans: the SDK's own client must still go through it."""
    real_send = httpx.AsyncClient.send
    traced: list[str] = []

    @functools.wraps(real_send)
    async def traced_send(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        request.headers["sentry-trace"] = "trace-1"
        traced.append(request.url.path)
        return await real_send(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", traced_send)
    path, received = await list_templates_on_a_raw_server()
    assert traced == [path]
    assert received[0].headers.get("sentry-trace") == "trace-1"


class TenantClient(httpx.AsyncClient):
    """A caller's client that stamps every request it builds."""

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        request = super().build_request(*args, **kwargs)
        request.headers["X-Tenant"] = "shop-7"
        return request


@pytest.mark.anyio
async def test_a_callers_client_that_overrides_build_request_still_builds() -> None:
    received: list[Request] = []
    with RawServer(answering_templates(received)) as server:
        async with TenantClient() as http_client, client(server.url, http_client=http_client) as gp:
            await gp.gift_cards.list_templates()
    assert received[0].headers.get("x-tenant") == "shop-7"


class ForwardingProxy:
    """A wrapper the way wrapt makes them (ddtrace's httpx integration wraps ``send`` so):
    an object, not a function, that forwards attribute reads, ``__code__`` among them, to
    the function it wraps."""

    def __init__(self, wrapped: Any, seen: list[str]) -> None:
        self._wrapped = wrapped
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:  # read on the class: still the proxy, as wrapt's are
            return self
        wrapped, seen = self._wrapped, self._seen

        def bound(request: httpx.Request, **kwargs: Any) -> Any:
            request.headers["x-datadog-trace-id"] = "1"
            seen.append(request.url.path)
            return wrapped(instance, request, **kwargs)

        return bound


@pytest.mark.anyio
async def test_a_send_wrapped_by_a_forwarding_proxy_still_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traced: list[str] = []
    monkeypatch.setattr(httpx.AsyncClient, "send", ForwardingProxy(httpx.AsyncClient.send, traced))
    path, received = await list_templates_on_a_raw_server()
    assert traced == [path]
    assert received[0].headers.get("x-datadog-trace-id") == "1"


@pytest.mark.anyio
async def test_a_send_patched_on_one_client_still_runs() -> None:
    """A tool may wrap ``send`` on one client object rather than on its class."""
    received: list[Request] = []
    with RawServer(answering_templates(received)) as server:
        async with client(server.url) as gp:
            http_client = gp._http_client
            real_send = http_client.send

            async def traced_send(request: httpx.Request, **kwargs: Any) -> httpx.Response:
                request.headers["traceparent"] = "00-1-2-01"
                return await real_send(request, **kwargs)

            http_client.send = traced_send  # type: ignore[method-assign]
            await gp.gift_cards.list_templates()
    assert received[0].headers.get("traceparent") == "00-1-2-01"
