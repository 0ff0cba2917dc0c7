"""Turning an envelope's data into models, with one error type for anything malformed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from gatepay_async._balances import is_currency_code, per_currency
from gatepay_async._errors import ResponseValidationError
from gatepay_async._models import (
    GiftCard,
    GiftCardBalance,
    GiftCardTemplate,
    MerchantBalance,
    structure,
)
from gatepay_async._wire.answer_frames import reads_answers

__all__ = [
    "decode_balance",
    "decode_card",
    "decode_card_leniently",
    "decode_merchant_balance",
    "decode_templates",
]

T = TypeVar("T")

# Where a list may hide when the data is an object instead of a bare array.
_LIST_KEYS = ("list", "templates", "items", "records", "data")


def _structure(data: Any, cls: type[T], what: str) -> T:
    try:
        return structure(data, cls)
    except Exception as exc:  # cattrs wraps field errors in exception groups
        raise ResponseValidationError(
            f"cannot decode {what}: {_describe(exc)}", body=_redacted_text(data)
        ) from exc


def _redacted_text(data: Any) -> str:
    """JSON text of decoded data, so that secret fields are masked like any body snippet."""
    return json.dumps(data, default=str, ensure_ascii=False)


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner:
        notes = getattr(inner[0], "__notes__", None) or []
        return f"{notes[0] + ': ' if notes else ''}{_describe(inner[0])}"
    return f"{type(exc).__name__}: {exc}"


@reads_answers
def decode_card(data: Any) -> GiftCard:
    if not isinstance(data, Mapping):
        raise ResponseValidationError(
            f"expected a gift card object, got {type(data).__name__}", body=_redacted_text(data)
        )
    return _structure(data, GiftCard, "the gift card")


def _per_currency(data: Any, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return per_currency(data)
    except ValueError as exc:
        raise ResponseValidationError(
            f"cannot decode {what}: {exc}", body=_redacted_text(data)
        ) from exc


#: Every spelling of a GiftCardBalance field: an object with none of them is a currency map.
_CARD_BALANCE_KEYS = frozenset(
    alias
    for field in attrs.fields(GiftCardBalance)
    for alias in field.metadata.get("gatepay_aliases", ())
)
#: Where a list of per-currency entries may sit inside an object.
_BALANCE_LIST_KEYS = ("balances", "list", "items", "records")


def decode_card_leniently(
    data: Mapping[str, Any], card_number: str | None, key: str | None
) -> GiftCard:
    """An issued card from a create answer whose number and key were already found usable.

    Never fails: if even the lenient model cannot be built, the card carries its number
    and key and the whole answer in ``extra``.
    """
    try:
        card = structure(data, GiftCard)
    except Exception:
        return GiftCard(card_number=card_number or "", key=key or "", extra=dict(data))
    if card.card_number == card_number and card.key == key:
        return card
    return attrs.evolve(card, card_number=card_number or "", key=key or "")


@reads_answers
def decode_balance(data: Any) -> GiftCardBalance:
    """A card's balance; a per-currency answer (flat map or list) fills ``balances``."""
    if isinstance(data, list) or (
        isinstance(data, Mapping)
        and not _CARD_BALANCE_KEYS.intersection(data)
        and any(is_currency_code(key) for key in data)
    ):
        balances, extra = _per_currency(data, "the balance")
        return GiftCardBalance(balances=balances, extra=extra)
    if not isinstance(data, Mapping):
        raise ResponseValidationError(
            f"expected a balance object, got {type(data).__name__}", body=_redacted_text(data)
        )
    nested = data.get("balances")
    if nested is None:
        return _structure(data, GiftCardBalance, "the balance")
    card = _structure(
        {k: v for k, v in data.items() if k != "balances"}, GiftCardBalance, "the balance"
    )
    balances, entry_extra = _per_currency(nested, "the balance")
    extra = {**card.extra, "balances": entry_extra} if entry_extra else card.extra
    return attrs.evolve(card, balances=balances, extra=extra)


@reads_answers
def decode_merchant_balance(data: Any) -> MerchantBalance:
    """The merchant's funds per currency: the flat ``{"USDT": "12.50"}`` object the official
    clients read, a list of ``{currency, available|amount|balance}`` entries, or such a
    list (or map) under ``balances``/``list``/``items``/``records`` beside other fields,
    which are kept in ``extra``. A non-decimal amount raises ResponseValidationError."""
    if isinstance(data, Mapping):
        key = next(
            (k for k in _BALANCE_LIST_KEYS if isinstance(data.get(k), (list, Mapping))), None
        )
        if key is not None:
            balances, extra = _per_currency(data[key], "the merchant balance")
            others = {k: v for k, v in data.items() if k != key}
            return MerchantBalance(balances=balances, extra={**others, **extra})
    elif not isinstance(data, list):
        raise ResponseValidationError(
            f"expected the merchant balance as an object or a list, got {type(data).__name__}",
            body=_redacted_text(data),
        )
    balances, extra = _per_currency(data, "the merchant balance")
    return MerchantBalance(balances=balances, extra=extra)


@reads_answers
def decode_templates(data: Any) -> list[GiftCardTemplate]:
    if data is None:
        return []
    if isinstance(data, Mapping):
        found = next((data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)), None)
        if found is None:
            raise ResponseValidationError("expected a list of templates", body=_redacted_text(data))
        data = found
    if not isinstance(data, list):
        raise ResponseValidationError(
            f"expected a list of templates, got {type(data).__name__}", body=_redacted_text(data)
        )
    return [_structure(item, GiftCardTemplate, "a template") for item in data]
