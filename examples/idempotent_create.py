"""Exactly one card per order, however often the "order paid" step runs.

A ledger (an SQLite file here; a ``postgresql://`` URL for a fleet of hosts) records each
idempotency key's intent before the create is sent and the card after. The second call
with the same key gets the stored card and sends nothing.

    export GATEPAY_BASE_URL=... GATEPAY_CLIENT_ID=... GATEPAY_SECRET_KEY=...
    python examples/idempotent_create.py [ORDER_ID]
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from gatepay_sync import GatePay, OutcomeUnknownError

LEDGER = os.environ.get("GATEPAY_LEDGER", "sqlite:///gift-card-ledger.db")


def issue_for_order(gp: GatePay, order_id: str, amount: Decimal) -> str:
    """The order's card number, or "pending" when its outcome is not known yet."""
    try:
        card = gp.gift_cards.create(
            title=f"Order {order_id}",
            template_id="255267012439183360",
            currency="USDT",
            amount=amount,
            idempotency_key=f"order-{order_id}",
        )
    except OutcomeUnknownError:
        # In flight elsewhere, or an earlier attempt ended in doubt: never resent on its
        # own. Check GatePay's records, then Ledger(LEDGER).release(key) if there is none.
        return "pending"
    return card.card_number


def main(order_id: str) -> int:
    with GatePay(ledger=LEDGER) as gp:
        first = issue_for_order(gp, order_id, Decimal("25"))
        again = issue_for_order(gp, order_id, Decimal("25"))  # a redelivered event
    print(f"order {order_id}: card {first}")
    print(f"order {order_id} again: card {again} (the same card: {first == again})")
    return 0 if first == again != "pending" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "1001"))
