"""Every operation against every injected fault, on a real HTTP sandbox (uvicorn).

Asserts how many attempts the server saw and what the caller got; for a create, also
how many cards exist afterwards: a create is never silently sent twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import partial

import httpx
import pytest

from gatepay_async import AsyncGatePay, GatePayError, GiftCard
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests.fault_matrix import MATRIX, OK, Row
from tests.http_clients import ASYNC_HTTP_CLIENTS, ASYNCIO_ONLY

from .conftest import client_at

READS = ["templates", "query", "balance"]
TEMPLATE_ID = "255267012439183360"


HttpClientFactory = Callable[[], httpx.AsyncClient | None]


@pytest.fixture(params=sorted(ASYNC_HTTP_CLIENTS))
def http_client_factory(request: pytest.FixtureRequest) -> HttpClientFactory:
    """Every row runs on each transport: the default one and the fast asyncio one."""
    name = str(request.param)
    if name in ASYNCIO_ONLY and request.getfixturevalue("anyio_backend") != "asyncio":
        pytest.skip(f"the {name} transport runs on asyncio only")
    return ASYNC_HTTP_CLIENTS[name]


make_client = partial(client_at, timeout=0.75, max_retries=2)


async def call(gp: AsyncGatePay, operation: str, card: GiftCard | None, title: str) -> object:
    if operation == "create":
        return await gp.gift_cards.create(
            title=title, template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1.25")
        )
    assert card is not None
    if operation == "query":
        return await gp.gift_cards.query(card_number=card.card_number)
    if operation == "balance":
        return await gp.gift_cards.balance(key=card.key)
    return await gp.gift_cards.list_templates()


async def outcome_of(gp: AsyncGatePay, operation: str, card: GiftCard | None, title: str) -> str:
    try:
        await call(gp, operation, card, title)
    except GatePayError as exc:
        return type(exc).__name__
    return OK


@pytest.mark.anyio
@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
@pytest.mark.parametrize("operation", READS)
async def test_read_under_fault(
    sandbox: SandboxServer,
    fast_retries: None,
    row: Row,
    operation: str,
    http_client_factory: HttpClientFactory,
) -> None:
    http_client = http_client_factory()
    async with make_client(sandbox.url, http_client=http_client) as gp:
        card = await gp.gift_cards.create(
            title="matrix-read", template_id=TEMPLATE_ID, currency="USDT", amount="2"
        )
        sandbox.sandbox.reset_counters()
        sandbox.sandbox.inject(parse_fault(f"{operation}:{row.spec}"))
        outcome = await outcome_of(gp, operation, card, "unused")
    if http_client is not None:
        await http_client.aclose()
    assert (sandbox.sandbox.attempts(operation), outcome) == (row.read_attempts, row.read_outcome)


@pytest.mark.anyio
@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
async def test_create_under_fault(
    sandbox: SandboxServer, fast_retries: None, row: Row, http_client_factory: HttpClientFactory
) -> None:
    title = f"matrix-{uuid.uuid4().hex}"
    sandbox.sandbox.inject(parse_fault(f"create:{row.spec}"))
    http_client = http_client_factory()
    async with make_client(sandbox.url, http_client=http_client) as gp:
        outcome = await outcome_of(gp, "create", None, title)
    if http_client is not None:
        await http_client.aclose()
    assert (sandbox.sandbox.attempts("create"), outcome) == (
        row.create_attempts,
        row.create_outcome,
    )
    if row.create_cards is not None:
        assert sandbox.sandbox.store.all_titles().count(title) == row.create_cards
