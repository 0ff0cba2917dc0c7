"""Per-currency balances, in every shape GatePay's clients read them, with nothing dropped.

The official clients read ``GET /v1/pay/balance`` (no parameters) as a flat object mapping
each currency to a decimal string: ``{"USDT": "12.50", "BTC": "0.001"}``. A list of
per-currency entries (``[{"currency": "USDT", "available": "12.50"}, ...]``) is accepted
too. An amount that is not a finite decimal raises ValueError naming the currency rather
than vanishing: a balance is money, and a missing currency reads as "nothing there".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["AMOUNT_KEYS", "CURRENCY_KEYS", "is_currency_code", "per_currency"]

#: What a currency key of a flat map looks like: upper case (USDT, BTC, 1INCH, USDC.E).
#: Other keys of a flat map (say ``uid`` or ``updateTime``) are not balances: they are kept
#: in ``extra`` as they came, never read as a currency.
_CURRENCY_CODE = re.compile(r"[A-Z0-9][A-Z0-9._-]{1,19}")

#: Where a per-currency entry keeps its currency, and its amount (first found wins).
CURRENCY_KEYS = ("currency", "coin", "asset")
AMOUNT_KEYS = ("available", "amount", "balance")


def _amount(value: object, currency: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"balance of {currency}: not a decimal amount: {value!r}")
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"balance of {currency}: not a decimal amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"balance of {currency}: not a finite amount: {value!r}")
    return result


def is_currency_code(key: object) -> bool:
    return (
        isinstance(key, str)
        and _CURRENCY_CODE.fullmatch(key) is not None
        and any(c.isalpha() for c in key)
    )


def _entry(item: Mapping[str, Any]) -> tuple[str, Decimal, dict[str, Any]]:
    """One ``{currency, available|amount|balance, ...}`` entry; other fields are returned."""
    currency_key = next((k for k in CURRENCY_KEYS if k in item), None)
    if currency_key is None or not isinstance(item[currency_key], str) or not item[currency_key]:
        raise ValueError(f"a balance entry without a currency: {dict(item)!r}")
    currency = item[currency_key]
    amount_key = next((k for k in AMOUNT_KEYS if k in item), None)
    if amount_key is None:
        raise ValueError(f"balance of {currency}: no amount (one of {', '.join(AMOUNT_KEYS)})")
    rest = {k: v for k, v in item.items() if k not in (currency_key, amount_key)}
    return currency, _amount(item[amount_key], currency), rest


def per_currency(data: object) -> tuple[dict[str, Decimal], dict[str, Any]]:
    """``(balances, extra)`` from a flat currency map or a list of per-currency entries.

    ``extra`` keeps, per currency, the other fields of its entry (say ``frozen``), and a
    flat map's keys that are not currency codes, so nothing GatePay sent is lost. Raises
    ValueError on a non-decimal amount, an entry without a currency or an amount, or a
    currency given twice.
    """
    balances: dict[str, Decimal] = {}
    extra: dict[str, Any] = {}
    if isinstance(data, Mapping):
        items: list[tuple[str, Decimal, dict[str, Any]]] = []
        for currency, value in data.items():
            if not is_currency_code(currency):
                extra[str(currency)] = value
            elif isinstance(value, Mapping):
                # {"USDT": {"available": "1.5", "frozen": "0"}}: the key names the currency.
                amount_key = next((k for k in AMOUNT_KEYS if k in value), None)
                if amount_key is None:
                    raise ValueError(f"balance of {currency}: no amount")
                rest = {k: v for k, v in value.items() if k != amount_key}
                items.append((str(currency), _amount(value[amount_key], str(currency)), rest))
            else:
                items.append((str(currency), _amount(value, str(currency)), {}))
    elif isinstance(data, list):
        items = []
        for item in data:
            if not isinstance(item, Mapping):
                raise ValueError(f"a balance entry must be an object, got {type(item).__name__}")
            items.append(_entry(item))
    else:
        raise ValueError(f"balances must be an object or a list, got {type(data).__name__}")
    for currency, amount, rest in items:
        if currency in balances:
            raise ValueError(f"currency {currency} is given twice")
        balances[currency] = amount
        if rest:
            extra[currency] = rest
    return balances, extra
