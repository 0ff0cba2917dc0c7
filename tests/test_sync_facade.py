"""Behaviour only the sync facade has: threads, and no event loop of its own."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from gatepay_async.sandbox import SandboxServer
from gatepay_sync import GiftCard
from tests._sync.conftest import client_at

TEMPLATE_ID = "255267012439183360"


def test_one_client_shared_by_8_threads_making_200_calls(sandbox: SandboxServer) -> None:
    with client_at(sandbox.url) as gp:
        card = gp.gift_cards.create(
            title="threads", template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
        nonces_before = len(sandbox.sandbox.nonces_seen)

        def call(i: int) -> GiftCard:
            if i % 2:
                return gp.gift_cards.query(card_number=card.card_number)
            return gp.gift_cards.query(key=card.key)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, range(200)))
    assert len(results) == 200
    assert {r.card_number for r in results} == {card.card_number}
    assert sandbox.sandbox.attempts("query") == 200
    nonces = list(sandbox.sandbox.nonces_seen)[nonces_before:]
    assert len(nonces) == 200
    assert len(set(nonces)) == 200


def test_sync_client_works_inside_a_running_event_loop(sandbox: SandboxServer) -> None:
    """A notebook cell or a sync view in an async server: a loop runs in this thread."""

    async def handler_running_in_a_loop() -> list[str]:
        with client_at(sandbox.url) as gp:
            return [t.template_id for t in gp.gift_cards.list_templates()]

    assert TEMPLATE_ID in asyncio.run(handler_running_in_a_loop())
