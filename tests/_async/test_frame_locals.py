"""No frame of a raised error holds a secret where an error tool shows it.

Rich tracebacks with locals, structlog's ``dict_tracebacks``, Sentry's frame variables
and Django's technical 500 page all render every local of every frame, the SDK's own
included. For each operation and each way it can fail (against a loopback server), this
walks every frame of every exception reachable from the error and renders each local
as those tools do: neither the signing secret, the api key nor the card key may show.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gatepay_async import AsyncGatePay, GatePayError, GiftCardStatus
from tests.frame_locals import (
    API_KEY,
    CARD_NUMBER,
    FAILURES,
    KEY,
    OPERATIONS,
    SECRET,
    frames,
    leaked,
    local_renderings,
    responder,
)
from tests.raw_server import RawServer

from .conftest import client_at

client = partial(client_at, secret_key=SECRET, api_key=API_KEY, max_retries=1)


def timeout_for(failure: str) -> float:
    """The client's timeout: short against the server that never answers (it only has to
    run out), long enough against the others for their answer to arrive first."""
    return 0.1 if failure == "timeout" else 0.4


async def call(gp: AsyncGatePay, operation: str) -> Any:
    """``operation`` with its arguments read from module constants: the caller's frame
    holds no key of its own, so what the walk finds is the SDK's."""
    cards = gp.gift_cards
    if operation.startswith("create"):
        order = {"idempotency_key": "order-1"} if "idempotent" in operation else {}
        return await cards.create(
            title="frames",
            template_id="255267012439183360",
            currency="USDT",
            amount=Decimal(1),
            **order,
        )
    if operation == "query_key":
        return await cards.query(key=KEY)
    if operation == "query_card_number":
        return await cards.query(card_number=CARD_NUMBER)
    if operation == "balance_key":
        return await cards.balance(key=KEY)
    if operation == "balance_card_number":
        return await cards.balance(card_number=CARD_NUMBER)
    if operation == "wait_for_status_key":
        return await cards.wait_for_status(key=KEY, statuses=[GiftCardStatus.REDEEMED], timeout=5)
    if operation == "merchant_balance":
        return await cards.merchant_balance()
    assert operation == "list_templates"
    return await cards.list_templates()


async def raised_by(operation: str, failure: str, ledger: Path) -> GatePayError:
    """The error ``operation`` raises against a server failing as ``failure`` says."""
    with RawServer(responder(failure)) as server:
        async with client(
            server.url, ledger=f"sqlite:///{ledger}", timeout=timeout_for(failure)
        ) as gp:
            if operation == "create_idempotent_again":
                with pytest.raises(GatePayError):
                    await call(gp, operation)  # the first: unknown, recorded in the ledger
            try:
                await call(gp, operation)
            except GatePayError as exc:
                return exc
    raise AssertionError(f"{operation} did not fail against {failure!r}")


@pytest.mark.anyio
@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_no_frame_local_shows_a_secret(operation: str, failure: str, tmp_path: Path) -> None:
    error = await raised_by(operation, failure, tmp_path / "ledger.db")
    found = []
    walked = 0
    for where, variables in frames(error):
        walked += 1
        for name, value in variables.items():
            for text in local_renderings(value):
                if leaked(text):
                    found.append(f"{where}: {name} = {text[:300]}")
                    break
    assert walked > 3  # the SDK's own frames were walked, not just the caller's
    assert not found, "\n".join(found)
