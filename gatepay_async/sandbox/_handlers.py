"""The four gift-card operations, once a request has passed its checks."""

from __future__ import annotations

from typing import Any

from gatepay_async._models import GiftCardStatus
from gatepay_async.sandbox._cards import (
    LEGACY_TEMPLATES,
    TEMPLATE_IDS,
    TEMPLATES,
    Card,
    balance_data,
    create_data,
    legacy_card_data,
    new_card_key,
    new_card_number,
    query_data,
    status_at,
)
from gatepay_async.sandbox._config import SandboxConfig
from gatepay_async.sandbox._responses import Rejection
from gatepay_async.sandbox._scripts import NewCardScripts
from gatepay_async.sandbox._store import CardStore
from gatepay_async.sandbox._validate import (
    Lookup,
    lookup_from_body,
    lookup_from_query,
    parse_json_object,
    parse_query,
    validate_create,
)

__all__ = ["INSTITUTION", "LEGACY", "MERCHANT", "Operations"]

#: The three path sets.
MERCHANT = "merchant"
INSTITUTION = "institution"
LEGACY = "legacy"

_MAX_NUMBER_TRIES = 32


class Operations:
    """create, query, balance and templates over one store.

    ``scope`` is ``""`` for merchant and older-path calls and the sub-account id for
    institution calls; a card is found only within the scope that created it.
    """

    def __init__(
        self, config: SandboxConfig, store: CardStore, scripts: NewCardScripts | None = None
    ) -> None:
        self._config = config
        self._store = store
        self._scripts = NewCardScripts() if scripts is None else scripts
        self._templates = list(TEMPLATES)
        self._legacy_templates = list(LEGACY_TEMPLATES)

    def run(
        self, operation: str, api: str, scope: str, body: bytes, query: bytes, now: float
    ) -> Any:
        if operation == "create":
            return self.create(api, scope, body, now)
        if operation == "query":
            return self.query(api, scope, body, query, now)
        if operation == "balance":
            return self.balance(api, scope, query, now)
        if operation == "templates":
            return self._legacy_templates if api == LEGACY else self._templates
        raise ValueError(f"unknown operation {operation!r}")  # pragma: no cover

    def create(self, api: str, scope: str, body: bytes, now: float) -> dict[str, Any]:
        config = self._config
        request = validate_create(
            parse_json_object(body), templates=TEMPLATE_IDS, currencies=config.currencies
        )
        create_time = int(now * 1000)
        timeline = self._scripts.timeline_for_new_card(config.pending_seconds)
        for _ in range(_MAX_NUMBER_TRIES):
            card = Card(
                card_num=new_card_number(),
                card_key=new_card_key(),
                title=request.title,
                template_id=request.template_id,
                currency=request.currency,
                amount=request.amount,
                creator=config.creator,
                creator_name=config.creator_name,
                owner=config.creator,
                scope=scope,
                create_time=create_time,
                timeline=timeline,
            )
            if self._store.add(card):
                if api == LEGACY:
                    return legacy_card_data(card, GiftCardStatus.PENDING_PAYMENT)
                return create_data(card)
        raise RuntimeError("could not find a free card number")  # pragma: no cover

    def query(self, api: str, scope: str, body: bytes, query: bytes, now: float) -> dict[str, Any]:
        if api == LEGACY:
            lookup = lookup_from_query(parse_query(query), required=True)
            assert lookup is not None
            card = self._find(lookup, scope)
            return legacy_card_data(card, self._status(card, now))
        card = self._find(lookup_from_body(parse_json_object(body)), scope)
        return query_data(card, self._status(card, now))

    def balance(self, api: str, scope: str, query: bytes, now: float) -> Any:
        lookup = lookup_from_query(parse_query(query), required=api == LEGACY)
        if lookup is None:
            # The merchant's funds as the official clients parse them: a flat object
            # mapping each currency to a decimal string (Java: one field per currency;
            # Go: map[string]string).
            return dict(self._config.balances)
        card = self._find(lookup, scope)
        return balance_data(card, self._status(card, now))

    def _status(self, card: Card, now: float) -> GiftCardStatus:
        return status_at(card, int(now * 1000), self._config.pending_seconds)

    def _find(self, lookup: Lookup, scope: str) -> Card:
        if lookup.key is not None:
            card = self._store.get_by_key(lookup.key)
        else:
            assert lookup.card_number is not None
            card = self._store.get_by_number(lookup.card_number)
        if card is None or card.scope != scope:
            raise Rejection.invalid("gift card not found")
        return card
