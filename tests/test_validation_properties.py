"""Property tests of input checking and the one serialisation of a request body."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gatepay_async import ValidationError
from gatepay_async._secrets.secret import Secret, reveal
from gatepay_async._wire.validation import (
    build_create_request,
    canonical_amount,
    card_lookup,
    currency_code,
    dump_json,
    sealed_json,
)

PLAIN_DECIMAL = re.compile(r"[1-9][0-9]*(\.[0-9]*[1-9])?|0\.[0-9]*[1-9]")

#: Amounts GatePay can accept: positive, at most 6 decimals, up to 5,000,000.
valid_amounts = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("5000000"), places=6, allow_nan=False
)


@given(amount=valid_amounts)
@example(amount=Decimal("1E+2"))
@example(amount=Decimal("0.990"))
@example(amount=Decimal("100.000000"))
def test_canonical_amount_is_plain_text_of_the_same_value(amount: Decimal) -> None:
    text = canonical_amount(amount)
    assert PLAIN_DECIMAL.fullmatch(text), text
    assert Decimal(text) == amount
    assert "E" not in text.upper()


@given(amount=valid_amounts)
def test_decimal_str_and_int_forms_agree(amount: Decimal) -> None:
    text = canonical_amount(amount)
    assert canonical_amount(str(amount)) == text
    assert canonical_amount(text) == text  # idempotent
    if amount == amount.to_integral_value():
        assert canonical_amount(int(amount)) == text


@given(
    amount=st.decimals(
        min_value=Decimal("0.0000000001"), max_value=Decimal("1000"), allow_nan=False
    )
)
def test_more_than_six_decimals_is_refused(amount: Decimal) -> None:
    assume(amount.normalize().as_tuple().exponent < -6)  # type: ignore[operator]
    with pytest.raises(ValidationError) as info:
        canonical_amount(amount)
    assert info.value.argument == "amount"


@given(amount=st.decimals(max_value=Decimal("0"), allow_nan=False, allow_infinity=False))
def test_zero_and_negative_amounts_are_refused(amount: Decimal) -> None:
    with pytest.raises(ValidationError):
        canonical_amount(amount)


@given(amount=st.floats())
def test_floats_are_always_refused(amount: float) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_amount(amount)
    assert "float" in str(info.value)


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("NaN"),
        Decimal("-NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "nan",
        "sNaN",
        "inf",
        "Infinity",
        "-Infinity",
    ],
    ids=repr,
)
def test_non_finite_amounts_are_refused(amount: object) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_amount(amount)
    assert info.value.argument == "amount"


@given(text=st.text(max_size=20))
def test_any_string_is_either_a_clean_amount_or_a_validation_error(text: str) -> None:
    error: ValidationError | None = None
    try:
        result = canonical_amount(text)
    except ValidationError as exc:
        error = exc
    if error is not None:
        assert error.argument == "amount"
    else:
        assert PLAIN_DECIMAL.fullmatch(result)
        assert Decimal(result) > 0
        assert Decimal(result) == Decimal(text)


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("999999999999999.999999"),  # the longest accepted: 15 + 6 digits, past a float
        Decimal("123456789012345.000001"),
        "100000000000000.000001",
    ],
)
def test_long_amounts_are_never_silently_rounded(amount: Decimal | str) -> None:
    assert canonical_amount(amount) == str(amount)


def test_amounts_past_the_limit_are_refused_not_rounded() -> None:
    with pytest.raises(ValidationError, match="too large"):
        canonical_amount(Decimal("12345678901234567890123.123456"))  # 23 integer digits
    with pytest.raises(ValidationError, match="decimal"):
        canonical_amount(Decimal("1.0000001"))  # 7 decimals


# ------------------------------------------------------------------------ create body

titles = st.text(min_size=1, max_size=80).filter(lambda s: s.strip())
currencies = st.from_regex(r"[A-Z0-9]{2,10}", fullmatch=True)


@given(title=titles, template_id=titles, currency=currencies, amount=valid_amounts)
def test_create_body_is_compact_ordered_utf8_json(
    title: str, template_id: str, currency: str, amount: Decimal
) -> None:
    request = build_create_request(
        title=title, template_id=template_id, currency=currency, amount=amount
    )
    parsed = json.loads(request.body.decode("utf-8"))
    assert list(parsed) == ["title", "templateId", "currency", "amount"]
    assert parsed == {
        "title": title,
        "templateId": template_id,
        "currency": currency,
        "amount": canonical_amount(amount),
    }
    assert request.body == dump_json(parsed)
    assert request.amount == amount
    assert isinstance(request.amount, Decimal)
    assert (request.title, request.template_id, request.currency) == (title, template_id, currency)


@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_dump_json_is_compact_and_round_trips(value: object) -> None:
    body = dump_json(value)
    assert json.loads(body.decode("utf-8")) == value
    assert body == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# Lone surrogates are left out: they cannot be UTF-8 (a ValidationError, tested in
# tests/_async/test_input_validation.py).
non_ascii = st.characters(min_codepoint=0x80, exclude_categories=("Cs",))


@given(text=st.text(alphabet=non_ascii, min_size=1, max_size=20))
def test_dump_json_sends_non_ascii_as_utf8(text: str) -> None:
    body = dump_json({"title": text})
    assert b"\\u" not in body
    assert body == b'{"title":"' + text.encode("utf-8") + b'"}'


@given(
    field=st.sampled_from(["key", "card_number"]),
    value=st.text(alphabet=non_ascii | st.characters(max_codepoint=0x7F), min_size=1, max_size=20),
)
@example(field="key", value="卡密-ключ-é")
def test_a_query_body_is_serialised_as_a_create_body_is(field: str, value: str) -> None:
    """The body of a query by key (kept masked until the wire) is the same bytes as
    dump_json makes: compact, non-ASCII as UTF-8."""
    sealed = sealed_json({field: Secret(value) if field == "key" else value})
    assert sealed.reveal().encode("utf-8") == dump_json({field: value})


# ------------------------------------------------------------------------ currency, lookup


@given(currency=currencies)
def test_valid_currencies_pass_unchanged(currency: str) -> None:
    assert currency_code(currency) == currency


@given(currency=st.text(max_size=15))
def test_currency_is_2_to_10_uppercase_letters_or_digits(currency: str) -> None:
    valid = re.fullmatch(r"[A-Z0-9]{2,10}", currency) is not None
    error: ValidationError | None = None
    try:
        currency_code(currency)
    except ValidationError as exc:
        error = exc
    assert (error is None) == valid
    if error is not None:
        assert error.argument == "currency"


@given(
    card_number=st.one_of(st.none(), st.text(max_size=5)),
    key=st.one_of(st.none(), st.text(max_size=5)),
)
def test_card_lookup_wants_exactly_one_non_empty_value(
    card_number: str | None, key: str | None
) -> None:
    usable = [
        (name, value)
        for name, value in (("card_number", card_number), ("key", key))
        if value is not None
    ]
    try:
        result = card_lookup(card_number, key)
    except ValidationError:
        assert len(usable) != 1 or not usable[0][1].strip()
    else:
        assert len(usable) == 1
        assert result == usable[0]  # a key comes back masked (a Secret), equal to its text
        value = reveal(result[1])
        assert value is not None
        assert value.strip()


# ------------------------------------------------------------------------ amount extremes

# Exponents far outside any decimal context: "1E+999999999", "1e-999999999" and beyond.
huge_exponents = st.integers(min_value=-(10**20), max_value=10**20)
coefficients = st.integers(min_value=0, max_value=10**30)


def _exact(sign: int, coefficient: int, exponent: int) -> Decimal:
    digits = tuple(int(d) for d in str(coefficient))
    return Decimal((sign, digits, exponent))


def _check_amount_or_refusal(amount: object, exact: Decimal | None) -> None:
    """Either an exact, positive, at most 6-decimal amount or a ValidationError naming it."""
    error: ValidationError | None = None
    try:
        text = canonical_amount(amount)
    except ValidationError as exc:
        error = exc
    if error is not None:
        assert error.argument == "amount"
        return
    assert PLAIN_DECIMAL.fullmatch(text), text
    value = Decimal(text)
    assert value >= Decimal("0.000001")  # nothing that rounds to zero is sent
    if exact is not None:
        assert value == exact  # never rounded
    request = build_create_request(title="t", template_id="1", currency="USDT", amount=amount)
    assert json.loads(request.body)["amount"] == text


@given(sign=st.sampled_from([0, 1]), coefficient=coefficients, exponent=huge_exponents)
@example(sign=0, coefficient=1, exponent=999999999)
@example(sign=0, coefficient=1, exponent=-999999999)
@example(sign=0, coefficient=1, exponent=10**18)
@example(sign=0, coefficient=1, exponent=-(10**18))
@example(sign=0, coefficient=0, exponent=-(10**18))
@example(sign=0, coefficient=10**30, exponent=-30)
def test_any_decimal_exponent_is_an_exact_amount_or_a_validation_error(
    sign: int, coefficient: int, exponent: int
) -> None:
    try:
        amount = _exact(sign, coefficient, exponent)
    except ArithmeticError:  # some exponents cannot even be built as a Decimal
        return
    _check_amount_or_refusal(amount, amount)


@given(
    mantissa=st.from_regex(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,8})?|\.[0-9]{1,8})", fullmatch=True),
    exponent=huge_exponents | st.integers(min_value=-30, max_value=30),
    marker=st.sampled_from(["e", "E", "e+", "E+"]),
)
@example(mantissa="1", exponent=999999999, marker="E+")
@example(mantissa="1", exponent=-999999999, marker="e")
@example(mantissa="1", exponent=1000000000000000000, marker="E+")
def test_any_exponent_in_text_is_an_exact_amount_or_a_validation_error(
    mantissa: str, exponent: int, marker: str
) -> None:
    text = f"{mantissa}{marker}{exponent}".replace("+-", "-")
    try:
        exact: Decimal | None = Decimal(text)
    except ArithmeticError:
        exact = None
    _check_amount_or_refusal(text, exact)


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        (Decimal("1E+999999999"), "too large"),
        ("1E+999999999", "too large"),
        ("1e-999999999", "too small"),
        (Decimal("1e-999999999"), "too small"),
        ("1E+1000000000000000000", "out of range"),
        ("1E-1000000000000000000", "too small"),
        ("0.0000001", "too small"),
        (Decimal("0E-999999999"), "greater than 0"),
        (10**400, "too large"),
        ("1" + "0" * 200, "not a decimal number"),
    ],
    ids=lambda value: str(value)[:24],
)
def test_amount_extremes_name_the_argument(amount: object, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_amount(amount)
    assert info.value.argument == "amount"
    assert why in info.value.reason
    assert len(str(info.value)) < 200  # a huge amount is not echoed whole
