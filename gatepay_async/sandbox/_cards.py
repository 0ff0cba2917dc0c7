"""Gift cards: the stored record, new numbers and keys, the templates, and the answer shapes."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import attrs

from gatepay_async._models import GiftCardStatus

__all__ = [
    "LEGACY_TEMPLATES",
    "STATUS_NOT_REDEEMED",
    "STATUS_PENDING_PAYMENT",
    "TEMPLATES",
    "TEMPLATE_IDS",
    "Card",
    "balance_data",
    "create_data",
    "legacy_card_data",
    "legacy_status",
    "new_card_key",
    "new_card_number",
    "query_data",
    "status_at",
    "wire_status",
]

STATUS_PENDING_PAYMENT = 1
STATUS_NOT_REDEEMED = 2

_CARD_NUMBER_LOW = 10**15  # 16 digits, no leading zero
_CARD_NUMBER_SPAN = 9 * 10**15


@attrs.frozen
class Card:
    """One issued card as the sandbox stores it.

    ``scope`` is ``""`` for a merchant's card and the sub-account id for a card created
    on behalf of one (institution API); a card is visible only within its scope.

    The fields after ``create_time`` record what happened to the card since: ``status``
    is a :class:`GiftCardStatus` name set by a lifecycle action (``None``: the card
    follows ``timeline``, or the default pending period when that is empty);
    ``timeline`` holds scripted ``(milliseconds after creation, status name)`` steps;
    ``exchange_uid``/``exchange_time`` who redeemed it and when (ms), ``give_count``/
    ``last_give_time`` how often it was gifted on and when last; ``balance`` what is left
    on it (``None``: the face ``amount``).
    """

    card_num: str
    card_key: str = attrs.field(repr=False)
    title: str
    template_id: str
    currency: str
    amount: str
    creator: int
    creator_name: str
    owner: int
    scope: str
    create_time: int
    status: str | None = None
    timeline: tuple[tuple[int, str], ...] = ()
    exchange_uid: int = 0
    exchange_time: int = 0
    give_count: int = 0
    last_give_time: int = 0
    balance: str | None = None


def new_card_number() -> str:
    """A random 16-digit card number (uniqueness is the store's job)."""
    return str(_CARD_NUMBER_LOW + secrets.randbelow(_CARD_NUMBER_SPAN))


def new_card_key() -> str:
    """A redemption key shaped like GatePay's: base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def status_at(card: Card, now_ms: int, pending_seconds: float) -> GiftCardStatus:
    """The card's status on a read at ``now_ms``.

    A status set by a lifecycle action wins; otherwise the card walks its scripted
    timeline, or by default: pending payment for ``pending_seconds``, then not redeemed.
    """
    if card.status is not None:
        return GiftCardStatus[card.status]
    steps = card.timeline or ((int(pending_seconds * 1000), GiftCardStatus.NOT_REDEEMED.name),)
    elapsed = now_ms - card.create_time
    current = GiftCardStatus.PENDING_PAYMENT
    for at_ms, name in steps:
        if elapsed >= at_ms:
            current = GiftCardStatus[name]
    return current


def wire_status(status: GiftCardStatus) -> int | str:
    """A status as the merchant and institution APIs write it.

    Codes 0-8 are integers (seeds 003/004). EXPIRED, CANCELLED and CREATED have no code
    there, so they travel as the strings the older API uses (seeds 000/001).
    """
    value: int | str = status.value
    return value


def legacy_status(status: GiftCardStatus) -> str:
    """A status as the older paths (seed 000) write it: strings only."""
    if status in (GiftCardStatus.PENDING_PAYMENT, GiftCardStatus.NOT_REDEEMED):
        return GiftCardStatus.CREATED.value
    return status.name


def create_data(card: Card) -> dict[str, Any]:
    """The create answer of the merchant and institution APIs: exactly seed 003's fields.

    No ``title``: GatePay's documented create answer does not echo it, so a client must
    not count on it (query answers carry it, seed 004)."""
    return {
        "card_num": card.card_num,
        "card_key": card.card_key,
        "amount": card.amount,
        "currency": card.currency,
        "status": STATUS_PENDING_PAYMENT,
        "card_temp_id": card.template_id,
        "creator": card.creator,
        "creator_name": card.creator_name,
        "exchange_uid": 0,
        "owner": card.owner,
        "give_count": 0,
        "last_give_time": 0,
        "create_time": card.create_time,
    }


def query_data(card: Card, status: GiftCardStatus) -> dict[str, Any]:
    """The query answer of the merchant and institution APIs: exactly seed 004's fields.

    Once a card has been gifted on, the gift fields of the create answer (seed 003:
    ``owner``, ``give_count``, ``last_give_time``) are added, so that the gift is visible
    to a query: seed 004 does not list them, but they describe the same card, and an
    answer for a card never gifted stays exactly as documented.
    """
    data = {
        "card_num": card.card_num,
        "key": card.card_key,
        "title": card.title,
        "creator_name": card.creator_name,
        "amount": card.amount,
        "status": wire_status(status),
        "currency": card.currency,
        "card_temp_id": card.template_id,
        "create_time": card.create_time,
        "exchange_uid": card.exchange_uid,
        "exchange_time": card.exchange_time,
    }
    if card.give_count:
        data.update(
            owner=card.owner, give_count=card.give_count, last_give_time=card.last_give_time
        )
    return data


def legacy_card_data(card: Card, status: GiftCardStatus) -> dict[str, Any]:
    """The create and query answer of the older paths (seed 000): camelCase, string status."""
    return {
        "cardNumber": card.card_num,
        "key": card.card_key,
        "status": legacy_status(status),
        "amount": card.amount,
        "currency": card.currency,
        "title": card.title,
        "templateId": card.template_id,
    }


def balance_data(card: Card, status: GiftCardStatus) -> dict[str, Any]:
    """The balance of one card: what is left on it (zero once redeemed)."""
    return {
        "cardNumber": card.card_num,
        "currency": card.currency,
        "amount": card.amount if card.balance is None else card.balance,
        "status": wire_status(status),
    }


_COVER_BASE = "https://covers.gatepay-sandbox.invalid/gift"

#: Cover templates in the merchant/institution shape (the official SDKs' field names).
TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "card_temp_id": "255267012439183360",
        "image_url": f"{_COVER_BASE}/255267012439183360.png",
        "title_en": "Happy Holidays",
        "title_cn": "节日快乐",
        "cover_type": 1,
        "status": 1,
    },
    {
        "card_temp_id": "255267012439183361",
        "image_url": f"{_COVER_BASE}/255267012439183361.png",
        "title_en": "Happy Birthday",
        "title_cn": "生日快乐",
        "cover_type": 1,
        "status": 1,
    },
    {
        "card_temp_id": "255267012439183362",
        "image_url": f"{_COVER_BASE}/255267012439183362.png",
        "title_en": "Thank You",
        "title_cn": "谢谢",
        "cover_type": 2,
        "status": 1,
    },
)

#: The same templates in the older shape (seed 000).
LEGACY_TEMPLATES: tuple[dict[str, Any], ...] = tuple(
    {
        "templateId": t["card_temp_id"],
        "templateName": t["title_en"],
        "coverUrl": t["image_url"],
        "status": "ACTIVE",
    }
    for t in TEMPLATES
)

TEMPLATE_IDS: frozenset[str] = frozenset(t["card_temp_id"] for t in TEMPLATES)
