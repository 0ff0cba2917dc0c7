"""An asyncio web service (FastAPI): one AsyncGatePay for the app's whole life.

The client is opened in the lifespan and shared by every request: it holds one
connection pool. Orders get their card through an idempotency key and a ledger, so a
retried request or a double click never issues a second card.

    pip install 'gatepay[postgres]' fastapi uvicorn   # postgres only for a shared ledger
    export GATEPAY_BASE_URL=... GATEPAY_CLIENT_ID=... GATEPAY_SECRET_KEY=...
    python examples/web_service.py          # serves on 127.0.0.1:8000 (PORT to change)
    curl --json '{"amount": "25"}' 127.0.0.1:8000/orders/1001/gift-card
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gatepay_async import AsyncGatePay, OutcomeUnknownError, ValidationError

LEDGER = os.environ.get("GATEPAY_LEDGER", "sqlite:///gift-card-ledger.db")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncGatePay(ledger=LEDGER) as gp:  # credentials from the environment
        app.state.gatepay = gp
        yield
    print("gatepay client closed")


app = FastAPI(lifespan=lifespan)


class GiftCardOrder(BaseModel):
    amount: Decimal


@app.get("/templates")
async def templates(request: Request) -> list[str]:
    gp: AsyncGatePay = request.app.state.gatepay
    return [template.template_id for template in await gp.gift_cards.list_templates()]


@app.post("/orders/{order_id}/gift-card", response_model=None)
async def gift_card(
    order_id: str, order: GiftCardOrder, request: Request
) -> dict[str, str] | JSONResponse:
    gp: AsyncGatePay = request.app.state.gatepay
    try:
        card = await gp.gift_cards.create(
            title=f"Order {order_id}",
            template_id="255267012439183360",
            currency="USDT",
            amount=order.amount,
            idempotency_key=f"order-{order_id}",
        )
    except ValidationError as exc:  # a bad amount, or the key reused for another order
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except OutcomeUnknownError:
        # A card may exist: never resent on its own. Tell the caller to come back later.
        return JSONResponse({"order": order_id, "status": "pending"}, status_code=202)
    # The key is the card holder's secret: hand it to them, never to a log.
    return {"order": order_id, "card_number": card.card_number, "status": card.status.name}


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    uvicorn.run(app, host="127.0.0.1", port=port)
