"""Input checks and request bodies: bad input is refused before anything is sent."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import attrs

from gatepay_async._errors import ValidationError
from gatepay_async._secrets.secret import Secret, reveal

__all__ = [
    "CreateRequest",
    "build_create_request",
    "canonical_amount",
    "card_lookup",
    "dump_json",
    "sealed_json",
]

MAX_AMOUNT_DECIMALS = 6
#: Far above GatePay's 5,000,000 limit; stops "1E+100000000" from becoming 100 MB of text.
MAX_AMOUNT_DIGITS = 15
#: Digits an amount may be written with (trailing zeros included), so normalising is exact.
MAX_AMOUNT_TEXT_DIGITS = 64
#: Characters an amount given as text may have (digits, point, sign and exponent).
MAX_AMOUNT_TEXT_LENGTH = 100
_INT_LIMIT = 10**MAX_AMOUNT_DIGITS
_CURRENCY = re.compile(r"[A-Z0-9]{2,10}")
# Plain decimal text: no spaces, no underscores, no "NaN"; an exponent is allowed.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


#: What ``json.dumps(payload, separators=(",", ":"), ensure_ascii=False)`` builds on every
#: call (it makes an encoder for any non-default option), made once.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dump_json(payload: object) -> bytes:
    """The one serialisation of a request body: compact JSON, UTF-8."""
    return _COMPACT.encode(payload).encode("utf-8")


def sealed_json(payload: dict[str, str | Secret]) -> Secret:
    """A body carrying a secret (query by key), serialised as :func:`dump_json` does,
    kept masked until the request is built (its values revealed only here, inline)."""
    return Secret(
        json.dumps(
            {name: reveal(value) for name, value in payload.items()},
            separators=(",", ":"),
            ensure_ascii=False,
        )
    )


def _decimal_of(amount: object, argument: str) -> Decimal:
    """``amount`` (a Decimal, an int or a decimal string) as a Decimal, without rounding."""
    if isinstance(amount, bool) or amount is None or isinstance(amount, float):
        raise ValidationError(
            argument,
            f"must be a Decimal, int or str, not {type(amount).__name__}"
            + (" (binary floats cannot hold money exactly)" if isinstance(amount, float) else ""),
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        if amount >= _INT_LIMIT:  # before Decimal(): a huge int is slow to convert
            raise ValidationError(argument, f"is too large (at most {MAX_AMOUNT_DIGITS} digits)")
        value = Decimal(amount)
    elif isinstance(amount, str):
        if len(amount) > MAX_AMOUNT_TEXT_LENGTH or not _DECIMAL_TEXT.fullmatch(amount):
            raise ValidationError(argument, f"{_shown(amount)} is not a decimal number")
        try:
            value = Decimal(amount)
        except ArithmeticError:  # an exponent beyond what Decimal can hold at all
            raise ValidationError(
                argument, f"{_shown(amount)} is out of range (exponent too large or too small)"
            ) from None
    else:
        raise ValidationError(
            argument, f"must be a Decimal, int or str, not {type(amount).__name__}"
        )
    return value


def canonical_amount(amount: object, argument: str = "amount") -> str:
    """Check an amount and return it as plain decimal text (``Decimal('1E+2')`` → ``"100"``).

    Works on the exact digits and exponent, never through a decimal context: an exponent
    that no context can hold ("1E+999999999", "1e-999999999") is a ValidationError, not a
    raw ``decimal.Overflow``, and nothing is ever rounded (a tiny amount is refused, never
    sent as "0").
    """
    value = _decimal_of(amount, argument)
    if not value.is_finite():
        raise ValidationError(argument, f"must be finite, got {value}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values have an int exponent
    if not any(digits):
        raise ValidationError(argument, f"must be greater than 0, got {_shown(value)}")
    if sign:
        raise ValidationError(argument, f"must be greater than 0, got {_shown(value)}")
    if len(digits) > MAX_AMOUNT_TEXT_DIGITS:
        raise ValidationError(argument, f"has more than {MAX_AMOUNT_TEXT_DIGITS} digits")
    # Drop trailing zeros by hand: exact, whatever the exponent.
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    exponent += len(digits) - significant
    digits = digits[:significant]
    adjusted = exponent + len(digits) - 1  # the power of ten of the leading digit
    if adjusted >= MAX_AMOUNT_DIGITS:
        raise ValidationError(
            argument, f"is too large (at most {MAX_AMOUNT_DIGITS} digits), got {_shown(value)}"
        )
    if adjusted < -MAX_AMOUNT_DECIMALS:
        raise ValidationError(
            argument,
            f"is too small (the smallest amount is 0.{'0' * (MAX_AMOUNT_DECIMALS - 1)}1),"
            f" got {_shown(value)}",
        )
    if exponent < -MAX_AMOUNT_DECIMALS:
        raise ValidationError(
            argument,
            f"at most {MAX_AMOUNT_DECIMALS} decimal places are allowed, got {_shown(value)}",
        )
    # 1 to 21 digits with an exponent in [-6, 14]: formatting is exact and small.
    return format(Decimal((0, digits, exponent)), "f")


def _shown(value: object) -> str:
    """An amount as quoted in an error: the whole of it when short, else its start."""
    text = value if isinstance(value, str) else str(value)
    text = text if len(text) <= 40 else text[:40] + "…"
    return repr(text) if isinstance(value, str) else text


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


def card_lookup(card_number: object, key: object) -> tuple[str, str | Secret]:
    """Exactly one of card_number / key; returns which one and its value (a key as a
    :class:`Secret`: callers mask it on entry, and it stays masked until the wire)."""
    if card_number is not None and key is not None:
        raise ValidationError("card_number/key", "pass exactly one of card_number or key, not both")
    if card_number is not None:
        return "card_number", non_empty_text(card_number, "card_number")
    if key is not None:
        if not isinstance(key, Secret):
            return "key", Secret(non_empty_text(key, "key"))
        non_empty_text(key.reveal(), "key")
        return "key", key
    raise ValidationError("card_number/key", "pass exactly one of card_number or key")
