"""Mocks always mock: the HTTP mocking tools merchants use answer every request the SDK
sends, and none reaches the network.

Each tool (respx in both its modes, pytest-httpx, ``httpx.MockTransport``) answers from
a fake GatePay (``MockedGatePay``) whose cards, templates and balances no real server
has; the client's ``base_url`` is a real sandbox served on 127.0.0.1, which must receive
nothing. Before the direct send checked for replaced client methods, respx's
``using="httpx"`` mode was stepped around: every "mocked" create issued a real card.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from gatepay_async import AsyncGatePay, CardSpec, GiftCardStatus
from gatepay_async._http.patches import CLIENT_SEND_PATH
from gatepay_async.sandbox._fixture import GatePaySandbox
from tests import helpers

TOOLS = ["respx", "respx-httpx", "pytest-httpx", "MockTransport"]
MOCK_TEMPLATE_ID = "999000111222333444"
MOCK_CARD_NUMBER = "MOCKED0000000001"
#: The merchant's funds as the fake GatePay reports them; the sandbox reports others.
MOCK_FUNDS = {"USDT": Decimal("31.41")}


class MockedGatePay:
    """GatePay's answers, made up: a card number never seen twice, a template and
    balances no sandbox has. Counts the requests it answered."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path
        if path.endswith("/gift/temp/list"):
            return helpers.success([{"templateId": MOCK_TEMPLATE_ID, "templateName": "Mocked"}])
        if path.endswith("/gift/create"):
            number = f"MOCKED{next(self._numbers):010d}"
            return helpers.success(helpers.card_data(card_num=number, status=1))
        if path.endswith("/gift/query"):
            return helpers.success(helpers.card_data(card_num=MOCK_CARD_NUMBER, status=2))
        assert path.endswith("/pay/balance"), path
        if request.url.params:  # a card's balance
            return helpers.success(
                {"cardNumber": MOCK_CARD_NUMBER, "currency": "USDT", "amount": "2.72"}
            )
        return helpers.success({currency: str(amount) for currency, amount in MOCK_FUNDS.items()})


@contextlib.contextmanager
def mocking(
    tool: str, gatepay: MockedGatePay, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """``tool`` on, answering with ``gatepay``; yields the client arguments it needs."""
    if tool in ("respx", "respx-httpx"):
        using = "httpcore" if tool == "respx" else "httpx"  # respx's default is httpcore
        with respx.mock(using=using) as router:
            router.route().mock(side_effect=gatepay)
            yield {}
    elif tool == "pytest-httpx":
        httpx_mock = request.getfixturevalue("httpx_mock")
        httpx_mock.add_callback(gatepay, is_reusable=True)
        yield {}
    else:
        assert tool == "MockTransport"
        # The caller's client, as a merchant's test passes it (it holds no connection).
        yield {"http_client": httpx.AsyncClient(transport=httpx.MockTransport(gatepay))}


def gatepay_at(sandbox: GatePaySandbox, **options: Any) -> AsyncGatePay:
    return AsyncGatePay(
        client_id=sandbox.client_id,
        secret_key=sandbox.secret_key,
        base_url=sandbox.base_url,
        max_retries=0,
        **options,
    )


def assert_nothing_reached(sandbox: GatePaySandbox) -> None:
    assert sandbox.attempts("*") == 0
    assert sandbox.sandbox.nonces_seen == []


async def create(gp: AsyncGatePay, **options: Any) -> Any:
    return await gp.gift_cards.create(
        title="Mocked", template_id=MOCK_TEMPLATE_ID, currency="USDT", amount="1", **options
    )


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_every_operation_is_answered_by_the_mock_and_nothing_reaches_gatepay(
    tool: str, gatepay_sandbox: GatePaySandbox, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    gatepay = MockedGatePay()
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    specs = [CardSpec(f"row-{i}", "Mocked", MOCK_TEMPLATE_ID, "USDT", "1") for i in range(3)]
    with mocking(tool, gatepay, request) as options:
        async with gatepay_at(gatepay_sandbox, ledger=ledger, **options) as gp:
            templates = await gp.gift_cards.list_templates()
            card = await create(gp)
            once = await create(gp, idempotency_key="order-1")
            again = await create(gp, idempotency_key="order-1")  # the ledger's, unsent
            queried = await gp.gift_cards.query(card_number=MOCK_CARD_NUMBER)
            balance = await gp.gift_cards.balance(card_number=MOCK_CARD_NUMBER)
            funds = await gp.gift_cards.merchant_balance()
            waited = await gp.gift_cards.wait_for_status(
                card_number=MOCK_CARD_NUMBER,
                statuses=GiftCardStatus.NOT_REDEEMED,
                timeout=5.0,
                interval=0.01,
            )
            async with gp.gift_cards.create_many(specs, journal=tmp_path / "run.jsonl") as run:
                bulk = [result async for result in run]

    assert [template.template_id for template in templates] == [MOCK_TEMPLATE_ID]
    assert card.card_number == "MOCKED0000000001"
    assert once.card_number == again.card_number == "MOCKED0000000002"
    assert queried.card_number == waited.card_number == MOCK_CARD_NUMBER
    assert waited.status is GiftCardStatus.NOT_REDEEMED
    assert balance.amount == Decimal("2.72")
    assert funds.balances == MOCK_FUNDS
    assert sorted(result.state for result in bulk) == ["issued"] * 3
    assert sorted(result.card.card_number for result in bulk if result.card) == [
        f"MOCKED{n:010d}" for n in (3, 4, 5)
    ]
    # templates, 2 creates, query, balance, funds, one poll, 3 bulk creates
    assert gatepay.requests == 10
    assert_nothing_reached(gatepay_sandbox)


@pytest.mark.anyio
@pytest.mark.parametrize("tool", ["respx", "respx-httpx", "pytest-httpx"])
async def test_a_mock_applies_from_the_moment_it_starts_to_a_client_already_sending(
    tool: str, gatepay_sandbox: GatePaySandbox, request: pytest.FixtureRequest
) -> None:
    gatepay = MockedGatePay()
    async with gatepay_at(gatepay_sandbox) as gp:
        before = await gp.gift_cards.list_templates()  # real: the pools are made and warm
        with mocking(tool, gatepay, request):
            mocked = await gp.gift_cards.list_templates()
        after = await gp.gift_cards.list_templates()  # pytest-httpx stays on to the end
    assert MOCK_TEMPLATE_ID not in [template.template_id for template in before]
    assert [template.template_id for template in mocked] == [MOCK_TEMPLATE_ID]
    mocked_after = [template.template_id for template in after] == [MOCK_TEMPLATE_ID]
    assert mocked_after == (tool == "pytest-httpx")
    assert gatepay_sandbox.attempts("templates") == (1 if mocked_after else 2)


@pytest.mark.anyio
@pytest.mark.parametrize("method", CLIENT_SEND_PATH)
async def test_any_client_method_a_tool_replaced_on_the_way_to_the_transport_runs(
    method: str, gatepay_sandbox: GatePaySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever one a tool replaces (respx ``_transport_for_url``, vcrpy
    ``_send_single_request``, tracing tools ``send``), the direct send steps aside."""
    original = getattr(httpx.AsyncClient, method)
    calls: list[str] = []

    def replacement(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, method, replacement)
    async with gatepay_at(gatepay_sandbox) as gp:
        templates = await gp.gift_cards.list_templates()
    assert templates
    assert calls == [method]
