"""Turning an envelope's data into models, with one error type for anything malformed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from gatepay_async._errors import ResponseValidationError
from gatepay_async._models import GiftCard, GiftCardBalance, GiftCardTemplate, structure

__all__ = ["decode_balance", "decode_card", "decode_card_leniently", "decode_templates"]

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


def decode_card(data: Any) -> GiftCard:
    if not isinstance(data, Mapping):
        raise ResponseValidationError(
            f"expected a gift card object, got {type(data).__name__}", body=_redacted_text(data)
        )
    return _structure(data, GiftCard, "the gift card")


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


def decode_balance(data: Any) -> GiftCardBalance:
    if isinstance(data, list):
        data = {"balances": data}
    elif not isinstance(data, Mapping):
        raise ResponseValidationError(
            f"expected a balance object, got {type(data).__name__}", body=_redacted_text(data)
        )
    return _structure(data, GiftCardBalance, "the balance")


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
