"""10,000 requests at concurrency 100 from one AsyncGatePay to the uvicorn sandbox."""

from __future__ import annotations

import time

import anyio
import pytest

from gatepay_async import AsyncGatePay
from gatepay_async.sandbox import SandboxServer
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY

REQUESTS = 10_000
CONCURRENCY = 100
TIME_LIMIT = 300.0  # seconds: generous for a 2-core CI machine; typical runs are far below


@pytest.mark.load
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_ten_thousand_requests_at_concurrency_100(
    sandbox: SandboxServer, anyio_backend: str
) -> None:
    errors: list[BaseException] = []
    started = time.perf_counter()
    async with AsyncGatePay(
        client_id=SANDBOX_CLIENT_ID, secret_key=SANDBOX_SECRET_KEY, base_url=sandbox.url
    ) as gp:
        card = await gp.gift_cards.create(
            title="load", template_id="255267012439183360", currency="USDT", amount="1"
        )
        nonces_before = len(sandbox.sandbox.nonces_seen)
        counter = iter(range(REQUESTS))

        async def worker() -> None:
            for i in counter:
                try:
                    if i % 2:
                        await gp.gift_cards.query(card_number=card.card_number)
                    else:
                        await gp.gift_cards.balance(key=card.key)
                except Exception as exc:  # collected and asserted on below
                    errors.append(exc)

        with anyio.fail_after(TIME_LIMIT):
            async with anyio.create_task_group() as tg:
                for _ in range(CONCURRENCY):
                    tg.start_soon(worker)
    elapsed = time.perf_counter() - started
    assert errors == []
    nonces = list(sandbox.sandbox.nonces_seen)[nonces_before:]
    # Every attempt is signed afresh: a request that waited past the 10 s window behind a
    # saturated CPU is refused for its timestamp and re-signed once, so a few extra
    # attempts may arrive, each with its own nonce.
    assert len(set(nonces)) == len(nonces)
    assert REQUESTS <= len(nonces) <= REQUESTS * 1.01
    print(f"\n{REQUESTS} requests in {elapsed:.1f} s ({REQUESTS / elapsed:.0f}/s)")
