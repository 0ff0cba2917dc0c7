"""Mocks always mock, on the fast asyncio transport too (``DefaultAioHttpClient``).

respx (both modes) and pytest-httpx answer its requests as they answer the default
client's: while httpx's transport or httpcore is replaced, it sends through httpx's
transport. Before, respx's default mode and pytest-httpx never saw them: aiohttp sent
them to the server. The client's ``base_url`` is a real sandbox on 127.0.0.1, which must
receive nothing while a mock is on.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import wrapt

from gatepay_async import AsyncGatePay, CardSpec, DefaultAioHttpClient
from gatepay_async._http.aiohttp_transport import AioHttpTransport
from gatepay_async.sandbox._fixture import GatePaySandbox
from tests._async.test_mocking_tools import (
    MOCK_CARD_NUMBER,
    MOCK_FUNDS,
    MOCK_TEMPLATE_ID,
    MockedGatePay,
    assert_nothing_reached,
)

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

TOOLS = ["respx", "respx-httpx", "pytest-httpx"]


@contextlib.contextmanager
def mocking(tool: str, gatepay: MockedGatePay, request: pytest.FixtureRequest) -> Iterator[None]:
    if tool in ("respx", "respx-httpx"):
        with respx.mock(using="httpcore" if tool == "respx" else "httpx") as router:
            router.route().mock(side_effect=gatepay)
            yield
    else:
        assert tool == "pytest-httpx"
        request.getfixturevalue("httpx_mock").add_callback(gatepay, is_reusable=True)
        yield


def aiohttp_gatepay(sandbox: GatePaySandbox, **options: Any) -> AsyncGatePay:
    return AsyncGatePay(
        client_id=sandbox.client_id,
        secret_key=sandbox.secret_key,
        base_url=sandbox.base_url,
        max_retries=0,
        **options,
    )


@pytest.mark.parametrize("tool", TOOLS)
async def test_the_aiohttp_transport_is_answered_by_the_mock_and_nothing_reaches_gatepay(
    tool: str, gatepay_sandbox: GatePaySandbox, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    gatepay = MockedGatePay()
    specs = [CardSpec(f"row-{i}", "Mocked", MOCK_TEMPLATE_ID, "USDT", "1") for i in range(2)]
    with mocking(tool, gatepay, request):
        async with (
            DefaultAioHttpClient() as http_client,
            aiohttp_gatepay(gatepay_sandbox, http_client=http_client) as gp,
        ):
            templates = await gp.gift_cards.list_templates()
            card = await gp.gift_cards.create(
                title="Mocked", template_id=MOCK_TEMPLATE_ID, currency="USDT", amount="1"
            )
            balance = await gp.gift_cards.balance(key="MOCKEDKEY")
            funds = await gp.gift_cards.merchant_balance()
            async with gp.gift_cards.create_many(specs, journal=tmp_path / "run.jsonl") as run:
                bulk = [result async for result in run]
    assert [template.template_id for template in templates] == [MOCK_TEMPLATE_ID]
    assert card.card_number == "MOCKED0000000001"
    assert balance.card_number == MOCK_CARD_NUMBER
    assert balance.amount == Decimal("2.72")
    assert funds.balances == MOCK_FUNDS
    assert sorted(result.card.card_number for result in bulk if result.card) == [
        "MOCKED0000000002",
        "MOCKED0000000003",
    ]
    assert gatepay.requests == 6
    assert_nothing_reached(gatepay_sandbox)


async def test_the_aiohttp_transport_sends_through_aiohttp_once_the_mock_is_off(
    gatepay_sandbox: GatePaySandbox,
) -> None:
    """The detour through httpx's transport lasts as long as the mock: afterwards the same
    client reaches the server through aiohttp again."""
    gatepay = MockedGatePay()
    async with (
        DefaultAioHttpClient() as http_client,
        aiohttp_gatepay(gatepay_sandbox, http_client=http_client) as gp,
    ):
        transport = http_client._transport
        assert isinstance(transport, AioHttpTransport)
        with respx.mock() as router:
            router.route().mock(side_effect=gatepay)
            mocked = await gp.gift_cards.list_templates()
        assert transport._session is None  # aiohttp not used while mocked
        real = await gp.gift_cards.list_templates()
        assert transport._session is not None
    assert [template.template_id for template in mocked] == [MOCK_TEMPLATE_ID]
    assert real
    assert MOCK_TEMPLATE_ID not in [template.template_id for template in real]
    assert gatepay_sandbox.attempts("templates") == 1


def wrap_calling_through(kind: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap httpx's transport as a tracing tool does: the wrapper calls the original.
    ``kind`` is how: ``functools.wraps`` or a wrapt ``FunctionWrapper`` (OpenTelemetry's
    httpx instrumentation and ddtrace wrap with wrapt)."""
    calls: list[str] = []
    original = httpx.AsyncHTTPTransport.handle_async_request

    if kind == "functools":

        @functools.wraps(original)
        async def traced(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> Any:
            calls.append(str(request.url.path))
            return await original(self, request)

        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", traced)
    else:

        async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            calls.append(str(args[0].url.path))
            return await wrapped(*args, **kwargs)

        wrapped = wrapt.FunctionWrapper(original, wrapper)
        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", wrapped)
    return calls


@pytest.mark.parametrize("kind", ["functools", "wrapt"])
async def test_a_tracer_wrapping_httpxs_transport_leaves_the_aiohttp_transport_on_aiohttp(
    kind: str, gatepay_sandbox: GatePaySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrapper that calls the original is a tracer, not a mock: requests of
    ``DefaultAioHttpClient`` still go through aiohttp (and reach the server), and a plain
    httpx client's still pass the wrapper."""
    calls = wrap_calling_through(kind, monkeypatch)
    async with (
        DefaultAioHttpClient() as http_client,
        aiohttp_gatepay(gatepay_sandbox, http_client=http_client) as gp,
    ):
        transport = http_client._transport
        assert isinstance(transport, AioHttpTransport)
        templates = await gp.gift_cards.list_templates()
        assert transport._session is not None  # sent through aiohttp
        assert transport._httpx_transport is None
    assert templates
    assert calls == []
    assert gatepay_sandbox.attempts("templates") == 1
    async with aiohttp_gatepay(gatepay_sandbox) as plain:
        await plain.gift_cards.list_templates()
    assert len(calls) == 1  # the plain client still passes the tracer
