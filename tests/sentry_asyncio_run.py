"""Sentry's AsyncioIntegration around creates the caller handles: prints one JSON line,
``{"caught": [...], "events": [...]}``.

Run as a process of its own (``python -m tests.sentry_asyncio_run``) by
``tests/test_sentry_asyncio.py``: ``sentry_sdk.init`` patches the process for good. As
Sentry's documentation says, the integration is set up inside the running event loop,
whose task factory it wraps: an exception that leaves any task becomes an event marked
unhandled, whether or not the code awaiting the task catches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.asyncio import AsyncioIntegration

from gatepay_async import AsyncGatePay, GatePayError
from tests.frame_locals import API_KEY, SECRET, leaked, responder
from tests.raw_server import RawServer
from tests.sentry_capture import KeepEnvelopes

__all__ = ["main"]


async def _merchant_task_fails() -> None:
    raise RuntimeError("the merchant's own task failed")


async def _run(folder: Path) -> list[str]:
    caught = []
    with RawServer(responder("connection lost")) as server:
        async with AsyncGatePay(
            client_id="sentry",
            secret_key=SECRET,
            api_key=API_KEY,
            base_url=server.url,
            timeout=0.5,
            max_retries=0,
            ledger=f"sqlite:///{folder / 'ledger.db'}",
        ) as gp:
            for amount, order in ((Decimal(1), "order-1"), (Decimal(1), "order-1"), (0, "o-2")):
                try:
                    await gp.gift_cards.create(
                        title="sentry",
                        template_id="255267012439183360",
                        currency="USDT",
                        amount=amount,
                        idempotency_key=order,
                    )
                except GatePayError as exc:  # handled: the merchant's code deals with it
                    caught.append(type(exc).__name__)
    # The integration is on: an error that leaves a task of the merchant's is reported.
    with contextlib.suppress(RuntimeError):
        await asyncio.create_task(_merchant_task_fails())
    return caught


async def _main() -> dict[str, Any]:
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:1/1",
        transport=KeepEnvelopes,
        integrations=[AsyncioIntegration()],
    )
    with tempfile.TemporaryDirectory() as folder:
        caught = await _run(Path(folder))
    sentry_sdk.flush()
    events = [
        item.payload.json
        for envelope in KeepEnvelopes.envelopes
        for item in envelope.items
        if item.type == "event"
    ]
    reported = [
        value["type"]
        for event in events
        if event
        for value in event.get("exception", {}).get("values", [])
    ]
    return {"caught": caught, "reported": reported, "leaked": leaked(json.dumps(events))}


def main() -> None:
    print(json.dumps(asyncio.run(_main())), flush=True)
    sentry_sdk.get_client().close()


if __name__ == "__main__":
    main()
