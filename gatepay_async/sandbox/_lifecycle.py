"""The card holder's and GatePay's side of a card's life, as pure changes to a stored Card.

GatePay offers merchants no call that changes a card after issuance: holders redeem and
gift cards in Gate's own app, and GatePay itself freezes, expires, cancels and reviews
them. A merchant only sees the result through query and balance. These functions play
those actions so tests can make every such result appear.

Each takes the card and its status now, and returns the changed card, or raises
:class:`TransitionRefused` when a real card in that status could not go through it
(a holder cannot redeem a card that is frozen, unpaid or already redeemed).
``set_status`` is the escape hatch: any status, nothing else changed, no checks.
"""

from __future__ import annotations

import attrs

from gatepay_async._models import GiftCardStatus
from gatepay_async.sandbox._cards import Card

__all__ = [
    "ACTIONS",
    "DEFAULT_REDEEMER_UID",
    "CardNotFound",
    "TransitionRefused",
    "apply",
    "card_state",
]

#: The uid a ``redeem`` without ``uid`` records as the redeemer.
DEFAULT_REDEEMER_UID = 20001

#: Actions and the statuses a card must be in for each (``None``: any status).
_ALLOWED_FROM: dict[str, frozenset[GiftCardStatus] | None] = {
    "redeem": frozenset({GiftCardStatus.NOT_REDEEMED}),
    "gift": frozenset({GiftCardStatus.NOT_REDEEMED}),
    "freeze": frozenset(
        {
            GiftCardStatus.PENDING_PAYMENT,
            GiftCardStatus.NOT_REDEEMED,
            GiftCardStatus.MANUAL_REVIEW,
        }
    ),
    "expire": frozenset({GiftCardStatus.NOT_REDEEMED, GiftCardStatus.FROZEN}),
    "cancel": frozenset(
        {
            GiftCardStatus.PENDING_PAYMENT,
            GiftCardStatus.NOT_REDEEMED,
            GiftCardStatus.FROZEN,
            GiftCardStatus.MANUAL_REVIEW,
        }
    ),
    "set_status": None,
}
ACTIONS: tuple[str, ...] = tuple(_ALLOWED_FROM)


class CardNotFound(LookupError):
    """No card with that number in the sandbox."""


class TransitionRefused(ValueError):
    """The card's status does not allow the action (a real card could not go through it)."""


def apply(
    action: str,
    card: Card,
    current: GiftCardStatus,
    now_ms: int,
    *,
    uid: int | None = None,
    status: GiftCardStatus | None = None,
) -> Card:
    """``card`` after ``action`` at ``now_ms`` (``uid``: redeem, gift; ``status``: set_status)."""
    if action not in _ALLOWED_FROM:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0):
        raise ValueError(f"uid must be a positive integer, got {uid!r}")
    allowed = _ALLOWED_FROM[action]
    if allowed is not None and current not in allowed:
        wanted = " or ".join(sorted(s.name for s in allowed))
        raise TransitionRefused(
            f"cannot {action} card {card.card_num}: its status is {current.name}, "
            f"{action} needs {wanted} (use set_status to force any status)"
        )
    if action == "redeem":
        return attrs.evolve(
            card,
            status=GiftCardStatus.REDEEMED.name,
            exchange_uid=DEFAULT_REDEEMER_UID if uid is None else uid,
            exchange_time=now_ms,
            balance="0",
        )
    if action == "gift":
        if uid is None:
            raise ValueError("gift needs the uid of the new owner")
        if uid == card.owner:
            raise TransitionRefused(f"cannot gift card {card.card_num} to its owner {uid}")
        # The card leaves the timeline (a scripted later step would undo the gift).
        return attrs.evolve(
            card,
            status=current.name,
            owner=uid,
            give_count=card.give_count + 1,
            last_give_time=now_ms,
        )
    if action == "set_status":
        if status is None:
            raise ValueError("set_status needs a status")
        return attrs.evolve(card, status=status.name)
    target = {
        "freeze": GiftCardStatus.FROZEN,
        "expire": GiftCardStatus.EXPIRED,
        "cancel": GiftCardStatus.CANCELLED,
    }[action]
    return attrs.evolve(card, status=target.name)


def card_state(card: Card, status: GiftCardStatus) -> dict[str, object]:
    """What the admin endpoints and the command line show of a card: never its key."""
    return {
        "card_number": card.card_num,
        "status": status.name,
        "status_code": status.value,
        "amount": card.amount,
        "balance": card.amount if card.balance is None else card.balance,
        "currency": card.currency,
        "owner": card.owner,
        "exchange_uid": card.exchange_uid,
        "exchange_time": card.exchange_time,
        "give_count": card.give_count,
        "last_give_time": card.last_give_time,
        "scope": card.scope,
    }
