"""What goes over the wire: paths, bodies byte for byte, headers and signatures."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async import AsyncGatePay, GiftCard, GiftCardBalance, GiftCardStatus
from gatepay_async._http.signing import sign
from tests.helpers import (
    BASE_URL,
    CARD_KEY,
    CARD_NUMBER,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    Recorder,
    assert_signed,
    card_data,
    raw,
    success,
    use_fast_backoff,
)

from .conftest import answer_for, call, mock_client

OPERATIONS = [
    "create",
    "query_card_number",
    "query_key",
    "balance_card_number",
    "balance_key",
    "list_templates",
]
POST_OPERATIONS = ["create", "query_card_number", "query_key"]
GET_OPERATIONS = ["balance_card_number", "balance_key", "list_templates"]


# ------------------------------------------------------------------------ create


@pytest.mark.anyio
async def test_create_sends_compact_body_in_gatepay_field_order() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        card = await gp.gift_cards.create(
            title="api create gift card1",
            template_id=TEMPLATE_ID,
            currency="USDT",
            amount=Decimal("0.99"),
        )
    assert isinstance(card, GiftCard)
    assert recorder.count == 1
    sent = recorder.sent[0]
    assert sent.method == "POST"
    assert str(sent.url) == BASE_URL + "/v1/pay/gift/create"
    assert sent.content == (
        b'{"title":"api create gift card1","templateId":"255267012439183360",'
        b'"currency":"USDT","amount":"0.99"}'
    )


@pytest.mark.anyio
async def test_create_signature_covers_the_exact_bytes_sent() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        await call(gp, "create")
    sent = recorder.sent[0]
    headers = sent.headers
    expected = sign(
        SECRET_KEY, headers["X-GatePay-Timestamp"], headers["X-GatePay-Nonce"], sent.content
    )
    assert headers["X-GatePay-Signature"] == expected
    # A signature over anything else (say the body re-serialised with spaces) would differ.
    spaced = json.dumps(json.loads(sent.content)).encode()
    assert spaced != sent.content
    assert headers["X-GatePay-Signature"] != sign(
        SECRET_KEY, headers["X-GatePay-Timestamp"], headers["X-GatePay-Nonce"], spaced
    )


@pytest.mark.anyio
async def test_create_returns_the_decoded_card() -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        card = await call(gp, "create")
    assert card.card_number == CARD_NUMBER
    assert card.key == CARD_KEY
    assert card.amount == Decimal("0.99")
    assert card.status is GiftCardStatus.NOT_REDEEMED
    assert card.template_id == TEMPLATE_ID


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("0.990"), "0.99"),
        (5, "5"),
        ("12.5", "12.5"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("5000000"), "5000000"),
    ],
)
async def test_create_sends_the_canonical_amount(amount: Any, wire: str) -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.create(
            title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount=amount
        )
    body = recorder.sent[0].content
    assert f'"amount":"{wire}"'.encode() in body
    assert recorder.sent[0].json()["amount"] == wire
    assert_signed(recorder.sent[0])


@pytest.mark.anyio
async def test_non_ascii_title_is_sent_as_utf8_and_signed_over_those_bytes() -> None:
    title = "Grüße 🎁 礼品卡"
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.create(
            title=title, template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
    sent = recorder.sent[0]
    assert title.encode("utf-8") in sent.content
    assert b"\\u" not in sent.content
    assert sent.content.decode("utf-8") == (
        '{"title":"' + title + '","templateId":"' + TEMPLATE_ID + '","currency":"USDT",'
        '"amount":"1"}'
    )
    assert_signed(sent)


# ------------------------------------------------------------------------ reads


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"card_number": CARD_NUMBER}, b'{"card_number":"' + CARD_NUMBER.encode() + b'"}'),
        ({"key": CARD_KEY}, b'{"key":"' + CARD_KEY.encode() + b'"}'),
    ],
)
async def test_query_posts_a_json_body(kwargs: dict[str, str], body: bytes) -> None:
    recorder = Recorder(success(card_data()))
    async with mock_client(recorder) as gp:
        card = await gp.gift_cards.query(**kwargs)
    assert card.card_number == CARD_NUMBER
    sent = recorder.sent[0]
    assert sent.method == "POST"
    assert str(sent.url) == BASE_URL + "/v1/pay/gift/query"
    assert sent.content == body
    assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({"card_number": CARD_NUMBER}, {"cardNumber": CARD_NUMBER}),
        ({"key": CARD_KEY}, {"key": CARD_KEY}),
    ],
)
async def test_balance_is_a_get_with_one_query_parameter(
    kwargs: dict[str, str], params: dict[str, str]
) -> None:
    recorder = Recorder(success({"cardNumber": CARD_NUMBER, "currency": "USDT", "amount": "3"}))
    async with mock_client(recorder) as gp:
        balance = await gp.gift_cards.balance(**kwargs)
    assert isinstance(balance, GiftCardBalance)
    assert balance.amount == Decimal("3")
    sent = recorder.sent[0]
    assert sent.method == "GET"
    assert sent.path == "/v1/pay/balance"
    assert sent.params == params
    assert sent.content == b""
    assert_signed(sent)


@pytest.mark.anyio
async def test_list_templates_is_a_get_without_body_or_query() -> None:
    recorder = Recorder(success([{"templateId": TEMPLATE_ID, "templateName": "Holiday"}]))
    async with mock_client(recorder) as gp:
        templates = await gp.gift_cards.list_templates()
    assert [t.template_id for t in templates] == [TEMPLATE_ID]
    sent = recorder.sent[0]
    assert sent.method == "GET"
    assert str(sent.url) == BASE_URL + "/v1/pay/gift/temp/list"
    assert sent.content == b""
    assert_signed(sent)


@pytest.mark.anyio
async def test_empty_body_signature_matches_the_documented_vector_shape() -> None:
    recorder = Recorder(success([]))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.list_templates()
    headers = recorder.sent[0].headers
    expected = sign(SECRET_KEY, headers["X-GatePay-Timestamp"], headers["X-GatePay-Nonce"], b"")
    assert headers["X-GatePay-Signature"] == expected


# ------------------------------------------------------------------------ headers


@pytest.mark.anyio
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_every_request_carries_the_signed_headers(operation: str) -> None:
    recorder = Recorder(answer_for(operation))
    async with mock_client(recorder) as gp:
        await call(gp, operation)
    assert recorder.count == 1
    sent = recorder.sent[0]
    assert_signed(sent)
    assert sent.headers["Content-Type"] == "application/json"
    assert "X-GatePay-On-Behalf-Of" not in sent.headers
    assert "X-GatePay-Certificate-SN" not in sent.headers


@pytest.mark.anyio
async def test_each_request_gets_a_fresh_nonce() -> None:
    recorder = Recorder(answer_for("list_templates"))
    async with mock_client(recorder) as gp:
        for _ in range(5):
            await gp.gift_cards.list_templates()
    nonces = {sent.headers["X-GatePay-Nonce"] for sent in recorder.sent}
    assert len(nonces) == 5


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("create", "/payment/open/institution/v1/pay/gift/create"),
        ("query_card_number", "/payment/open/institution/v1/pay/gift/query"),
        ("query_key", "/payment/open/institution/v1/pay/gift/query"),
        ("list_templates", "/payment/open/institution/v1/pay/gift/temp/list"),
        ("balance_card_number", "/payment/open/institution/v1/pay/balance"),
    ],
)
async def test_on_behalf_of_uses_institution_paths_and_header(operation: str, path: str) -> None:
    recorder = Recorder(answer_for(operation))
    async with mock_client(recorder, on_behalf_of="sub-1") as gp:
        await call(gp, operation)
    sent = recorder.sent[0]
    assert sent.path == path
    assert sent.url.host == "gatepay.test"
    assert sent.headers["X-GatePay-On-Behalf-Of"] == "sub-1"
    assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", POST_OPERATIONS)
async def test_api_key_is_sent_as_certificate_sn_on_post(operation: str) -> None:
    recorder = Recorder(answer_for(operation))
    async with mock_client(recorder, api_key="merchant-api-key-1") as gp:
        await call(gp, operation)
    sent = recorder.sent[0]
    assert sent.method == "POST"
    assert sent.headers["X-GatePay-Certificate-SN"] == "merchant-api-key-1"
    assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", GET_OPERATIONS)
async def test_api_key_is_never_sent_on_get(operation: str) -> None:
    recorder = Recorder(answer_for(operation))
    async with mock_client(recorder, api_key="merchant-api-key-1") as gp:
        await call(gp, operation)
    sent = recorder.sent[0]
    assert sent.method == "GET"
    assert "X-GatePay-Certificate-SN" not in sent.headers
    assert "merchant-api-key-1" not in str(sent.headers)
    assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["create", "query_key", "list_templates"])
async def test_each_retry_attempt_is_signed_afresh(
    operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_backoff(monkeypatch)
    # A create is only resent when the connection was never made; reads also after a 503.
    first: Any = httpx.ConnectError("refused") if operation == "create" else raw(503, "{}")
    recorder = Recorder(first, first, answer_for(operation))
    async with mock_client(recorder, max_retries=2) as gp:
        await call(gp, operation)
    assert recorder.count == 3
    for sent in recorder.sent:
        assert_signed(sent)
    assert len({sent.headers["X-GatePay-Nonce"] for sent in recorder.sent}) == 3
    assert len({sent.headers["X-GatePay-Signature"] for sent in recorder.sent}) == 3
    assert len({sent.content for sent in recorder.sent}) == 1  # the body itself is unchanged


# ------------------------------------------------------------------------ http_client


@pytest.mark.anyio
async def test_callers_http_client_keeps_its_headers_and_stays_open() -> None:
    recorder = Recorder(answer_for("list_templates"))
    http_client = httpx.AsyncClient(
        transport=httpx.MockTransport(recorder),
        headers={"X-Custom": "kept", "User-Agent": "caller-agent/1.0"},
    )
    gp = AsyncGatePay(
        client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, http_client=http_client
    )
    await gp.gift_cards.list_templates()
    await gp.aclose()
    sent = recorder.sent[0]
    assert sent.headers["X-Custom"] == "kept"
    assert sent.headers["User-Agent"] == "caller-agent/1.0"
    assert_signed(sent)
    assert not http_client.is_closed
    # Still usable by its owner after the GatePay client is closed.
    response = await http_client.get(BASE_URL + "/anything")
    assert response.status_code == 200
    await http_client.aclose()


@pytest.mark.anyio
async def test_callers_http_client_survives_the_context_manager() -> None:
    recorder = Recorder(answer_for("list_templates"))
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    async with AsyncGatePay(
        client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL, http_client=http_client
    ) as gp:
        await gp.gift_cards.list_templates()
    assert not http_client.is_closed
    await http_client.aclose()


@pytest.mark.anyio
async def test_own_http_client_is_closed_by_aclose() -> None:
    gp = AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL)
    assert not gp._http_client.is_closed
    await gp.aclose()
    assert gp._http_client.is_closed


@pytest.mark.anyio
async def test_own_http_client_is_closed_by_the_context_manager() -> None:
    async with AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=BASE_URL) as gp:
        assert not gp._http_client.is_closed
    assert gp._http_client.is_closed


# ------------------------------------------------------------------------ decoding end to end


@pytest.mark.anyio
async def test_json_number_amount_arrives_as_exact_decimal() -> None:
    recorder = Recorder(
        raw(
            200,
            '{"status":"SUCCESS","code":"000000","data":{"card_num":"C1",'
            '"amount":0.99,"status":3}}',
        )
    )
    async with mock_client(recorder) as gp:
        card = await gp.gift_cards.query(card_number="C1")
    assert isinstance(card.amount, Decimal)
    assert card.amount == Decimal("0.99")
    assert str(card.amount) == "0.99"
    assert card.status is GiftCardStatus.REDEEMED


@pytest.mark.anyio
async def test_data_as_a_string_holding_json_is_decoded() -> None:
    inner = '{"card_num": "' + CARD_NUMBER + '", "amount": 1.25, "status": "REDEEMED"}'
    recorder = Recorder(
        raw(200, json.dumps({"status": "SUCCESS", "code": "000000", "data": inner}))
    )
    async with mock_client(recorder) as gp:
        card = await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert card.card_number == CARD_NUMBER
    assert card.amount == Decimal("1.25")
    assert isinstance(card.amount, Decimal)


@pytest.mark.anyio
async def test_seed_001_bare_object_response_is_accepted() -> None:
    body = '{"cardNumber": "GC1234567890123456", "key": "KEY_abc123def456", "status": "CREATED"}'
    recorder = Recorder(raw(200, body))
    async with mock_client(recorder) as gp:
        card = await gp.gift_cards.create(
            title="Holiday Gift Card", template_id="template_001", currency="USD", amount="100"
        )
    assert card.card_number == "GC1234567890123456"
    assert card.key == "KEY_abc123def456"
    assert card.status is GiftCardStatus.CREATED
    assert recorder.sent[0].content == (
        b'{"title":"Holiday Gift Card","templateId":"template_001","currency":"USD","amount":"100"}'
    )
