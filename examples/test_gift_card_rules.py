"""Testing your own gift-card rules against a local GatePay: the ``gatepay_sandbox``
fixture (``pip install 'gatepay[sandbox]' pytest``; registered automatically).

    pytest examples/test_gift_card_rules.py      # or: python examples/test_gift_card_rules.py
"""

from __future__ import annotations

import sys

import pytest

from gatepay_async.sandbox import GatePaySandbox
from gatepay_sync import GatePay, GiftCardStatus


def can_refund(gp: GatePay, card_number: str) -> bool:
    """The code under test: refund only a card nobody has used or passed on."""
    card = gp.gift_cards.query(card_number=card_number)
    return card.status is GiftCardStatus.NOT_REDEEMED and card.give_count == 0


def issue(gp: GatePay) -> str:
    card = gp.gift_cards.create(
        title="Order 42", template_id="255267012439183360", currency="USDT", amount="10"
    )
    return card.card_number


def test_an_unused_card_can_be_refunded(gatepay_sandbox: GatePaySandbox) -> None:
    gp = gatepay_sandbox.client()
    assert can_refund(gp, issue(gp))


def test_a_redeemed_card_cannot(gatepay_sandbox: GatePaySandbox) -> None:
    gp = gatepay_sandbox.client()
    number = issue(gp)
    gatepay_sandbox.redeem(number)
    assert not can_refund(gp, number)


def test_a_gifted_card_cannot(gatepay_sandbox: GatePaySandbox) -> None:
    gp = gatepay_sandbox.client()
    number = issue(gp)
    gatepay_sandbox.gift(number, to_uid=424242)
    assert not can_refund(gp, number)


@pytest.mark.parametrize("action", ["freeze", "expire", "cancel"])
def test_a_blocked_card_cannot(gatepay_sandbox: GatePaySandbox, action: str) -> None:
    gp = gatepay_sandbox.client()
    number = issue(gp)
    getattr(gatepay_sandbox, action)(number)
    assert not can_refund(gp, number)


def test_a_503_is_retried(gatepay_sandbox: GatePaySandbox) -> None:
    gatepay_sandbox.inject("query:status=503,times=1")
    gp = gatepay_sandbox.client()
    assert can_refund(gp, issue(gp))
    assert gatepay_sandbox.attempts("query") == 2


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
