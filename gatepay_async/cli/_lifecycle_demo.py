"""The demo's lifecycle part: what card holders and GatePay do, as the merchant sees it.

GatePay sends no callbacks; a merchant learns that a card was redeemed, gifted on or
frozen only by querying it. The demo plays those actions on the sandbox and shows the
query and balance answers that follow.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from gatepay_async import AsyncGatePay, GiftCard, GiftCardStatus

__all__ = ["show_lifecycle"]

GIFT_RECIPIENT_UID = 424242


async def show_lifecycle(
    gp: AsyncGatePay, sandbox: Any, console: Console, template_id: str
) -> list[GiftCard]:
    """Issue four cards, then: one redeemed, one gifted on, one frozen, one left alone;
    print what query and balance answer for each. Returns the queried cards."""
    cards = [
        await gp.gift_cards.create(
            title=f"Lifecycle {n}", template_id=template_id, currency="USDT", amount=Decimal(10)
        )
        for n in range(1, 5)
    ]
    for card in cards:
        await gp.gift_cards.wait_for_status(
            card_number=card.card_number,
            statuses=[GiftCardStatus.NOT_REDEEMED],
            timeout=10,
            interval=0.2,
        )
    what = ["redeemed", "gifted on", "frozen", "none"]
    sandbox.redeem(cards[0].card_number)
    sandbox.gift(cards[1].card_number, GIFT_RECIPIENT_UID)
    sandbox.freeze(cards[2].card_number)

    table = Table(
        title="Lifecycle: what the merchant sees through query and balance",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    for column in ("action", "card", "status", "owner", "gifts", "redeemer", "balance"):
        table.add_column(column, no_wrap=True)
    seen = []
    for card, happened in zip(cards, what, strict=True):
        now = await gp.gift_cards.query(card_number=card.card_number)
        balance = await gp.gift_cards.balance(card_number=card.card_number)
        seen.append(now)
        table.add_row(
            happened,
            now.card_number,
            now.status.name,
            # A query shows the owner and gift count only once the card was gifted on.
            str(now.owner if now.owner is not None else "-"),
            str(now.give_count or 0),
            str(now.exchange_uid or "-"),
            f"{balance.amount} {balance.currency}",
        )
    console.print(table)
    console.print(
        "Other statuses a merchant may meet: "
        + ", ".join(
            s.name
            for s in GiftCardStatus
            if s not in {c.status for c in seen} and s is not GiftCardStatus.CREATED
        )
        + " (try `gatepay sandbox-admin set-status` or `--script`)."
    )
    return seen
