"""Validating request bodies and query strings; every failure names the field."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import attrs

from gatepay_async.sandbox._responses import Rejection

__all__ = [
    "CreateRequest",
    "Lookup",
    "lookup_from_body",
    "lookup_from_query",
    "parse_json_object",
    "parse_query",
    "validate_create",
]

_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MIN_AMOUNT = Decimal("0.0001")
_MAX_AMOUNT = Decimal("5000000")
_MAX_DECIMALS = 6
_MAX_AMOUNT_CHARS = 64


@attrs.frozen
class CreateRequest:
    title: str
    template_id: str
    currency: str
    amount: str


@attrs.frozen
class Lookup:
    """Find a card by number or by key (exactly one is set)."""

    card_number: str | None = None
    key: str | None = None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400001 rejection (never a 500)."""
    if not body:
        raise Rejection.invalid("body: a JSON object is required")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise Rejection.invalid("body: malformed JSON") from None
    if not isinstance(value, dict):
        raise Rejection.invalid("body: must be a JSON object")
    return value


def _required_string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise Rejection.invalid(f"{name}: is required")
    if not isinstance(value, str):
        raise Rejection.invalid(f"{name}: must be a string")
    if not value.strip():
        raise Rejection.invalid(f"{name}: must not be empty")
    return value


def canonical_amount(text: str) -> str:
    """``text`` as a canonical decimal string, or a 400001 rejection naming ``amount``."""
    if len(text) > _MAX_AMOUNT_CHARS or not _PLAIN_DECIMAL.fullmatch(text):
        raise Rejection.invalid(
            "amount: must be a decimal string with at most 6 decimal places, e.g. '0.99'"
        )
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > _MAX_DECIMALS:
        raise Rejection.invalid("amount: must be a decimal string with at most 6 decimal places")
    canonical = (whole.lstrip("0") or "0") + ("." + fraction if fraction else "")
    if not _MIN_AMOUNT <= Decimal(canonical) <= _MAX_AMOUNT:
        raise Rejection.invalid("amount: must be between 0.0001 and 5000000")
    return canonical


def validate_create(
    body: Mapping[str, Any], *, templates: Collection[str], currencies: Collection[str]
) -> CreateRequest:
    """Check a create body: four non-empty strings, a known template and currency, an amount."""
    title = _required_string(body, "title")
    template_id = _required_string(body, "templateId")
    currency = _required_string(body, "currency")
    amount = _required_string(body, "amount")
    if template_id not in templates:
        raise Rejection.invalid(f"templateId: unknown template {template_id[:64]!r}")
    if currency not in currencies:
        raise Rejection.invalid(
            f"currency: unsupported currency {currency[:16]!r}; "
            f"expected one of {', '.join(sorted(currencies))}"
        )
    return CreateRequest(title, template_id, currency, canonical_amount(amount))


def _optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejection.invalid(f"{name}: must be a string")
    return value or None


def lookup_from_body(body: Mapping[str, Any]) -> Lookup:
    """A query body: ``card_number`` (or ``cardNumber``, the official Python client's
    spelling) and/or ``key``; the key wins. Each present field must be a string or null."""
    key = _optional_string(body, "key")
    number = _optional_string(body, "card_number")
    camel = _optional_string(body, "cardNumber")
    if number is None:
        number = camel
    if key is not None:
        return Lookup(key=key)
    if number is not None:
        return Lookup(card_number=number)
    raise Rejection.invalid("card_number: one of card_number or key is required")


def parse_query(query_string: bytes) -> dict[str, str]:
    """The query string's parameters (the last of repeated names wins)."""
    if not query_string:
        return {}
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def lookup_from_query(params: Mapping[str, str], *, required: bool) -> Lookup | None:
    """``cardNumber`` (or ``card_number``) or ``key``: exactly one; none gives None if allowed."""
    number = params.get("cardNumber") or params.get("card_number") or None
    key = params.get("key") or None
    if number is not None and key is not None:
        raise Rejection.invalid("cardNumber: give either cardNumber or key, not both")
    if key is not None:
        return Lookup(key=key)
    if number is not None:
        return Lookup(card_number=number)
    if required:
        raise Rejection.invalid("cardNumber: one of cardNumber or key is required")
    return None
