"""``client.gift_cards``: create, query, balance and list_templates.

This module is the source of ``gatepay_sync/resources/gift_cards.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from gatepay_async._decoding import decode_balance, decode_card, decode_templates
from gatepay_async._errors import (
    APIConnectionError,
    OutcomeUnknownError,
    ResponseValidationError,
)
from gatepay_async._models import GiftCard, GiftCardBalance, GiftCardTemplate
from gatepay_async._retry import RetryPolicy
from gatepay_async._validation import build_create_request, card_lookup, dump_json

if TYPE_CHECKING:
    from .._client import AsyncGatePay

__all__ = ["AsyncGiftCards"]

# The query-string names of the balance lookup (seeds 000/001 use camelCase).
_BALANCE_PARAMS = {"card_number": "cardNumber", "key": "key"}


class AsyncGiftCards:
    """Gift card operations. Reached as ``client.gift_cards``."""

    def __init__(self, client: AsyncGatePay) -> None:
        self._client = client

    async def list_templates(self) -> list[GiftCardTemplate]:
        """The cover templates available for new cards."""
        client = self._client
        data = await client._request("GET", client._config.paths.templates, policy=RetryPolicy.READ)
        return decode_templates(data)

    async def create(
        self,
        *,
        title: str,
        template_id: str,
        currency: str,
        amount: Decimal | int | str,
    ) -> GiftCard:
        """Issue one gift card.

        Resent only when the request provably never reached GatePay. If it may have
        reached GatePay and the answer was lost, :class:`OutcomeUnknownError` is raised
        and nothing is resent: a card may exist.
        """
        checked = build_create_request(
            title=title, template_id=template_id, currency=currency, amount=amount
        )
        client = self._client
        try:
            data = await client._request(
                "POST", client._config.paths.create, policy=RetryPolicy.CREATE, content=checked.body
            )
            return decode_card(data)
        except (APIConnectionError, ResponseValidationError) as exc:
            if isinstance(exc, APIConnectionError) and not exc.request_sent:
                raise
            raise OutcomeUnknownError(
                title=checked.title,
                template_id=checked.template_id,
                currency=checked.currency,
                amount=checked.amount,
                cause=exc,
            ) from exc

    async def query(self, *, card_number: str | None = None, key: str | None = None) -> GiftCard:
        """A card's details, by exactly one of ``card_number`` or ``key``."""
        field, value = card_lookup(card_number, key)
        client = self._client
        data = await client._request(
            "POST",
            client._config.paths.query,
            policy=RetryPolicy.READ,
            content=dump_json({field: value}),
        )
        return decode_card(data)

    async def balance(
        self, *, card_number: str | None = None, key: str | None = None
    ) -> GiftCardBalance:
        """A card's balance, by exactly one of ``card_number`` or ``key``."""
        field, value = card_lookup(card_number, key)
        client = self._client
        data = await client._request(
            "GET",
            client._config.paths.balance,
            policy=RetryPolicy.READ,
            params={_BALANCE_PARAMS[field]: value},
        )
        return decode_balance(data)
