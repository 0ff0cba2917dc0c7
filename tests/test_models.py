"""Decoding envelope data into GiftCard, GiftCardBalance and GiftCardTemplate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepay_async import (
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    ResponseValidationError,
)
from gatepay_async._wire.decoding import decode_balance, decode_card, decode_templates
from gatepay_async._wire.envelope import parse_json
from tests.secret_leaks import leaked_pieces

UTC = dt.timezone.utc
KEY = "KEYabcdefghijklmnopqrstuvwxyz0123456789"


def json_data(text: str) -> Any:
    """Data as the client parses it off the wire (numbers with a fraction are Decimal)."""
    return parse_json(text.encode("utf-8"))


# ------------------------------------------------------------------------ GiftCard spellings


@pytest.mark.parametrize("spelling", ["card_num", "cardNumber", "card_number"])
def test_card_number_spellings(spelling: str) -> None:
    card = decode_card({spelling: "GC1"})
    assert card.card_number == "GC1"
    assert spelling not in card.extra


@pytest.mark.parametrize("spelling", ["card_key", "key"])
def test_card_key_spellings(spelling: str) -> None:
    card = decode_card({"card_num": "GC1", spelling: KEY})
    assert card.key == KEY
    assert card.extra == {}


@pytest.mark.parametrize("spelling", ["card_temp_id", "templateId"])
def test_template_id_spellings(spelling: str) -> None:
    card = decode_card({"card_num": "GC1", spelling: "255267012439183360"})
    assert card.template_id == "255267012439183360"


def test_numeric_ids_become_text() -> None:
    card = decode_card(json_data('{"card_num": 123456, "card_temp_id": 255267012439183360}'))
    assert card.card_number == "123456"
    assert card.template_id == "255267012439183360"


def test_seed_003_create_response() -> None:
    card = decode_card(
        json_data(
            """{"card_num": "GC9", "card_key": "KEY", "amount": "10.5", "currency": "USDT",
            "status": 1, "card_temp_id": "T1", "creator": 10001, "creator_name": "shop",
            "exchange_uid": 0, "owner": 20002, "give_count": 3,
            "last_give_time": 1737942105582, "create_time": 1737942000000}""".replace("KEY", KEY)
        )
    )
    assert card.card_number == "GC9"
    assert card.key == KEY
    assert card.amount == Decimal("10.5")
    assert card.currency == "USDT"
    assert card.status is GiftCardStatus.PENDING_PAYMENT
    assert card.raw_status == 1
    assert card.template_id == "T1"
    assert card.creator == 10001
    assert card.creator_name == "shop"
    assert card.exchange_uid == 0
    assert card.owner == 20002
    assert card.give_count == 3
    assert card.last_given_at == dt.datetime(2025, 1, 27, 1, 41, 45, 582000, tzinfo=UTC)
    assert card.created_at == dt.datetime(2025, 1, 27, 1, 40, tzinfo=UTC)
    assert card.exchanged_at is None
    assert card.extra == {}


def test_seed_004_query_response() -> None:
    card = decode_card(
        {
            "card_num": "GC9",
            "key": KEY,
            "title": "Holiday",
            "creator_name": "shop",
            "amount": "1",
            "status": 3,
            "currency": "USDT",
            "card_temp_id": "T1",
            "create_time": 1737942000000,
            "exchange_uid": 555,
            "exchange_time": 1737942105582,
        }
    )
    assert card.title == "Holiday"
    assert card.status is GiftCardStatus.REDEEMED
    assert card.exchange_uid == 555
    assert card.exchanged_at == dt.datetime(2025, 1, 27, 1, 41, 45, 582000, tzinfo=UTC)


def test_seed_001_bare_example() -> None:
    card = decode_card(
        {"cardNumber": "GC1234567890123456", "key": "KEY_abc123def456", "status": "CREATED"}
    )
    assert card.card_number == "GC1234567890123456"
    assert card.key == "KEY_abc123def456"
    assert card.status is GiftCardStatus.CREATED
    assert card.raw_status == "CREATED"
    assert card.amount is None


# ------------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"0.99"', Decimal("0.99")),
        ("0.99", Decimal("0.99")),
        ("0.1", Decimal("0.1")),
        ("100", Decimal("100")),
        ('"100"', Decimal("100")),
        ("1e2", Decimal("1e2")),
        ('"0.000001"', Decimal("0.000001")),
    ],
)
def test_amounts_are_exact_decimals(text: str, expected: Decimal) -> None:
    card = decode_card(json_data('{"card_num": "C", "amount": ' + text + "}"))
    assert type(card.amount) is Decimal
    assert card.amount == expected
    assert not isinstance(card.amount, float)


def test_json_number_amount_keeps_its_exact_digits() -> None:
    card = decode_card(json_data('{"card_num": "C", "amount": 0.99}'))
    assert str(card.amount) == "0.99"  # a float would be 0.9899999999999999911182158029987...
    assert card.amount == Decimal("0.99")


@pytest.mark.parametrize("amount", [None, ""])
def test_missing_amount_is_none(amount: Any) -> None:
    assert decode_card({"card_num": "C", "amount": amount}).amount is None


@pytest.mark.parametrize("amount", ["abc", "NaN", "Infinity", [1], {"v": 1}, True, 0.99], ids=repr)
def test_an_unreadable_amount_is_none_with_its_raw_value_kept(amount: Any) -> None:
    # amount is description: the card (number, key) must survive an odd amount
    card = decode_card({"card_num": "C", "card_key": KEY, "amount": amount})
    assert card.amount is None
    assert card.extra["amount"] == amount
    assert card.key == KEY


# ------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize("value", [1737942105582, "1737942105582", Decimal("1737942105582")])
def test_millisecond_timestamps_become_aware_utc_datetimes(value: Any) -> None:
    card = decode_card({"card_num": "C", "create_time": value})
    assert card.created_at == dt.datetime(2025, 1, 27, 1, 41, 45, 582000, tzinfo=UTC)
    assert card.created_at is not None
    assert card.created_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("value", [0, "0", None, ""])
def test_zero_or_missing_timestamp_is_none(value: Any) -> None:
    card = decode_card(
        {"card_num": "C", "create_time": value, "exchange_time": value, "last_give_time": value}
    )
    assert card.created_at is None
    assert card.exchanged_at is None
    assert card.last_given_at is None


@pytest.mark.parametrize(
    ("spelling", "field"), [("createTime", "created_at"), ("exchangeTime", "exchanged_at")]
)
def test_camel_case_timestamps(spelling: str, field: str) -> None:
    card = decode_card({"cardNumber": "C", spelling: 1737942105582})
    assert getattr(card, field) == dt.datetime(2025, 1, 27, 1, 41, 45, 582000, tzinfo=UTC)


def test_iso_timestamp_is_aware() -> None:
    card = decode_card({"card_num": "C", "create_time": "2025-01-27T01:41:45Z"})
    assert card.created_at == dt.datetime(2025, 1, 27, 1, 41, 45, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", True, [1], 10**20])
def test_an_unreadable_timestamp_is_none_with_its_raw_value_kept(value: Any) -> None:
    card = decode_card({"card_num": "C", "create_time": value})
    assert card.created_at is None
    assert card.extra["create_time"] == value


# ------------------------------------------------------------------------ status


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, GiftCardStatus.UNKNOWN),
        (1, GiftCardStatus.PENDING_PAYMENT),
        (2, GiftCardStatus.NOT_REDEEMED),
        (3, GiftCardStatus.REDEEMED),
        (4, GiftCardStatus.FROZEN),
        (5, GiftCardStatus.PAYMENT_FAILED),
        (6, GiftCardStatus.MANUAL_REVIEW),
        (7, GiftCardStatus.REVIEW_REJECTED),
        (8, GiftCardStatus.REVIEW_PAYMENT_FAILED),
    ],
)
def test_integer_statuses(code: int, status: GiftCardStatus) -> None:
    card = decode_card({"card_num": "C", "status": code})
    assert card.status is status
    assert card.raw_status == code
    assert decode_card({"card_num": "C", "status": str(code)}).status is status


@pytest.mark.parametrize("name", ["CREATED", "REDEEMED", "EXPIRED", "CANCELLED"])
def test_string_statuses(name: str) -> None:
    card = decode_card({"cardNumber": "C", "status": name})
    assert card.status is GiftCardStatus[name]
    assert card.raw_status == name


@pytest.mark.parametrize("raw", [9, 42, -1, "ACTIVATED", "what", 1.5, [3], {"s": 1}, True])
def test_unknown_status_is_kept_raw(raw: Any) -> None:
    card = decode_card({"card_num": "C", "status": raw})
    assert card.status is GiftCardStatus.UNKNOWN
    assert card.raw_status == raw


@pytest.mark.parametrize("raw", ["²", "1" * 5000], ids=["superscript_two", "5000_digits"])
def test_odd_digit_statuses_are_unknown_not_a_crash(raw: str) -> None:
    assert GiftCardStatus.parse(raw) is GiftCardStatus.UNKNOWN
    card = decode_card({"card_num": "C", "status": raw})
    assert card.status is GiftCardStatus.UNKNOWN
    assert card.raw_status == raw


@given(
    raw=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(alphabet="0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefz_-", max_size=20),
    )
)
def test_status_parse_never_raises(raw: object) -> None:
    status = GiftCardStatus.parse(raw)
    assert isinstance(status, GiftCardStatus)
    card = decode_card({"card_num": "C", "status": raw})
    assert card.status is status
    assert card.raw_status == raw


def test_missing_status() -> None:
    card = decode_card({"card_num": "C"})
    assert card.status is GiftCardStatus.UNKNOWN
    assert card.raw_status is None


def test_status_enum_members() -> None:
    assert [m.value for m in GiftCardStatus][:9] == list(range(9))
    for name in ("CREATED", "EXPIRED", "CANCELLED"):
        assert GiftCardStatus[name].value == name


# ------------------------------------------------------------------------ extra, repr


def test_unknown_fields_are_kept_in_extra() -> None:
    card = decode_card(
        json_data('{"card_num": "C", "new_field": {"nested": [1, 2]}, "promo": "X", "rate": 1.5}')
    )
    assert card.extra == {"new_field": {"nested": [1, 2]}, "promo": "X", "rate": Decimal("1.5")}


def test_repr_masks_the_card_key() -> None:
    card = decode_card({"card_num": "GC1", "card_key": KEY, "amount": "1"})
    text = repr(card)
    assert not leaked_pieces(KEY, text)
    assert KEY[:4] + "…" in text
    assert KEY[:5] not in text
    assert "GC1" in text
    assert not leaked_pieces(KEY, str(card))
    assert card.key == KEY  # masked only in the repr


def test_repr_keeps_unknown_fields_out() -> None:
    card = decode_card({"card_num": "GC1", "secret_thing": "do-not-print"})
    assert "do-not-print" not in repr(card)


def test_models_are_frozen() -> None:
    card = decode_card({"card_num": "GC1"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        card.card_number = "other"  # type: ignore[misc]


def test_models_are_built_with_snake_case_keywords() -> None:
    card = GiftCard(card_number="C", key=KEY, amount=Decimal("1"))
    assert card.card_number == "C"
    assert card.extra == {}
    template = GiftCardTemplate(template_id="T")
    assert template.name == ""
    assert GiftCardBalance().balances == {}


# ------------------------------------------------------------------------ bad shapes


@pytest.mark.parametrize("data", [None, "", "GC1", [{"card_num": "C"}], 5])
def test_card_data_must_be_an_object(data: Any) -> None:
    with pytest.raises(ResponseValidationError):
        decode_card(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"card_key": KEY},
        {"card_num": {"a": 1}},
    ],
)
def test_malformed_card_is_response_validation_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode_card(data)
    assert type(info.value) is ResponseValidationError


@pytest.mark.parametrize(
    ("data", "field", "wire"),
    [
        ({"give_count": "many"}, "give_count", "give_count"),
        ({"creator": [1]}, "creator", "creator"),
        ({"currency": {"code": "USDT"}}, "currency", "currency"),
        ({"title": ["a"]}, "title", "title"),
        ({"lastGiveTime": "last tuesday"}, "last_given_at", "lastGiveTime"),
    ],
)
def test_an_unreadable_description_field_is_none_and_kept_in_extra(
    data: dict[str, Any], field: str, wire: str
) -> None:
    card = decode_card({"card_num": "C", "card_key": KEY, "amount": "1.5", **data})
    assert getattr(card, field) is None
    assert card.extra[wire] == data[wire]
    assert (card.card_number, card.key, card.amount) == ("C", KEY, Decimal("1.5"))


# ------------------------------------------------------------------------ balance


def test_balance_per_card_shape() -> None:
    balance = decode_balance(
        json_data('{"cardNumber": "GC1", "currency": "USDT", "amount": 12.5, "status": "CREATED"}')
    )
    assert balance.card_number == "GC1"
    assert balance.currency == "USDT"
    assert balance.amount == Decimal("12.5")
    assert type(balance.amount) is Decimal
    assert balance.status is GiftCardStatus.CREATED
    assert balance.balances == {}


@pytest.mark.parametrize("spelling", ["amount", "balance", "available"])
def test_balance_amount_spellings(spelling: str) -> None:
    assert decode_balance({"card_num": "GC1", spelling: "3.5"}).amount == Decimal("3.5")


def test_balance_per_currency_list_shape() -> None:
    balance = decode_balance(
        json_data(
            '[{"currency": "USDT", "available": "12.5"}, {"currency": "BTC", "amount": 0.001},'
            ' {"currency": "EUR", "balance": "0"}]'
        )
    )
    assert balance.balances == {
        "USDT": Decimal("12.5"),
        "BTC": Decimal("0.001"),
        "EUR": Decimal("0"),
    }
    assert all(type(v) is Decimal for v in balance.balances.values())
    assert balance.amount is None


def test_balance_balances_as_object() -> None:
    balance = decode_balance({"balances": {"USDT": "1.5", "EUR": 2}})
    assert balance.balances == {"USDT": Decimal("1.5"), "EUR": Decimal("2")}


def test_balance_keeps_unknown_fields() -> None:
    balance = decode_balance({"cardNumber": "GC1", "amount": "1", "frozen": "0.5"})
    assert balance.extra == {"frozen": "0.5"}


@pytest.mark.parametrize(
    "data",
    [
        None,
        "x",
        [{"available": "1"}],
        [{"currency": "USDT", "available": "lots"}],
        ["USDT"],
        {"amount": "lots"},
        {"balances": "USDT"},
    ],
)
def test_bad_balance_is_response_validation_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError):
        decode_balance(data)


# ------------------------------------------------------------------------ templates


def test_templates_seed_000_spelling() -> None:
    (template,) = decode_templates(
        [
            {
                "templateId": "T1",
                "templateName": "Holiday",
                "coverUrl": "https://img.test/1.png",
                "status": "ACTIVE",
            }
        ]
    )
    assert template.template_id == "T1"
    assert template.name == "Holiday"
    assert template.cover_url == "https://img.test/1.png"
    assert template.status == "ACTIVE"
    assert template.extra == {}


def test_templates_official_sdk_spelling() -> None:
    (template,) = decode_templates(
        json_data(
            '[{"card_temp_id": 255267012439183360, "image_url": "https://img.test/2.png",'
            ' "title_en": "Holiday", "title_cn": "节日", "cover_type": "1", "sort": 3}]'
        )
    )
    assert template.template_id == "255267012439183360"
    assert template.cover_url == "https://img.test/2.png"
    assert template.title_en == "Holiday"
    assert template.title_cn == "节日"
    assert template.cover_type == "1"
    assert template.extra == {"sort": 3}


@pytest.mark.parametrize("wrapper", ["list", "templates"])
def test_templates_wrapped_in_an_object(wrapper: str) -> None:
    templates = decode_templates({wrapper: [{"templateId": "T1"}, {"templateId": "T2"}], "n": 2})
    assert [t.template_id for t in templates] == ["T1", "T2"]
    assert all(isinstance(t, GiftCardTemplate) for t in templates)


@pytest.mark.parametrize("data", [None, []])
def test_no_templates(data: Any) -> None:
    assert decode_templates(data) == []


@pytest.mark.parametrize(
    "data", ["x", 5, {"count": 1}, [{"templateName": "no id"}], ["T1"], {"list": [None]}]
)
def test_bad_templates_are_response_validation_errors(data: Any) -> None:
    with pytest.raises(ResponseValidationError):
        decode_templates(data)
