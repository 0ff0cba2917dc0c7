"""Input checks and request bodies: bad input is refused before anything is sent."""

from __future__ import annotations

import json
import re
from decimal import Context, Decimal

import attrs

from gatepay_async._errors import ValidationError

__all__ = [
    "CreateRequest",
    "build_create_request",
    "canonical_amount",
    "card_lookup",
    "dump_json",
]

MAX_AMOUNT_DECIMALS = 6
#: Far above GatePay's 5,000,000 limit; stops "1E+100000000" from becoming 100 MB of text.
MAX_AMOUNT_DIGITS = 15
#: Digits an amount may be written with (trailing zeros included), so normalising is exact.
MAX_AMOUNT_TEXT_DIGITS = 64
_EXACT = Context(prec=MAX_AMOUNT_TEXT_DIGITS)
_CURRENCY = re.compile(r"[A-Z0-9]{2,10}")
# Plain decimal text: no spaces, no underscores, no "NaN"; an exponent is allowed.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def dump_json(payload: object) -> bytes:
    """The one serialisation of a request body: compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_amount(amount: object, argument: str = "amount") -> str:
    """Check an amount and return it as plain decimal text (``Decimal('1E+2')`` → ``"100"``)."""
    if isinstance(amount, bool) or amount is None or isinstance(amount, float):
        raise ValidationError(
            argument,
            f"must be a Decimal, int or str, not {type(amount).__name__}"
            + (" (binary floats cannot hold money exactly)" if isinstance(amount, float) else ""),
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        if not _DECIMAL_TEXT.fullmatch(amount):
            raise ValidationError(argument, f"{amount!r} is not a decimal number")
        value = Decimal(amount)
    else:
        raise ValidationError(
            argument, f"must be a Decimal, int or str, not {type(amount).__name__}"
        )
    if not value.is_finite():
        raise ValidationError(argument, f"must be finite, got {value}")
    if value <= 0:
        raise ValidationError(argument, f"must be greater than 0, got {value}")
    if len(value.as_tuple().digits) > MAX_AMOUNT_TEXT_DIGITS:
        raise ValidationError(argument, f"has more than {MAX_AMOUNT_TEXT_DIGITS} digits")
    normal = value.normalize(_EXACT)  # exact: _EXACT has room for every digit allowed
    if normal.adjusted() >= MAX_AMOUNT_DIGITS:
        raise ValidationError(argument, f"is too large, got {value}")
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values have an int exponent
    if exponent < -MAX_AMOUNT_DECIMALS:
        raise ValidationError(
            argument, f"at most {MAX_AMOUNT_DECIMALS} decimal places are allowed, got {value}"
        )
    return format(normal, "f")


def non_empty_text(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(argument, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(argument, "must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            argument, "must be valid Unicode text (it has a lone surrogate)"
        ) from None
    return value


def currency_code(value: object, argument: str = "currency") -> str:
    text = non_empty_text(value, argument)
    if not _CURRENCY.fullmatch(text):
        hint = f" (did you mean {text.upper()!r}?)" if _CURRENCY.fullmatch(text.upper()) else ""
        raise ValidationError(
            argument, f"must be 2-10 uppercase letters or digits, got {text!r}{hint}"
        )
    return text


@attrs.frozen
class CreateRequest:
    """A checked create: its fields and the exact body bytes that are signed and sent."""

    title: str
    template_id: str
    currency: str
    amount: Decimal
    body: bytes


def build_create_request(
    *, title: object, template_id: object, currency: object, amount: object
) -> CreateRequest:
    """Check every create argument and serialise the body once, in GatePay's field order."""
    title = non_empty_text(title, "title")
    template_id = non_empty_text(template_id, "template_id")
    currency = currency_code(currency)
    amount_text = canonical_amount(amount)
    body = dump_json(
        {"title": title, "templateId": template_id, "currency": currency, "amount": amount_text}
    )
    return CreateRequest(title, template_id, currency, Decimal(amount_text), body)


def card_lookup(card_number: object, key: object) -> tuple[str, str]:
    """Exactly one of card_number / key; returns which one and its value."""
    if card_number is not None and key is not None:
        raise ValidationError("card_number/key", "pass exactly one of card_number or key, not both")
    if card_number is not None:
        return "card_number", non_empty_text(card_number, "card_number")
    if key is not None:
        return "key", non_empty_text(key, "key")
    raise ValidationError("card_number/key", "pass exactly one of card_number or key")
