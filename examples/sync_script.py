"""A plain script: list the templates, issue one card, wait until it can be handed out.

Run against the sandbox (``gatepay sandbox`` prints the line to export) or GatePay:

    export GATEPAY_BASE_URL=... GATEPAY_CLIENT_ID=... GATEPAY_SECRET_KEY=...
    python examples/sync_script.py
"""

from __future__ import annotations

from decimal import Decimal

from gatepay_sync import GatePay, GiftCardStatus, OutcomeUnknownError


def main() -> int:
    with GatePay() as gp:  # GATEPAY_CLIENT_ID, GATEPAY_SECRET_KEY, GATEPAY_BASE_URL
        templates = gp.gift_cards.list_templates()
        print(f"{len(templates)} templates; using {templates[0].template_id}")
        try:
            card = gp.gift_cards.create(
                title="Welcome gift",
                template_id=templates[0].template_id,
                currency="USDT",
                amount=Decimal("5"),
            )
        except OutcomeUnknownError as exc:
            # The create may have reached GatePay: it was not resent. Check the merchant
            # records before trying again, or a second card may be issued.
            print("outcome unknown, not resent:", exc)
            return 3
        print("issued", card.card_number, card.status.name)  # the key is a secret: store it
        card = gp.gift_cards.wait_for_status(
            card_number=card.card_number, statuses={GiftCardStatus.NOT_REDEEMED}, timeout=60
        )
        print("ready", card.card_number, card.status.name)
        balance = gp.gift_cards.balance(card_number=card.card_number)
        print("balance", balance.amount, balance.currency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
