"""Every operation against every injected fault, on a real HTTP sandbox (uvicorn).

Asserts how many attempts the server saw and what the caller got; for a create, also
how many cards exist afterwards: a create is never silently sent twice.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from gatepay_async import AsyncGatePay, GatePayError, GiftCard
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY
from tests.fault_matrix import MATRIX, OK, Row

READS = ["templates", "query", "balance"]
TEMPLATE_ID = "255267012439183360"


def make_client(server: SandboxServer) -> AsyncGatePay:
    return AsyncGatePay(
        client_id=SANDBOX_CLIENT_ID,
        secret_key=SANDBOX_SECRET_KEY,
        base_url=server.url,
        timeout=0.75,
        max_retries=2,
    )


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
    sandbox: SandboxServer, fast_retries: None, row: Row, operation: str
) -> None:
    async with make_client(sandbox) as gp:
        card = await gp.gift_cards.create(
            title="matrix-read", template_id=TEMPLATE_ID, currency="USDT", amount="2"
        )
        sandbox.sandbox.reset_counters()
        sandbox.sandbox.inject(parse_fault(f"{operation}:{row.spec}"))
        outcome = await outcome_of(gp, operation, card, "unused")
    assert (sandbox.sandbox.attempts(operation), outcome) == (row.read_attempts, row.read_outcome)


@pytest.mark.anyio
@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
async def test_create_under_fault(sandbox: SandboxServer, fast_retries: None, row: Row) -> None:
    title = f"matrix-{uuid.uuid4().hex}"
    sandbox.sandbox.inject(parse_fault(f"create:{row.spec}"))
    async with make_client(sandbox) as gp:
        outcome = await outcome_of(gp, "create", None, title)
    assert (sandbox.sandbox.attempts("create"), outcome) == (
        row.create_attempts,
        row.create_outcome,
    )
    if row.create_cards is not None:
        assert sandbox.sandbox.store.all_titles().count(title) == row.create_cards
