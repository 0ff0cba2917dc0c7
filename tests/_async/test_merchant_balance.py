"""merchant_balance(), per-currency balance() answers, GATEPAY_API_KEY and custom paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gatepay_async import (
    AsyncGatePay,
    GiftCardBalance,
    MerchantBalance,
    PathSet,
    ResponseValidationError,
    ValidationError,
)
from gatepay_async.sandbox import SandboxServer
from gatepay_async.sandbox._config import DEFAULT_BALANCES
from tests.helpers import (
    CARD_KEY,
    CARD_NUMBER,
    CLIENT_ID,
    SECRET_KEY,
    Recorder,
    assert_signed,
    success,
)

from .conftest import client_at, mock_client

# ------------------------------------------------------------------------ merchant_balance


@pytest.mark.anyio
async def test_merchant_balance_is_a_get_without_parameters_and_reads_the_flat_object() -> None:
    recorder = Recorder(success({"USDT": "12.50", "BTC": "0.001"}))
    async with mock_client(recorder) as gp:
        funds = await gp.gift_cards.merchant_balance()
    assert isinstance(funds, MerchantBalance)
    assert funds.balances == {"USDT": Decimal("12.50"), "BTC": Decimal("0.001")}
    assert all(type(v) is Decimal for v in funds.balances.values())
    assert funds.extra == {}
    sent = recorder.sent[0]
    assert (sent.method, sent.path, sent.params, sent.content) == (
        "GET",
        "/v1/pay/balance",
        {},
        b"",
    )
    assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("data", "balances", "extra"),
    [
        pytest.param(
            [{"currency": "USDT", "available": "12.50"}, {"currency": "BTC", "amount": "0.001"}],
            {"USDT": Decimal("12.50"), "BTC": Decimal("0.001")},
            {},
            id="list-of-entries",
        ),
        pytest.param(
            [{"currency": "USDT", "balance": "1", "frozen": "0.5"}],
            {"USDT": Decimal("1")},
            {"USDT": {"frozen": "0.5"}},
            id="entry-fields-kept",
        ),
        pytest.param(
            {"USDT": 12, "ETH": 0.5},  # parsed as Decimal, never float
            {"USDT": Decimal("12"), "ETH": Decimal("0.5")},
            {},
            id="json-numbers",
        ),
        pytest.param(
            {"USDT": {"available": "3", "frozen": "1"}},
            {"USDT": Decimal("3")},
            {"USDT": {"frozen": "1"}},
            id="per-currency-objects",
        ),
        pytest.param(
            {"list": [{"currency": "GT", "available": "7"}], "uid": 10002},
            {"GT": Decimal("7")},
            {"uid": 10002},
            id="wrapped-list",
        ),
        pytest.param({}, {}, {}, id="no-currency"),
        pytest.param(
            {"USDT": "1", "uid": 10002, "updateTime": 1737942105582},
            {"USDT": Decimal("1")},
            {"uid": 10002, "updateTime": 1737942105582},
            id="non-currency-keys-kept-in-extra",
        ),
    ],
)
async def test_merchant_balance_shapes(
    data: Any, balances: dict[str, Decimal], extra: dict[str, Any]
) -> None:
    async with mock_client(Recorder(success(data))) as gp:
        funds = await gp.gift_cards.merchant_balance()
    assert (funds.balances, funds.extra) == (balances, extra)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"USDT": "12.50", "BTC": "lots"}, id="not-a-decimal"),
        pytest.param({"USDT": "NaN"}, id="nan"),
        pytest.param({"USDT": None}, id="null"),
        pytest.param({"USDT": True}, id="bool"),
        pytest.param([{"currency": "USDT"}], id="entry-without-amount"),
        pytest.param([{"available": "1"}], id="entry-without-currency"),
        pytest.param(
            [{"currency": "USDT", "available": "1"}, {"currency": "USDT", "available": "2"}],
            id="currency-twice",
        ),
        pytest.param(None, id="no-data"),
        pytest.param("USDT", id="a-string"),
    ],
)
async def test_a_currency_never_silently_vanishes(data: Any) -> None:
    async with mock_client(Recorder(success(data))) as gp:
        with pytest.raises(ResponseValidationError):
            await gp.gift_cards.merchant_balance()


@pytest.mark.anyio
@pytest.mark.parametrize("on_behalf_of", [None, "sub-account-7"])
async def test_merchant_balance_from_the_sandbox_over_http(
    sandbox: SandboxServer, on_behalf_of: str | None
) -> None:
    async with client_at(sandbox.url, on_behalf_of=on_behalf_of, timeout=5.0) as gp:
        funds = await gp.gift_cards.merchant_balance()
    assert funds.balances == {currency: Decimal(amount) for currency, amount in DEFAULT_BALANCES}
    assert funds.extra == {}
    assert sandbox.sandbox.attempts("balance") == 1


# ------------------------------------------------------------------------ balance()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"USDT": "12.50", "BTC": "0.001"}, id="flat-object"),
        pytest.param(
            [{"currency": "USDT", "available": "12.50"}, {"currency": "BTC", "available": "0.001"}],
            id="list",
        ),
        pytest.param({"balances": {"USDT": "12.50", "BTC": "0.001"}}, id="nested"),
    ],
)
async def test_card_balance_per_currency_answer_fills_balances(data: Any) -> None:
    async with mock_client(Recorder(success(data))) as gp:
        balance = await gp.gift_cards.balance(card_number=CARD_NUMBER)
    assert isinstance(balance, GiftCardBalance)
    assert balance.balances == {"USDT": Decimal("12.50"), "BTC": Decimal("0.001")}
    assert balance.extra == {}


@pytest.mark.anyio
async def test_card_balance_with_unknown_field_names_is_not_read_as_currencies() -> None:
    data = {"cardNo": CARD_NUMBER, "remain": "1.5"}
    async with mock_client(Recorder(success(data))) as gp:
        balance = await gp.gift_cards.balance(card_number=CARD_NUMBER)
    assert balance.balances == {}
    assert balance.extra == data


@pytest.mark.anyio
async def test_card_balance_keeps_entry_fields() -> None:
    data = {"cardNumber": CARD_NUMBER, "balances": [{"currency": "USDT", "amount": "1", "x": 2}]}
    async with mock_client(Recorder(success(data))) as gp:
        balance = await gp.gift_cards.balance(key=CARD_KEY)
    assert balance.card_number == CARD_NUMBER
    assert balance.balances == {"USDT": Decimal("1")}
    assert balance.extra == {"balances": {"USDT": {"x": 2}}}


@pytest.mark.anyio
async def test_card_balance_with_a_bad_currency_amount_raises() -> None:
    async with mock_client(Recorder(success({"USDT": "12.50", "BTC": "?"}))) as gp:
        with pytest.raises(ResponseValidationError):
            await gp.gift_cards.balance(card_number=CARD_NUMBER)


@pytest.mark.anyio
async def test_card_balance_single_shape_is_unchanged() -> None:
    data = {"cardNumber": CARD_NUMBER, "currency": "USDT", "amount": "0.99", "status": 2}
    async with mock_client(Recorder(success(data))) as gp:
        balance = await gp.gift_cards.balance(card_number=CARD_NUMBER)
    assert (balance.card_number, balance.currency, balance.amount) == (
        CARD_NUMBER,
        "USDT",
        Decimal("0.99"),
    )
    assert balance.balances == {}


# ------------------------------------------------------------------------ GATEPAY_API_KEY


@pytest.mark.anyio
async def test_api_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_API_KEY", "env-api-key-1")
    recorder = Recorder(success({"card_num": CARD_NUMBER, "key": CARD_KEY}), success({}))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.query(card_number=CARD_NUMBER)
        await gp.gift_cards.merchant_balance()
        assert "env-api-key-1" not in repr(gp)
    post, get = recorder.sent
    assert post.headers["X-GatePay-Certificate-SN"] == "env-api-key-1"
    assert "X-GatePay-Certificate-SN" not in get.headers


@pytest.mark.anyio
async def test_the_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPAY_API_KEY", "env-api-key-1")
    recorder = Recorder(success({"card_num": CARD_NUMBER, "key": CARD_KEY}))
    async with mock_client(recorder, api_key="argument-key") as gp:
        await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert recorder.sent[0].headers["X-GatePay-Certificate-SN"] == "argument-key"


@pytest.mark.anyio
@pytest.mark.parametrize("value", [None, ""])
async def test_no_api_key_means_no_certificate_sn(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("GATEPAY_API_KEY", value)
    recorder = Recorder(success({"card_num": CARD_NUMBER, "key": CARD_KEY}))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert "X-GatePay-Certificate-SN" not in recorder.sent[0].headers


# ------------------------------------------------------------------------ custom paths


@pytest.mark.anyio
async def test_a_custom_path_set_is_used_for_every_operation() -> None:
    paths = PathSet.institution().replace(templates="/custom/templates", balance="/custom/funds")
    recorder = Recorder(success({"USDT": "1"}), success([]), success({"card_num": "1", "key": "k"}))
    async with mock_client(recorder, on_behalf_of="sub-1", paths=paths) as gp:
        await gp.gift_cards.merchant_balance()
        await gp.gift_cards.list_templates()
        await gp.gift_cards.query(card_number="1")
    assert [s.path for s in recorder.sent] == [
        "/custom/funds",
        "/custom/templates",
        "/payment/open/institution/v1/pay/gift/query",
    ]
    assert all(s.headers["X-GatePay-On-Behalf-Of"] == "sub-1" for s in recorder.sent)


def test_default_path_sets() -> None:
    assert PathSet.merchant().balance == "/v1/pay/balance"
    assert PathSet.institution().templates == "/payment/open/institution/v1/pay/gift/temp/list"


@pytest.mark.parametrize("bad", ["relative/path", "/x?y=1", ""])
def test_a_path_must_be_absolute(bad: str) -> None:
    with pytest.raises(ValueError, match=r"PathSet\.balance"):
        PathSet.merchant().replace(balance=bad)


def test_paths_must_be_a_path_set() -> None:
    with pytest.raises(ValidationError) as info:
        AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, paths={"create": "/x"})  # type: ignore[arg-type]
    assert info.value.argument == "paths"
