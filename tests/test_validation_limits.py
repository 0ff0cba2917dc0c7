"""Each validation limit at its edge: the last accepted value and the first refused one,
so that an off-by-one in any limit fails a test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gatepay_async import ValidationError
from gatepay_async._wire.validation import (
    MAX_AMOUNT_TEXT_DIGITS,
    MAX_AMOUNT_TEXT_LENGTH,
    canonical_amount,
    card_lookup,
    currency_code,
    non_empty_text,
)


def refused(value: object, argument: str = "amount") -> str:
    with pytest.raises(ValidationError) as info:
        canonical_amount(value)
    assert info.value.argument == argument
    return str(info.value)


def test_integers_up_to_fifteen_digits() -> None:
    assert canonical_amount(10**15 - 1) == "999999999999999"
    assert "too large" in refused(10**15)


def test_decimals_up_to_fifteen_integer_digits() -> None:
    assert canonical_amount(Decimal("999999999999999")) == "999999999999999"
    assert "too large" in refused(Decimal("1000000000000000"))
    assert "too large" in refused(Decimal("1E+15"))
    assert canonical_amount(Decimal("1E+14")) == "100000000000000"


def test_six_decimals_down_to_a_millionth() -> None:
    assert canonical_amount("0.000001") == "0.000001"
    assert canonical_amount(Decimal("1E-6")) == "0.000001"
    assert "too small" in refused("0.0000001")
    assert "decimal places" in refused("1.0000001")
    assert canonical_amount("1.1000000") == "1.1"  # trailing zeros are not decimals


def test_a_too_small_amount_is_told_the_smallest_one() -> None:
    assert "the smallest amount is 0.000001)" in refused("0.0000001")


def test_amount_text_length_limit() -> None:
    at_limit = "0" * (MAX_AMOUNT_TEXT_LENGTH - 1) + "1"  # leading zeros: one digit
    assert canonical_amount(at_limit) == "1"
    assert "not a decimal number" in refused("0" + at_limit)


def test_amount_digit_count_limit() -> None:
    digits = Decimal("1." + "0" * (MAX_AMOUNT_TEXT_DIGITS - 1))
    assert len(digits.as_tuple().digits) == MAX_AMOUNT_TEXT_DIGITS
    assert canonical_amount(digits) == "1"
    assert "digits" in refused(Decimal("1." + "0" * MAX_AMOUNT_TEXT_DIGITS))


@pytest.mark.parametrize("value", ["0", "-1", "0.0", "-0.000001", Decimal("-5"), 0, -3])
def test_zero_and_negative_amounts_are_refused(value: object) -> None:
    assert "greater than 0" in refused(value)


@pytest.mark.parametrize("value", [True, False, None, 1.5, [1]])
def test_amount_types_outside_decimal_int_str_are_refused(value: object) -> None:
    assert "must be a Decimal, int or str" in refused(value)


def test_a_float_amount_says_why() -> None:
    assert "binary floats" in refused(0.1)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e", "1,5", "", "  1", "0x10"])
def test_text_that_is_no_decimal_number_is_refused(text: str) -> None:
    refused(text)


@pytest.mark.parametrize(
    ("code", "ok"),
    [("US", True), ("USDT", True), ("ABCDEFGHIJ", True), ("U", False), ("ABCDEFGHIJK", False)],
)
def test_currency_codes_are_two_to_ten_characters(code: str, ok: bool) -> None:
    if ok:
        assert currency_code(code) == code
    else:
        with pytest.raises(ValidationError, match="2-10 uppercase"):
            currency_code(code)


def test_a_lowercase_currency_gets_a_hint() -> None:
    with pytest.raises(ValidationError, match="did you mean 'USDT'"):
        currency_code("usdt")


def test_text_arguments_refuse_blank_and_lone_surrogates() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        non_empty_text(" \t", "title")
    with pytest.raises(ValidationError, match="lone surrogate"):
        non_empty_text("a\ud800", "title")
    with pytest.raises(ValidationError, match="must be a string"):
        non_empty_text(5, "title")


def test_a_lookup_takes_exactly_one_of_number_or_key() -> None:
    assert card_lookup("GC1", None) == ("card_number", "GC1")
    assert card_lookup(None, "KEY1") == ("key", "KEY1")
    for number, key in [("GC1", "KEY1"), (None, None)]:
        with pytest.raises(ValidationError) as info:
            card_lookup(number, key)
        assert info.value.argument == "card_number/key"


def test_amount_text_is_refused_past_one_hundred_characters() -> None:
    """The limits as numbers (the tests above follow the constants): a longer text is
    refused before Decimal reads it, whatever it holds."""
    assert canonical_amount("0" * 99 + "1") == "1"
    assert "not a decimal number" in refused("0" * 100 + "1")


def test_an_amount_is_refused_past_sixty_four_digits() -> None:
    assert canonical_amount(Decimal("1." + "0" * 63)) == "1"  # 64 digits, trailing zeros
    assert "more than 64 digits" in refused(Decimal("1." + "0" * 64))


@pytest.mark.parametrize("amount", [10**15, 10**15 + 1, 4 * 10**15])
def test_an_int_amount_from_sixteen_digits_is_refused_by_its_size_alone(amount: int) -> None:
    """An int is refused before it becomes a Decimal (a huge one is slow to convert), so
    its refusal never quotes it."""
    with pytest.raises(ValidationError) as info:
        canonical_amount(amount)
    assert info.value.reason == "is too large (at most 15 digits)"


def test_an_amount_in_an_error_is_quoted_whole_up_to_forty_characters() -> None:
    forty, forty_one = "a" * 40, "b" * 41
    assert "'1,5' is not a decimal number" in refused("1,5")
    assert f"{forty!r} is not a decimal number" in refused(forty)
    assert f"{'b' * 40 + '…'!r} is not a decimal number" in refused(forty_one)
    # A Decimal is quoted as its text, cut alike.
    assert refused(Decimal("-" + "1" * 39)).endswith("got -" + "1" * 39)
    assert refused(Decimal("-" + "1" * 40)).endswith("got -" + "1" * 39 + "…")
