"""Bad arguments are refused with a ValidationError naming them, before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gatepay_async import ValidationError
from tests.helpers import (
    CARD_KEY,
    CARD_NUMBER,
    TEMPLATE_ID,
    Recorder,
    card_data,
    success,
)
from tests.secret_leaks import leaked_pieces, raised_texts

from .conftest import mock_client

VALID_CREATE: dict[str, Any] = {
    "title": "Holiday",
    "template_id": TEMPLATE_ID,
    "currency": "USDT",
    "amount": Decimal("0.99"),
}


async def create_with(**overrides: Any) -> tuple[ValidationError, Recorder]:
    """Create with one argument replaced; return the ValidationError and the recorder."""
    recorder = Recorder(success(card_data()))
    arguments = {**VALID_CREATE, **overrides}
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as info:
            await gp.gift_cards.create(**arguments)
        error = info.value
    return error, recorder


# ------------------------------------------------------------------------ amount


@pytest.mark.anyio
@pytest.mark.parametrize(
    "amount",
    [
        0.99,
        1.0,
        True,
        False,
        None,
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "NaN",
        "Infinity",
        0,
        Decimal("0"),
        "0.000",
        -1,
        Decimal("-0.5"),
        "-1",
        Decimal("0.0000001"),
        "1.1234567",
        "abc",
        "",
        "  ",
        "1,5",
        [1],
        {"amount": "1"},
        b"1",
    ],
    ids=repr,
)
async def test_bad_amount_is_refused(amount: Any) -> None:
    error, recorder = await create_with(amount=amount)
    assert error.argument == "amount"
    assert str(error).startswith("amount")
    assert isinstance(error, ValueError)
    assert recorder.count == 0


@pytest.mark.anyio
async def test_float_amount_message_explains_why() -> None:
    error, recorder = await create_with(amount=0.99)
    assert "float" in str(error)
    assert recorder.count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "amount", [Decimal("0.000001"), "0.000001", 1, "5000000", Decimal("1.100000")], ids=repr
)
async def test_edge_amounts_are_accepted(amount: Any) -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.create(**{**VALID_CREATE, "amount": amount})
    assert recorder.count == 1


# ------------------------------------------------------------------------ other create arguments


@pytest.mark.anyio
@pytest.mark.parametrize("title", ["", "  ", "\t\n", 5, None, b"title"], ids=repr)
async def test_bad_title_is_refused(title: Any) -> None:
    error, recorder = await create_with(title=title)
    assert error.argument == "title"
    assert "title" in str(error)
    assert recorder.count == 0


@pytest.mark.anyio
@pytest.mark.parametrize("template_id", ["", " ", 255267012439183360, None], ids=repr)
async def test_bad_template_id_is_refused(template_id: Any) -> None:
    error, recorder = await create_with(template_id=template_id)
    assert error.argument == "template_id"
    assert "template_id" in str(error)
    assert recorder.count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "currency", ["usdt", "U", "TOOLONGCURRENCY", "US-D", "", "US D", "ÜSDT", 840, None], ids=repr
)
async def test_bad_currency_is_refused(currency: Any) -> None:
    error, recorder = await create_with(currency=currency)
    assert error.argument == "currency"
    assert "currency" in str(error)
    assert recorder.count == 0


@pytest.mark.anyio
async def test_lowercase_currency_error_suggests_the_fix() -> None:
    error, _ = await create_with(currency="usdt")
    assert "USDT" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("currency", ["USDT", "USD", "EUR", "BTC", "U2", "ABCDEFGHIJ"])
async def test_good_currencies_are_accepted(currency: str) -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.create(**{**VALID_CREATE, "currency": currency})
    assert recorder.count == 1
    assert recorder.sent[0].json()["currency"] == currency


# ------------------------------------------------------------------------ card_number / key


LOOKUPS: list[tuple[dict[str, Any], str]] = [
    ({}, "card_number"),
    ({"card_number": None, "key": None}, "card_number"),
    ({"card_number": CARD_NUMBER, "key": CARD_KEY}, "card_number"),
    ({"card_number": "", "key": CARD_KEY}, "card_number"),
    ({"card_number": ""}, "card_number"),
    ({"card_number": "   "}, "card_number"),
    ({"key": ""}, "key"),
    ({"key": " "}, "key"),
    ({"card_number": 12345}, "card_number"),
    ({"key": 12345}, "key"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("kwargs", "named"), LOOKUPS)
async def test_query_needs_exactly_one_of_card_number_or_key(
    kwargs: dict[str, Any], named: str
) -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as info:
            await gp.gift_cards.query(**kwargs)
        assert named in info.value.argument
    assert named in str(info.value)
    assert recorder.count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(("kwargs", "named"), LOOKUPS)
async def test_balance_needs_exactly_one_of_card_number_or_key(
    kwargs: dict[str, Any], named: str
) -> None:
    recorder = Recorder(success({"cardNumber": CARD_NUMBER, "amount": "1"}))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as info:
            await gp.gift_cards.balance(**kwargs)
        assert named in info.value.argument
    assert named in str(info.value)
    assert recorder.count == 0


@pytest.mark.anyio
async def test_both_card_number_and_key_says_so() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as info:
            await gp.gift_cards.query(card_number=CARD_NUMBER, key=CARD_KEY)
        assert "card_number" in str(info.value)
    assert "key" in str(info.value)
    assert "both" in str(info.value)
    assert not leaked_pieces(CARD_KEY, raised_texts(info.value))
    assert recorder.count == 0


@pytest.mark.anyio
async def test_validation_errors_do_not_poison_the_client() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError):
            await gp.gift_cards.query()
        card = await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert card.card_number == CARD_NUMBER
    assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("argument", ["title", "template_id"])
async def test_text_that_cannot_be_utf8_encoded_is_a_validation_error(argument: str) -> None:
    error, recorder = await create_with(**{argument: "Holiday \ud83c"})
    assert error.argument == argument
    assert recorder.count == 0


@pytest.mark.anyio
async def test_query_key_that_cannot_be_utf8_encoded_is_a_validation_error() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as info:
            await gp.gift_cards.query(key="KEY\udc80")
        assert info.value.argument == "key"
    assert recorder.count == 0
